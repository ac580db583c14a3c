"""Credentials lookup: --creds, auth.json locations and Docker's config.json."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from harness.transports.docker.credentials import (
    CredentialsError,
    auth_file_candidates,
    lookup_credentials,
    parse_creds,
)
from harness.transports.types import Credentials, SystemContext


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _write(path: Path, auths: dict[str, object]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": auths}))
    return path


def test_parse_creds_splits_at_the_first_colon() -> None:
    assert parse_creds("me:pa:ss") == Credentials("me", "pa:ss")
    assert parse_creds("me") == Credentials("me", "")
    with pytest.raises(CredentialsError, match="user name is empty"):
        parse_creds(":secret")


def test_creds_option_wins_over_files(tmp_path: Path) -> None:
    auth_file = _write(tmp_path / "auth.json", {"reg.test": {"auth": _auth("file", "f")}})
    ctx = SystemContext(credentials=Credentials("cli", "c"), auth_file=auth_file)
    assert lookup_credentials(ctx, "reg.test", "a/b", env={}) == Credentials("cli", "c")


def test_candidate_order(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": "/run/u"}
    assert auth_file_candidates(SystemContext(), env) == [
        Path("/run/u/containers/auth.json"), tmp_path / ".config/containers/auth.json",
        tmp_path / ".docker/config.json"]
    env["REGISTRY_AUTH_FILE"] = "/etc/a.json"
    assert auth_file_candidates(SystemContext(), env) == [Path("/etc/a.json")]
    explicit = SystemContext(auth_file=Path("/x.json"))
    assert auth_file_candidates(explicit, env) == [Path("/x.json")]


def test_registry_auth_file_and_most_specific_key(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.json", {
        "reg.test:5000": {"auth": _auth("host", "h")},
        "reg.test:5000/team": {"auth": _auth("team", "t")},
        "reg.test:5000/team/app": {"auth": _auth("app", "a")},
    })
    env = {"REGISTRY_AUTH_FILE": str(path), "HOME": str(tmp_path)}

    def look(repo: str) -> Credentials | None:
        return lookup_credentials(SystemContext(), "reg.test:5000", repo, env)

    assert look("team/app") == Credentials("app", "a")
    assert look("team/other") == Credentials("team", "t")
    assert look("solo") == Credentials("host", "h")
    assert lookup_credentials(SystemContext(), "other.test", "team/app", env) is None


def test_xdg_runtime_auth_before_docker_config(tmp_path: Path) -> None:
    _write(tmp_path / "run/containers/auth.json", {"reg.test": {"auth": _auth("podman", "p")}})
    _write(tmp_path / ".docker/config.json", {"reg.test": {"auth": _auth("docker", "d")}})
    env = {"HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(tmp_path / "run")}
    assert lookup_credentials(SystemContext(), "reg.test", "x", env) == Credentials("podman", "p")
    del env["XDG_RUNTIME_DIR"]
    assert lookup_credentials(SystemContext(), "reg.test", "x", env) == Credentials("docker", "d")


def test_docker_config_url_keys_and_identity_token(tmp_path: Path) -> None:
    _write(tmp_path / ".docker/config.json", {
        "https://index.docker.io/v1/": {"auth": _auth("hub", "h")},
        "https://reg.test:443/v1/": {"identitytoken": "refresh-me"},
    })
    env = {"HOME": str(tmp_path)}
    assert lookup_credentials(SystemContext(), "docker.io", "library/x", env) == \
        Credentials("hub", "h")
    assert lookup_credentials(SystemContext(), "reg.test:443", "x", env) == \
        Credentials("", "refresh-me")


@pytest.mark.parametrize(("content", "message"), [
    ('{"auths": {"reg.test": {"auth": "%%%"}}}', "not base64"),
    (json.dumps({"auths": {"reg.test": {"auth": base64.b64encode(b"nocolon").decode()}}}),
     "no ':' after the user"),
    ('{"auths": []}', '"auths" must be an object'),
    ("{not json", "cannot read the auth file"),
])
def test_broken_auth_files_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "auth.json"
    path.write_text(content)
    with pytest.raises(CredentialsError, match=message) as caught:
        lookup_credentials(SystemContext(auth_file=path), "reg.test", "x", env={})
    assert str(path) in str(caught.value)


def test_missing_files_mean_anonymous(tmp_path: Path) -> None:
    assert lookup_credentials(SystemContext(), "reg.test", "x", {"HOME": str(tmp_path)}) is None
