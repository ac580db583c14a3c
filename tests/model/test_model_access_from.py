"""Flags and variables into one RegistryAccess (``access_from``): the one rule set that
``python -m conformance`` and the pytest plugin's ``--registry-*`` options both follow
(tests/conformance/test_conformance_target.py and tests/plugin/test_plugin.py run each
rule through those two callers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.model.access import OCI_VARIABLES, Credentials, RegistryAccess, access_from
from harness.util.errors import HarnessError

HTTPS, HTTP = "https://r.example:5000", "http://127.0.0.1:5000"
# As python -m conformance names its settings: these flags, and variables beyond OCI_*.
VARIABLES = {**OCI_VARIABLES, "token": "X_TOKEN", "ca-file": "X_CA", "insecure": "X_INSECURE"}


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    path = tmp_path / "ca.crt"
    path.write_text("a CA\n")
    return path


def _access(url: str = HTTPS, env: dict[str, str] | None = None, **given: Any
            ) -> RegistryAccess:
    return access_from(url, env=env or {}, variables=VARIABLES, url_name="--registry", **given)


def _refused(message: str, url: str = HTTPS, env: dict[str, str] | None = None,
             **given: Any) -> None:
    with pytest.raises(HarnessError) as raised:
        _access(url, env, **given)
    assert str(raised.value) == message


def test_the_environment_fills_what_the_command_line_leaves_out(ca: Path) -> None:
    env = {"OCI_USERNAME": "ci", "OCI_PASSWORD": "pw", "X_CA": str(ca)}
    assert _access(env=env) == RegistryAccess(Credentials("ci", "pw"), ca_file=ca, url=HTTPS)
    assert _access(env={"X_TOKEN": "t", "X_INSECURE": "yes"}) == RegistryAccess(
        token="t", insecure=True, url=HTTPS)
    assert _access(env={"X_INSECURE": "0"}) == RegistryAccess(url=HTTPS)
    # The plugin reads only the OCI suite's variables.
    assert access_from(HTTPS, env={"X_TOKEN": "t", **env}, url_name="u") == RegistryAccess(
        Credentials("ci", "pw"), url=HTTPS)


def test_each_choice_comes_whole_from_one_place(ca: Path) -> None:
    """Authentication and trust: the command line's when any of their flags is given, the
    environment's otherwise; never a user from one and a password from the other."""
    env = {"OCI_USERNAME": "ci", "OCI_PASSWORD": "pw", "X_TOKEN": "t", "X_CA": str(ca)}
    assert _access(env=env, token="mine", insecure=True) == RegistryAccess(
        token="mine", insecure=True, url=HTTPS)
    assert _access(env={"X_TOKEN": "t"}, username="u", password="p").credentials == \
        Credentials("u", "p")
    _refused("--username bob: no password given (--password)", env={"OCI_PASSWORD": "pw"},
             username="bob")


def test_a_user_without_a_password_is_asked_for_else_refused() -> None:
    asked: list[str] = []

    def terminal(user: str) -> str:
        asked.append(user)
        return "typed"

    assert _access(username="u", ask_password=terminal).credentials == Credentials("u", "typed")
    assert _access(env={"OCI_USERNAME": "ci"}, ask_password=terminal).credentials == \
        Credentials("ci", "typed")
    assert asked == ["u", "ci"]
    _refused("--username u: no password given (--password) and no terminal to ask on",
             username="u", ask_password=lambda user: None)
    # Empty is unset, as CI writes a secret it does not have; nowhere to ask (the plugin).
    _refused("OCI_USERNAME=ci: no password given (OCI_PASSWORD)",
             env={"OCI_USERNAME": "ci", "OCI_PASSWORD": ""})
    # An empty password given on the command line is one (skopeo's --creds USER:).
    assert _access(username="u", password="", ask_password=terminal).credentials == \
        Credentials("u", "")
    assert asked == ["u", "ci"]


@pytest.mark.parametrize(("env", "given", "message"), [
    ({}, {"password": "p"}, "--password: a password needs a user name (--username)"),
    ({"OCI_PASSWORD": "p"}, {}, "OCI_PASSWORD: a password needs a user name (OCI_USERNAME)"),
    ({}, {"username": "u", "password": "p", "token": "t"},
     "--username, --password, --token: give either a token or a username and password, "
     "not both"),
    ({"OCI_USERNAME": "u", "X_TOKEN": "t"}, {},
     "OCI_USERNAME, X_TOKEN: give either a token or a username and password, not both"),
    ({"X_CA": "ca.crt", "X_INSECURE": "1"}, {},
     "X_CA, X_INSECURE: give either a CA file or insecure, not both"),
    ({}, {"ca_file": Path("missing.crt")}, "--ca-file: CA file missing.crt does not exist"),
], ids=["password-alone", "password-variable-alone", "token-and-user", "token-and-user-vars",
        "ca-and-insecure-vars", "missing-ca"])
def test_each_refusal_is_one_line_naming_the_settings(env: dict[str, str],
                                                      given: dict[str, Any],
                                                      message: str) -> None:
    _refused(message, env=env, **given)


def test_plain_http_takes_insecure_as_given_and_refuses_a_ca(ca: Path) -> None:
    """CI passes --insecure whatever the scheme: plain HTTP has no certificate to skip. A CA
    file asks for a verification plain HTTP cannot give."""
    assert _access(HTTP, insecure=True) == RegistryAccess(url=HTTP)
    assert _access(HTTP, env={"X_INSECURE": "1"}) == RegistryAccess(url=HTTP)
    assert not _access(HTTP, insecure=True).tls_verify
    _refused(f"--ca-file: a CA file verifies https:// registries; {HTTP} is plain HTTP",
             HTTP, ca_file=ca)
    _refused(f"X_CA: a CA file verifies https:// registries; {HTTP} is plain HTTP",
             HTTP, env={"X_CA": str(ca)})


def test_the_url_is_named_by_where_it_came_from() -> None:
    assert _access(HTTPS + "/").url == HTTPS
    _refused("--registry: registry URL 'ftp://r.example' is not http(s)://HOST[:PORT]",
             "ftp://r.example")
