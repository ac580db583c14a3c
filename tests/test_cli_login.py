"""``login``/``logout`` write the auth file byte for byte as skopeo does, and the other
commands read it (the real skopeo is the reference where it is installed)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakeregistry.auth import AuthConfig
from fakeregistry.registry import Registry
from fakeregistry.server import Server, serve
from harness.cli.main import main
from harness.peers.detect import require_peer


@pytest.fixture
def server() -> Iterator[Server]:
    registry = Registry(auth=AuthConfig.with_passwords("basic", {"alice": "s3cret"}))
    with serve(registry) as running:
        yield running


def _skopeo(*argv: str) -> subprocess.CompletedProcess[str]:
    require_peer("skopeo")
    return subprocess.run(["skopeo", *argv], capture_output=True, text=True, check=False,
                          timeout=120)


@pytest.mark.requires_peer("skopeo")
def test_login_writes_what_skopeo_writes(server: Server, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    ours, theirs = tmp_path / "ours" / "auth.json", tmp_path / "theirs" / "auth.json"
    for path in (ours, theirs):  # an existing entry is kept, another key is dropped
        path.parent.mkdir()
        path.write_text('{"auths": {"other.test": {"auth": "dTpw"}}, "x": 1}')
    assert main(["login", "--tls-verify=false", "--authfile", str(ours), "-u", "alice",
                 "-p", "s3cret", server.host]) == 0
    assert capsys.readouterr().out == "Login Succeeded!\n"
    done = _skopeo("login", "--tls-verify=false", "--authfile", str(theirs), "-u", "alice",
                   "-p", "s3cret", server.host)
    assert done.returncode == 0, done.stderr
    assert ours.read_bytes() == theirs.read_bytes()
    assert oct(ours.stat().st_mode & 0o777) == oct(theirs.stat().st_mode & 0o777)
    # Each reads the other's record.
    assert main(["login", "--get-login", "--authfile", str(theirs), server.host]) == 0
    assert capsys.readouterr().out == "alice\n"
    got = _skopeo("login", "--get-login", "--authfile", str(ours), server.host)
    assert got.stdout == "alice\n"


@pytest.mark.requires_peer("skopeo")
def test_logout_writes_what_skopeo_writes(server: Server, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    ours, theirs = tmp_path / "ours.json", tmp_path / "theirs.json"
    content = json.dumps({"auths": {"a.test": {"auth": "dTpw"},
                                    server.host: {"auth": "YWxpY2U6czNjcmV0"}}})
    ours.write_text(content)
    theirs.write_text(content)
    assert main(["logout", "--authfile", str(ours), server.host]) == 0
    assert capsys.readouterr().out == f"Removed login credentials for {server.host}\n"
    assert _skopeo("logout", "--authfile", str(theirs), server.host).returncode == 0
    assert ours.read_bytes() == theirs.read_bytes()
    assert main(["logout", "--authfile", str(ours), server.host]) == 125
    assert capsys.readouterr().err == f"Error: not logged into {server.host}\n"
    assert main(["logout", "--all", "--authfile", str(ours)]) == 0
    assert _skopeo("logout", "--all", "--authfile", str(theirs)).returncode == 0
    assert ours.read_bytes() == theirs.read_bytes()


def test_a_wrong_password_is_not_recorded(server: Server, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "auth.json"
    assert main(["login", "--tls-verify=false", "--authfile", str(path), "-u", "alice",
                 "-p", "wrong", server.host]) == 125
    assert capsys.readouterr().err == (f"Error: authenticating creds for {server.host}: the "
                                       "registry refused the user name or password (HTTP 401)\n")
    assert not path.exists()


def test_other_commands_use_the_login(server: Server, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """REGISTRY_AUTH_FILE is where login writes and where inspect then reads."""
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth.json"))
    image = f"docker://{server.host}/app:v1"
    assert main(["inspect", "--tls-verify=false", image]) == 125
    assert "the registry answered 401" in capsys.readouterr().err
    assert main(["login", "--tls-verify=false", "-u", "alice", "-p", "s3cret",
                 server.host]) == 0
    assert main(["inspect", "--tls-verify=false", image]) == 125
    assert "HTTP 404" in capsys.readouterr().err  # authorised now; the image is not there
    assert main(["inspect", "--tls-verify=false", "--no-creds", image]) == 125
    assert "the registry answered 401" in capsys.readouterr().err
