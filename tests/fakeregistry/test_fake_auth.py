"""Auth: Basic with htpasswd bcrypt, Bearer tokens with scopes and expiry, anonymous pull."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import bcrypt
import pytest
import requests

from fakeregistry import AuthConfig, Registry, inprocess
from fakeregistry.auth import AuthConfigError, AuthMode
from fakeregistry.tokens import LEEWAY, TokenSigner
from harness.model.digest import Digest
from tests._support.fakeregistry_helpers import Client, error_code

USERS = {"alice": "secret", "reader": "readonly"}


def _registry(mode: AuthMode, anonymous_pull: bool = False,
              token_ttl: float = 300.0) -> Registry:
    auth = AuthConfig.with_passwords(mode, USERS, readonly=frozenset({"reader"}),
                                     anonymous_pull=anonymous_pull, token_ttl=token_ttl)
    return Registry(auth=auth)


@pytest.fixture
def basic() -> Iterator[str]:
    with inprocess(_registry("basic"), "http://basic.fake") as url:
        yield url


@pytest.fixture
def token_url() -> Iterator[str]:
    with inprocess(_registry("token", token_ttl=60.0), "http://token.fake") as url:
        yield url


def test_basic_challenge_and_access(basic: str) -> None:
    response = requests.get(f"{basic}/v2/")
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORIZED"
    assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert requests.get(f"{basic}/v2/", auth=("alice", "wrong")).status_code == 401
    session = requests.Session()
    session.auth = ("alice", "secret")
    Client(basic, session).push_blob("a", b"x")
    reader = requests.Session()
    reader.auth = ("reader", "readonly")
    digest = Digest.from_bytes(b"x")
    assert reader.get(f"{basic}/v2/a/blobs/{digest}").content == b"x"
    denied = reader.post(f"{basic}/v2/a/blobs/uploads/")
    assert denied.status_code == 403
    assert error_code(denied) == "DENIED"


def test_htpasswd_file(tmp_path: Path) -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$")
    path = tmp_path / "htpasswd"
    path.write_text(f"# users\nbob:{hashed}\n")
    with inprocess(Registry(auth=AuthConfig.from_htpasswd("basic", path))) as url:
        assert requests.get(f"{url}/v2/", auth=("bob", "pw")).status_code == 200
        assert requests.get(f"{url}/v2/", auth=("bob", "no")).status_code == 401
    path.write_text("bob:plaintext\n")
    with pytest.raises(AuthConfigError, match="htpasswd:1"):
        AuthConfig.from_htpasswd("basic", path)


def _token(url: str, scope: str, auth: tuple[str, str] | None = None) -> str:
    response = requests.get(f"{url}/token", params={"service": "fakeregistry", "scope": scope},
                            auth=auth)
    assert response.status_code == 200
    body = response.json()
    assert body["token"] == body["access_token"]
    token: str = body["token"]
    return token


def test_token_flow(token_url: str) -> None:
    challenge = requests.post(f"{token_url}/v2/a/blobs/uploads/")
    assert challenge.status_code == 401
    header = challenge.headers["WWW-Authenticate"]
    # A write needs pull and push, as distribution's app asks of its access controller.
    assert header == (f'Bearer realm="{token_url}/token",service="fakeregistry",'
                      'scope="repository:a:pull,push"')
    token = _token(token_url, "repository:a:pull,push", ("alice", "secret"))
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.post(f"{token_url}/v2/a/blobs/uploads/", headers=bearer).status_code == 202
    _assert_insufficient_scope(requests.post(f"{token_url}/v2/b/blobs/uploads/",
                                             headers=bearer), token_url, "b", "pull,push")
    _assert_insufficient_scope(requests.delete(f"{token_url}/v2/a/manifests/v1",
                                               headers=bearer), token_url, "a", "delete")


def _assert_insufficient_scope(response: requests.Response, url: str, name: str,
                               actions: str) -> None:
    """distribution 2.8.2's answer to a valid token without the scope a request needs
    (registry/auth/token/accesscontroller.go, registry/handlers/app.go): 401, the
    challenge naming the scope with error="insufficient_scope", and the accesses needed
    as the error's detail; clients (oras-py) fetch a wider token from it."""
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="{url}/token",service="fakeregistry",'
        f'scope="repository:{name}:{actions}",error="insufficient_scope"')
    assert response.json() == {"errors": [{
        "code": "UNAUTHORIZED", "message": "authentication required",
        "detail": [{"Type": "repository", "Class": "", "Name": name, "Action": action}
                   for action in actions.split(",")]}]}


def test_reader_token_lacks_push(token_url: str) -> None:
    token = _token(token_url, "repository:a:pull,push", ("reader", "readonly"))
    response = requests.post(f"{token_url}/v2/a/blobs/uploads/",
                             headers={"Authorization": f"Bearer {token}"})
    _assert_insufficient_scope(response, token_url, "a", "pull,push")


