"""Challenges, Basic and Bearer authentication, token reuse and insufficient_scope."""

from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.transports.docker.auth import Authenticator, AuthError, parse_challenge
from harness.transports.docker.client import RegistryClient
from harness.transports.docker.errors import RegistryError
from harness.transports.types import Credentials
from tests._support.dockerhelp import BASE, REPO

REALM = "https://auth.test/token"
BEARER = f'Bearer realm="{REALM}",service="registry.test"'


def test_parse_challenge_handles_quotes_commas_and_escapes() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://a.test/t?x=1,2",service=reg,scope="repository:a:pull,push",'
        'error="insufficient_scope", note="say \\"hi\\""')
    assert challenge is not None and challenge.is_bearer
    assert challenge.params == {"realm": "https://a.test/t?x=1,2", "service": "reg",
                                "scope": "repository:a:pull,push",
                                "error": "insufficient_scope", "note": 'say "hi"'}
    basic = parse_challenge('Basic realm="Registry Realm"')
    assert basic is not None and basic.scheme == "basic" and not basic.is_bearer
    assert parse_challenge("   ") is None


def _token_requests(mocked: responses.RequestsMock) -> list[requests.PreparedRequest]:
    return [call.request for call in mocked.calls
            if (call.request.url or "").startswith(REALM)]


def _scopes(request: requests.PreparedRequest) -> list[str]:
    return parse_qs(urlsplit(request.url or "").query).get("scope", [])


def test_bearer_token_fetched_once_with_push_scope_and_basic_creds(
        mocked: responses.RequestsMock, make_client: Callable[..., RegistryClient]) -> None:
    mocked.get(f"{BASE}/v2/", status=401, headers={"WWW-Authenticate": BEARER})
    mocked.get(REALM, json={"token": "tok-1", "expires_in": 300})
    blob = f"{BASE}/v2/{REPO}/blobs/sha256:{'a' * 64}"
    mocked.head(blob, status=200, headers={"Content-Length": "3"},
                match=[responses.matchers.header_matcher({"Authorization": "Bearer tok-1"})])
    client = make_client(credentials=Credentials("me", "pw"))
    for _ in range(3):
        client.request("HEAD", blob, ok=(200,)).close()
    tokens = _token_requests(mocked)
    assert len(tokens) == 1
    assert _scopes(tokens[0]) == [f"repository:{REPO}:pull,push"]
    assert parse_qs(urlsplit(tokens[0].url or "").query)["service"] == ["registry.test"]
    assert tokens[0].headers["Authorization"] == "Basic " + base64.b64encode(b"me:pw").decode()


def test_expired_token_is_fetched_again() -> None:
    now = [0.0]
    session = requests.Session()
    auth = Authenticator(session, None, clock=lambda: now[0])
    with responses.RequestsMock() as mocked:
        mocked.get(REALM, json={"access_token": "first", "expires_in": 60})
        mocked.get(REALM, json={"access_token": "second", "expires_in": 60})
        response = requests.Response()
        response.headers["WWW-Authenticate"] = BEARER
        auth.learn(response)
        assert auth.header(("repository:a:pull",)) == "Bearer first"
        now[0] = 30.0
        assert auth.header(("repository:a:pull",)) == "Bearer first"
        now[0] = 58.0  # inside the safety margin before expiry
        assert auth.header(("repository:a:pull",)) == "Bearer second"


def test_insufficient_scope_retries_once_with_the_asked_scope(
        mocked: responses.RequestsMock, make_client: Callable[..., RegistryClient]) -> None:
    mocked.get(f"{BASE}/v2/", status=401, headers={"WWW-Authenticate": BEARER})
    mocked.get(REALM, json={"token": "narrow"})
    mocked.get(REALM, json={"token": "wide"})
    url = f"{BASE}/v2/{REPO}/blobs/uploads/"
    asked = "repository:other/repo:pull"
    mocked.post(url, status=401, headers={
        "WWW-Authenticate": f'{BEARER},error="insufficient_scope",scope="{asked}"'},
        match=[responses.matchers.header_matcher({"Authorization": "Bearer narrow"})])
    mocked.post(url, status=202, headers={"Location": "/v2/up/1"},
                match=[responses.matchers.header_matcher({"Authorization": "Bearer wide"})])
    client = make_client()
    client.request("POST", url, ok=(202,)).close()
    second = _token_requests(mocked)[1]
    assert sorted(_scopes(second)) == sorted([f"repository:{REPO}:pull,push", asked])


