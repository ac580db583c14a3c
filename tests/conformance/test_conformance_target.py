"""The suite's target holds the project's one "how to reach a registry" value; the command
line, the environment, xdist workers, the client and the copies all go through it."""

from __future__ import annotations

import getpass
import io
import sys
from pathlib import Path

import pytest

import fakeregistry
from conformance import config
from conformance.client import Client, Target
from conformance.runner import main, parse_options
from harness.model.access import Credentials, RegistryAccess
from harness.peers.launchers import RunningRegistry
from harness.transports.types import SystemContext
from harness.util.errors import HarnessError


def _ca(tmp_path: Path) -> Path:
    ca = tmp_path / "ca.crt"
    ca.write_text("a CA\n")
    return ca


def test_flags_and_environment_make_one_access(tmp_path: Path) -> None:
    ca = _ca(tmp_path)
    basic = parse_options(["--registry", "https://r.example:5000/", "--username", "u",
                           "--password", "p", "--ca-file", str(ca)], {}).registry
    assert basic is not None
    assert basic.access == RegistryAccess(Credentials("u", "p"), ca_file=ca,
                                          url="https://r.example:5000")
    bearer = config.target_from({"OCI_ROOT_URL": "https://r.example", "CONFORMANCE_TOKEN": "t",
                                 "CONFORMANCE_INSECURE": "1"})
    assert bearer is not None
    assert (bearer.access.token, bearer.access.insecure, bearer.access.verify) == ("t", True,
                                                                                  False)
    # A CA file on the command line replaces the environment's "insecure".
    chosen = config.target_from({"OCI_ROOT_URL": "https://r.example",
                                 "CONFORMANCE_INSECURE": "1"}, ca_file=ca)
    assert chosen is not None and (chosen.access.ca_file, chosen.access.insecure) == (ca, False)
    plain = config.target_from({"OCI_ROOT_URL": "http://127.0.0.1:5000"}, insecure=True)
    assert plain is not None  # no TLS to skip on plain HTTP
    assert plain.access == RegistryAccess(url="http://127.0.0.1:5000")
    assert config.target_from({}) is None


def test_a_contradiction_is_one_usage_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="does not exist"):
        parse_options(["--registry", "https://r.example", "--ca-file",
                       str(tmp_path / "missing.crt")], {})
    with pytest.raises(HarnessError, match="needs the registry's URL"):
        Target(RegistryAccess())


def test_xdist_workers_receive_the_same_target(tmp_path: Path) -> None:
    ca = _ca(tmp_path)
    running = RunningRegistry(Credentials("u", "p"), ca_file=ca, url="https://127.0.0.1:5000",
                              host="127.0.0.1:5000", log_path=tmp_path / "log")
    settings = config.Settings(Target(running, "a/b", "c/d", "local", isolate=True))
    received = config.Settings.from_json(settings.to_json())
    assert received.target == Target(RegistryAccess(Credentials("u", "p"), ca_file=ca,
                                                    url="https://127.0.0.1:5000"),
                                     "a/b", "c/d", "local", isolate=True)
    bearer = RegistryAccess(token="t", insecure=True, cert_dir=tmp_path, url="https://r.example")
    assert RegistryAccess.from_plain(bearer.to_plain()) == bearer


def test_client_and_copies_use_the_targets_access(tmp_path: Path) -> None:
    ca = _ca(tmp_path)
    target = Target(RegistryAccess(Credentials("u", "p"), ca_file=ca, url="https://r.example"))
    client = Client(target)
    assert (client.session.verify, client.url("/v2/")) == (str(ca), "https://r.example/v2/")
    assert client.mask("user u sent p") == "user u sent <masked>"
    ctx = SystemContext.reaching(target.access)
    assert (ctx.credentials, ctx.ca_file, ctx.tls_verify) == (Credentials("u", "p"), ca, True)


def _terminal(monkeypatch: pytest.MonkeyPatch, typed: str | None) -> list[str]:
    """stdin as a terminal where *typed* is entered at the password prompt (None: stdin is
    no terminal); returns the prompts shown."""
    prompts: list[str] = []
    stdin = io.StringIO()
    stdin.isatty = lambda: typed is not None  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(getpass, "getpass", lambda prompt: prompts.append(prompt) or typed)
    return prompts


@pytest.mark.parametrize(("argv", "env", "message"), [
    (["--username", "u"], {}, "--username u: no password given (--password) and no terminal "
                              "to ask on"),
    ([], {"OCI_USERNAME": "ci", "OCI_PASSWORD": ""},
     "OCI_USERNAME=ci: no password given (OCI_PASSWORD) and no terminal to ask on"),
    ([], {"OCI_PASSWORD": "p"}, "OCI_PASSWORD: a password needs a user name (OCI_USERNAME)"),
    (["--username", "u", "--token", "t"], {},
     "--username, --token: give either a token or a username and password, not both"),
    ([], {"OCI_USERNAME": "u", "OCI_PASSWORD": "p", config.ENV_TOKEN: "t"},
     f"OCI_USERNAME, OCI_PASSWORD, {config.ENV_TOKEN}: give either a token or a username and "
     "password, not both"),
    (["--ca-file", "ca.crt", "--insecure"], {},
     "--ca-file, --insecure: give either a CA file or insecure, not both"),
    (["--registry", "http://127.0.0.1:5000", "--ca-file", "ca.crt"], {},
     "--ca-file: a CA file verifies https:// registries; http://127.0.0.1:5000 is plain HTTP"),
    ([], {"OCI_ROOT_URL": "ftp://r.example"},
     "OCI_ROOT_URL: registry URL 'ftp://r.example' is not http(s)://HOST[:PORT]"),
], ids=["user-alone", "user-variable-alone", "password-variable-alone", "token-and-user",
        "token-and-user-variables", "ca-and-insecure", "ca-on-http", "bad-url-variable"])
def test_unusable_access_is_one_line_naming_the_setting(
        argv: list[str], env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _terminal(monkeypatch, None)
    registry = [] if "--registry" in argv or "OCI_ROOT_URL" in env else \
        ["--registry", "https://r.example"]
    assert main([*registry, *argv], env=env) == 2
    assert capsys.readouterr().err == f"conformance: {message}\n"


def test_a_user_alone_is_asked_for_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts = _terminal(monkeypatch, "typed")
    options = parse_options(["--registry", "https://r.example", "--username", "u"], {})
    assert options.registry is not None
    assert options.registry.access.credentials == Credentials("u", "typed")
    from_env = parse_options(["--registry", "https://r.example"], {"OCI_USERNAME": "ci"})
    assert from_env.registry is not None
    assert from_env.registry.access.credentials == Credentials("ci", "typed")
    assert prompts == ["Password for u: ", "Password for ci: "]


def test_the_command_line_replaces_the_environments_choice(tmp_path: Path) -> None:
    env = {"OCI_USERNAME": "ci", "OCI_PASSWORD": "pw", config.ENV_CA_FILE: str(_ca(tmp_path))}
    chosen = parse_options(["--registry", "https://r.example", "--token", "t", "--insecure"],
                           env).registry
    assert chosen is not None
    assert chosen.access == RegistryAccess(token="t", insecure=True, url="https://r.example")


def test_insecure_for_a_plain_http_registry_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """CI passes --insecure whatever the scheme: plain HTTP has no certificate to skip."""
    with fakeregistry.serve(fakeregistry.Registry()) as server:
        assert server.url.startswith("http://")
        assert main(["--registry", server.url, "--insecure", "-k", "ping"], env={}) == 0
    assert "pull   1 pass" in capsys.readouterr().out