def test_bad_credentials_at_the_token_endpoint(token_url: str) -> None:
    """A 401 always says how to authenticate (RFC 9110 15.5.2); it had no challenge."""
    response = requests.get(f"{token_url}/token", params={"scope": "repository:a:pull"},
                            auth=("alice", "nope"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="fakeregistry"'


@pytest.mark.parametrize("user", ["alice", "mallory"])
def test_every_password_check_runs_bcrypt_whoever_the_user(
        user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown user is checked against a dummy hash of the same cost, so the answer
    takes as long as for a known user with a wrong password (it was 0.72 ms vs 2.59 ms)."""
    auth = AuthConfig.with_passwords("basic", USERS)
    calls = _recorded(monkeypatch, "checkpw")
    with inprocess(Registry(auth=auth), "http://timing.fake") as url:
        assert requests.get(f"{url}/v2/", auth=(user, "wrong")).status_code == 401
    checked = [hashed for _, hashed in calls]
    assert len(checked) == 1
    if user in auth.users:
        assert checked == [auth.users[user].encode()]
    else:
        assert checked[0].decode() not in auth.users.values()
    # The same cost ($2b$04$...) as the users' hashes, so the same time.
    assert checked[0].split(b"$")[2] == auth.users["alice"].encode().split(b"$")[2]


@pytest.mark.parametrize("token", ["garbage", "a.b", ""])
def test_forged_tokens_are_unauthorized(token_url: str, token: str) -> None:
    response = requests.get(f"{token_url}/v2/a/tags/list",
                            headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_tampered_token_is_unauthorized(token_url: str) -> None:
    """A well-formed payload that widens the grant, under the original signature."""
    token = _token(token_url, "repository:a:pull", ("reader", "readonly"))
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["access"] = [{"type": "repository", "name": "a", "actions": ["pull", "push"]}]
    widened = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    other_signature = ("B" if signature[0] == "A" else "A") + signature[1:]
    stranger = TokenSigner.generate().sign(claims)  # a key no one trusts
    for forged in (f"{header}.{widened}.{signature}", f"{header}.{payload}.{other_signature}",
                   stranger):
        response = requests.post(f"{token_url}/v2/a/blobs/uploads/",
                                 headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401
        assert error_code(response) == "UNAUTHORIZED"


@pytest.mark.parametrize(("nbf", "exp", "usable"), [
    (-3600, -LEEWAY - 1, False), (-3600, -LEEWAY + 5, True),  # distribution's 60 s leeway
    (LEEWAY + 5, 3600, False), (LEEWAY - 5, 3600, True)])
def test_a_token_is_usable_from_nbf_to_exp_give_or_take_the_leeway(
        nbf: int, exp: int, usable: bool) -> None:
    signer = TokenSigner.generate()
    auth = replace(AuthConfig.with_passwords("token", USERS), signer=signer)
    now = int(time.time())
    token = signer.sign({"iss": signer.issuer, "aud": "fakeregistry", "nbf": now + nbf,
                         "exp": now + exp, "access": []})
    with inprocess(Registry(auth=auth), "http://expired.fake") as url:
        response = requests.get(f"{url}/v2/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == (200 if usable else 401)
    assert ('error="invalid_token"' in response.headers.get("WWW-Authenticate", "")) != usable


def test_a_token_for_another_issuer_or_audience_is_invalid() -> None:
    signer = TokenSigner.generate("issuer-a")
    auth = replace(AuthConfig.with_passwords("token", USERS), signer=signer)
    now = int(time.time())
    with inprocess(Registry(auth=auth), "http://audience.fake") as url:
        for issuer, audience, status in [("issuer-a", "fakeregistry", 200),
                                         ("issuer-b", "fakeregistry", 401),
                                         ("issuer-a", "elsewhere", 401)]:
            token = signer.sign({"iss": issuer, "aud": audience, "nbf": now,
                                 "exp": now + 60, "access": []})
            response = requests.get(f"{url}/v2/", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == status


def test_anonymous_pull() -> None:
    with inprocess(_registry("token", anonymous_pull=True), "http://anon.fake") as url:
        token = _token(url, "repository:a:pull,push")
        bearer = {"Authorization": f"Bearer {token}"}
        assert requests.get(f"{url}/v2/a/tags/list", headers=bearer).status_code == 404
        _assert_insufficient_scope(requests.post(f"{url}/v2/a/blobs/uploads/", headers=bearer),
                                   url, "a", "pull,push")
    with inprocess(_registry("basic", anonymous_pull=True), "http://anon.fake") as url:
        assert requests.get(f"{url}/v2/a/tags/list").status_code == 404  # reached the repo
        assert requests.post(f"{url}/v2/a/blobs/uploads/").status_code == 401


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(AuthConfigError, match="unknown auth mode"):
        AuthConfig(mode="digest")  # type: ignore[arg-type]


def test_mount_needs_pull_on_the_source(token_url: str) -> None:
    """As distribution's app asks: a request naming ``from`` also needs pull there, so a
    token without it gets the challenge for both repositories."""
    digest = Digest.from_bytes(b"x")
    source = _token(token_url, "repository:a:pull,push", ("alice", "secret"))
    Client(token_url, _bearer_session(source)).push_blob("a", b"x")
    mount = {"mount": str(digest), "from": "a"}
    target_only = _bearer_session(_token(token_url, "repository:b:pull,push",
                                         ("alice", "secret")))
    refused = target_only.post(f"{token_url}/v2/b/blobs/uploads/", params=mount)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == (
        f'Bearer realm="{token_url}/token",service="fakeregistry",'
        'scope="repository:b:pull,push repository:a:pull",error="insufficient_scope"')
    assert refused.json()["errors"][0]["detail"] == [
        {"Type": "repository", "Class": "", "Name": name, "Action": action}
        for name, action in [("b", "pull"), ("b", "push"), ("a", "pull")]]
    both = requests.get(f"{token_url}/token", auth=("alice", "secret"), params={
        "scope": ["repository:b:pull,push", "repository:a:pull"]}).json()["token"]
    mounted = _bearer_session(both).post(f"{token_url}/v2/b/blobs/uploads/", params=mount)
    assert mounted.status_code == 201


def _bearer_session(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


@pytest.mark.parametrize("name", ["a%0Db", "A"])
def test_an_invalid_name_is_refused_before_the_challenge(token_url: str, name: str) -> None:
    """The name is never echoed into a challenge header (a CR there was a crash)."""
    response = requests.get(f"{token_url}/v2/{name}/manifests/v1")
    assert response.status_code == 400
    assert error_code(response) == "NAME_INVALID"


@pytest.mark.parametrize(("path", "status"), [
    ("a/referrers/sha256:" + "0" * 64, 404), ("a/manifests/-bad", 404),
    ("a/manifests/sha256:abc", 401), ("a/blobs/sha256:zz", 401), ("a/blobs/sha256:", 404)])
def test_distribution_28_answers_a_path_its_router_has_no_route_for_before_auth(
        path: str, status: int) -> None:
    """docker-registry 2.8.2 has no referrers route, and its manifest and blob routes
    take a tag or go-digest's loose digest pattern only: anything else is the router's
    plain 404, which no challenge precedes."""
    auth = AuthConfig.with_passwords("token", USERS)
    with inprocess(Registry("distribution-2.8", auth=auth), "http://routes.fake") as url:
        response = requests.get(f"{url}/v2/{path}")
    assert response.status_code == status
    assert ("WWW-Authenticate" in response.headers) == (status == 401)


def test_challenges_name_the_configured_realm_and_trust_its_signer() -> None:
    """A fake behind another token server: its challenges send clients there, and the
    tokens that server signs are taken (a fake with a key of its own refuses them)."""
    server = AuthConfig.with_passwords("token", USERS)
    shared = replace(server, signer=TokenSigner.generate())
    with inprocess(Registry(auth=shared), "http://tokens.fake") as tokens:
        token = _token(tokens, "repository:a:pull", ("alice", "secret"))
    bearer = {"Authorization": f"Bearer {token}"}
    behind = replace(shared, realm="http://tokens.fake/token")
    with inprocess(Registry(auth=behind), "http://behind.fake") as url:
        challenge = requests.get(f"{url}/v2/a/tags/list").headers["WWW-Authenticate"]
        assert challenge.startswith('Bearer realm="http://tokens.fake/token",')
        assert requests.get(f"{url}/v2/a/tags/list", headers=bearer).status_code == 404
    with inprocess(Registry(auth=server), "http://own-key.fake") as url:
        refused = requests.get(f"{url}/v2/a/tags/list", headers=bearer)
        assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


def test_a_registry_without_auth_hashes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The dummy hash (what an unknown name is checked against) is made with a registry
    that checks passwords, up front, and never for one that does not: the pytest plugin
    makes a fake for every test, and bcrypt took ~1 ms of each."""
    hashed = _recorded(monkeypatch, "hashpw")
    Registry()
    Registry(auth=AuthConfig(mode="none", users={"alice": "$2b$04$x"}))
    assert hashed == []
    users = {"alice": bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode()}
    hashed.clear()
    with inprocess(Registry(auth=AuthConfig(mode="basic", users=users)),
                   "http://dummy.fake") as url:
        assert len(hashed) == 1  # the dummy, at the users' cost
        assert requests.get(f"{url}/v2/", auth=("bob", "secret")).status_code == 401
        assert requests.get(f"{url}/v2/", auth=("alice", "secret")).status_code == 200
    assert len(hashed) == 1


def _recorded(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[bytes, bytes]]:
    """The calls of bcrypt's *name* (``hashpw``, ``checkpw``) from now on, as they pass."""
    calls: list[tuple[bytes, bytes]] = []
    real = getattr(bcrypt, name)

    def record(first: bytes, second: bytes) -> object:
        calls.append((first, second))
        return real(first, second)

    monkeypatch.setattr(bcrypt, name, record)
    return calls