def test_a_second_401_is_reported_with_its_code(
        mocked: responses.RequestsMock, make_client: Callable[..., RegistryClient]) -> None:
    mocked.get(f"{BASE}/v2/", status=401, headers={"WWW-Authenticate": BEARER})
    mocked.get(REALM, json={"token": "t"})
    url = f"{BASE}/v2/{REPO}/manifests/v1"
    mocked.get(url, status=401, headers={"WWW-Authenticate": BEARER},
               json={"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})
    with pytest.raises(RegistryError) as caught:
        make_client().request("GET", url, ok=(200,))
    assert (caught.value.code, caught.value.status) == ("UNAUTHORIZED", 401)
    assert len([c for c in mocked.calls if c.request.url == url]) == 2


def test_basic_challenge_sends_basic_credentials(
        mocked: responses.RequestsMock, make_client: Callable[..., RegistryClient]) -> None:
    mocked.get(f"{BASE}/v2/", status=401, headers={"WWW-Authenticate": 'Basic realm="r"'})
    url = f"{BASE}/v2/{REPO}/tags/list"
    expected = "Basic " + base64.b64encode(b"u:p").decode()
    mocked.get(url, json={"tags": []},
               match=[responses.matchers.header_matcher({"Authorization": expected})])
    make_client(credentials=Credentials("u", "p")).request("GET", url, ok=(200,)).close()


def test_identity_token_is_posted_as_refresh_token(
        mocked: responses.RequestsMock, make_client: Callable[..., RegistryClient]) -> None:
    mocked.get(f"{BASE}/v2/", status=401, headers={"WWW-Authenticate": BEARER})
    mocked.post(REALM, json={"access_token": "from-refresh"}, match=[
        responses.matchers.urlencoded_params_matcher({
            "grant_type": "refresh_token", "refresh_token": "idtok", "client_id": "oci-harness",
            "scope": f"repository:{REPO}:pull", "service": "registry.test"})])
    url = f"{BASE}/v2/{REPO}/manifests/v1"
    mocked.head(url, match=[responses.matchers.header_matcher(
        {"Authorization": "Bearer from-refresh"})])
    client = make_client(credentials=Credentials("", "idtok"), actions=("pull",))
    client.request("HEAD", url, ok=(200,)).close()


def test_registry_token_from_context_is_used_as_is(
        anonymous_ping: responses.RequestsMock,
        make_client: Callable[..., RegistryClient]) -> None:
    url = f"{BASE}/v2/{REPO}/manifests/v1"
    anonymous_ping.head(url, match=[responses.matchers.header_matcher(
        {"Authorization": "Bearer given"})])
    make_client(registry_token="given").request("HEAD", url, ok=(200,)).close()


def test_token_endpoint_refusal_is_a_registry_error(
        mocked: responses.RequestsMock, make_client: Callable[..., RegistryClient]) -> None:
    mocked.get(f"{BASE}/v2/", status=401, headers={"WWW-Authenticate": BEARER})
    mocked.get(REALM, status=401, json={"errors": [{"code": "UNAUTHORIZED", "message": "bad"}]})
    with pytest.raises(RegistryError, match="UNAUTHORIZED"):
        make_client(credentials=Credentials("u", "wrong")).request(
            "GET", f"{BASE}/v2/{REPO}/tags/list", ok=(200,))


def test_no_realm_is_reported(mocked: responses.RequestsMock,
                              make_client: Callable[..., RegistryClient]) -> None:
    mocked.get(f"{BASE}/v2/", status=401, headers={"WWW-Authenticate": "Bearer service=x"})
    with pytest.raises(Exception, match="named no realm"):
        make_client().request("GET", f"{BASE}/v2/{REPO}/tags/list", ok=(200,))


def test_unreachable_token_endpoint_is_one_line(
        mocked: responses.RequestsMock, make_client: Callable[..., RegistryClient]) -> None:
    mocked.get(f"{BASE}/v2/", status=401, headers={"WWW-Authenticate": BEARER})
    mocked.get(REALM, body=requests.ConnectionError("refused"))
    with pytest.raises(AuthError, match=r"token endpoint https://auth\.test/token unreachable"):
        make_client().request("GET", f"{BASE}/v2/{REPO}/tags/list", ok=(200,))


def test_auth_learned_from_a_later_401_when_the_ping_was_open(
        anonymous_ping: responses.RequestsMock,
        make_client: Callable[..., RegistryClient]) -> None:
    anonymous_ping.get(REALM, json={"token": "late"})
    url = f"{BASE}/v2/{REPO}/manifests/v1"
    anonymous_ping.get(url, status=401, headers={"WWW-Authenticate": BEARER})
    anonymous_ping.get(url, body=b"{}", match=[
        responses.matchers.header_matcher({"Authorization": "Bearer late"})])
    assert make_client().request("GET", url, ok=(200,)).content == b"{}"


def test_credentials_never_go_to_an_upload_location_on_another_host(
        mocked: responses.RequestsMock, make_client: Callable[..., RegistryClient]) -> None:
    mocked.get(f"{BASE}/v2/", status=401, headers={"WWW-Authenticate": 'Basic realm="r"'})
    storage = "https://uploads.storage.test/session/1"
    mocked.patch(storage, status=202)
    mocked.patch(f"{BASE}/v2/{REPO}/blobs/uploads/1", status=202)
    client = make_client(credentials=Credentials("u", "p"))
    client.request("PATCH", storage, ok=(202,), data=b"x").close()
    client.request("PATCH", f"{BASE}/v2/{REPO}/blobs/uploads/1", ok=(202,), data=b"x").close()
    to_storage, to_registry = mocked.calls[-2].request, mocked.calls[-1].request
    assert "Authorization" not in to_storage.headers
    assert to_registry.headers["Authorization"].startswith("Basic ")


_TOKEN_CHARS = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789_.-"), min_size=1,
                       max_size=12)


@settings(max_examples=60)
@given(scheme=st.sampled_from(["Bearer", "Basic"]),
       params=st.dictionaries(_TOKEN_CHARS, st.text(
           st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=30), max_size=5),
       quote_all=st.booleans())
def test_challenge_params_round_trip(scheme: str, params: dict[str, str],
                                     quote_all: bool) -> None:
    def render(value: str) -> str:
        if not quote_all and value and all(c.isalnum() or c in "_.-/:" for c in value):
            return value
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    header = f"{scheme} " + ", ".join(f"{key}={render(value)}" for key, value in params.items())
    challenge = parse_challenge(header)
    assert challenge is not None and challenge.scheme == scheme.lower()
    assert challenge.params == params
