"""Authentication: the challenge, what an anonymous client and a narrowly scoped token may do.

The OCI spec leaves authentication out of scope; these rules are those of Docker's token
authentication, which registries and clients (containers/image, docker) implement. A registry
that asks for no credentials makes every check here unsupported; one with Basic auth has no
per-repository scopes, so the token checks are unsupported there.
"""

from __future__ import annotations

import requests

from conformance import content
from conformance.client import Client, Target
from conformance.expect import describe, expect_header, expect_status, missed_should, unsupported
from conformance.repo import Repo
from conformance.rules import TOKEN_AUTH, must, should
from harness.transports.docker.auth import parse_challenge, repository_scope

_CHALLENGE = "Requesting a token (the challenge)"
_SCOPE = "Token scope and access"


def _require_auth(client: Client, path: str) -> requests.Response:
    """*path* read without credentials; unsupported when that needs none."""
    response = client.send_as("GET", path, None)
    if response.status_code != 401:
        unsupported(f"{describe(response)} without credentials: the registry asks for none")
    return response


def _token_for(client: Client, target: Target, *scopes: str) -> str:
    """An Authorization granting exactly *scopes*; unsupported where scopes cannot be asked."""
    if target.access.token:
        unsupported("a fixed --token was given: the suite cannot ask for narrower scopes")
    authorization = client.authorization_for(scopes)
    if authorization is None:
        challenge = client.challenge
        unsupported(f"a {challenge.scheme} challenge: no per-repository token scopes to check"
                    if challenge else "the registry asks for no credentials (no challenge)")
    return authorization


@must(_CHALLENGE, "A registry that requires authorization answers 401 Unauthorized with a "
      "WWW-Authenticate challenge: Basic realm=\"...\", or Bearer realm=\"<token endpoint>\","
      "service=\"...\" telling the client where to get a token.", TOKEN_AUTH)
def test_auth_challenge(client: Client, repo: Repo) -> None:
    """Without credentials a read answers 401 with a Basic or Bearer (realm) challenge."""
    response = _require_auth(client, repo.path("tags", "list"))
    header = response.headers.get("WWW-Authenticate", "")
    challenge = parse_challenge(header) if header else None
    assert challenge is not None, f"{describe(response)}: 401 without WWW-Authenticate"
    assert challenge.scheme in {"basic", "bearer"}, (
        f"{describe(response)}: challenge scheme {challenge.scheme!r}, not Basic or Bearer")
    if challenge.is_bearer:
        realm = challenge.params.get("realm", "")
        assert realm.startswith(("http://", "https://")), (
            f"{describe(response)}: Bearer challenge without a realm URL: {challenge.params}")
        if "service" not in challenge.params:
            missed_should(f"{describe(response)}: Bearer challenge names no service")


@must(_CHALLENGE, "Without credentials a client cannot write: starting an upload answers 401 "
      "Unauthorized with a challenge.", TOKEN_AUTH)
def test_auth_anonymous_cannot_push(client: Client, repo: Repo) -> None:
    """Where /v2/ needs credentials, an anonymous upload start answers 401 with a challenge."""
    _require_auth(client, "/v2/")
    response = client.send_as("POST", repo.path("blobs", "uploads", ""), None)
    expect_status(response, 401)
    expect_header(response, "WWW-Authenticate")


_PULL_ONLY = ("A token grants the actions of its access claims only: one granted pull on a "
              "repository cannot push to it.")


@must(_SCOPE, _PULL_ONLY, TOKEN_AUTH)
def test_token_pull_only_cannot_push(client: Client, repo: Repo, target: Target) -> None:
    """A token granted only pull on a repository cannot start an upload there (401/403)."""
    token = _token_for(client, target, repository_scope(repo.name, ("pull",)))
    expect_status(client.send_as("POST", repo.path("blobs", "uploads", ""), token), 401, 403)


@should(_SCOPE, "A request whose token lacks a needed scope is answered 401 with a Bearer "
        "challenge carrying error=\"insufficient_scope\" and the scope needed, so the client "
        "can ask for it (distribution, Docker Hub; 403 leaves the client stuck).", TOKEN_AUTH)
def test_token_insufficient_scope_challenge(client: Client, repo: Repo,
                                            target: Target) -> None:
    """A pull-only token pushing gets 401 with error="insufficient_scope" and the push scope."""
    token = _token_for(client, target, repository_scope(repo.name, ("pull",)))
    response = client.send_as("POST", repo.path("blobs", "uploads", ""), token)
    expect_status(response, 401)
    challenge = parse_challenge(expect_header(response, "WWW-Authenticate"))
    assert challenge is not None and challenge.params.get("error") == "insufficient_scope", (
        f"{describe(response)}: challenge {response.headers['WWW-Authenticate']!r} has no "
        "error=\"insufficient_scope\"")
    scope = challenge.params.get("scope", "")
    assert repo.name in scope and "push" in scope, (
        f"{describe(response)}: the challenge asks for scope {scope!r}, not push on {repo.name}")


@must(_SCOPE, "A token's access claims name the repositories it grants: a token for one "
      "repository opens no other.", TOKEN_AUTH)
def test_token_one_repository_only(client: Client, repo: Repo, other_repo: Repo,
                                   target: Target) -> None:
    """A token for one repository cannot read a blob of another (401/403)."""
    blob = content.random_blob()
    other_repo.push_blob(blob)
    token = _token_for(client, target, repository_scope(repo.name, ("pull", "push")))
    expect_status(client.send_as("GET", other_repo.path("blobs", blob.digest), token), 401, 403)


@must(_SCOPE, "A cross-repository mount needs pull on the source (containers/image asks for "
      "it): without it the blob is not mounted (202, a session, or 401/403), never 201.",
      TOKEN_AUTH)
def test_mount_from_unreadable_not_mounted(client: Client, repo: Repo, other_repo: Repo,
                                           target: Target) -> None:
    """A mount from a repository the token cannot read does not mount the blob."""
    blob = content.random_blob()
    other_repo.push_blob(blob)
    token = _token_for(client, target, repository_scope(repo.name, ("pull", "push")))
    response = client.send_as("POST", repo.path("blobs", "uploads", ""), token,
                              params={"mount": str(blob.digest), "from": other_repo.name})
    assert response.status_code != 201, (
        f"{describe(response)}: mounted a blob of {other_repo.name}, which the token cannot read")
