"""One value for "how to reach a registry", shared by the copy settings, the launched and
the user-named registries of the peers and the plugin."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.model.access import Credentials, RegistryAccess
from harness.peers.launchers import Access, RunningRegistry, URLLauncher
from harness.transports.types import SystemContext
from harness.util.errors import HarnessError


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    path = tmp_path / "ca.crt"
    path.write_text("a CA\n")
    return path


@pytest.mark.parametrize(("make", "rule"), [
    (lambda ca: RegistryAccess(Credentials("u", "p"), token="t"), "a token or a username"),
    (lambda ca: RegistryAccess(ca_file=ca, insecure=True), "a CA file or insecure"),
    (lambda ca: RegistryAccess(ca_file=ca.parent / "no.crt"), r"CA file .*no\.crt does not"),
    (lambda ca: RegistryAccess(url="ftp://r.example"), "is not http"),
    (lambda ca: RegistryAccess(url="https://u:p@r.example"), "holds a user or password"),
    (lambda ca: RegistryAccess(url="http://r.example", insecure=True), "is plain HTTP"),
])
def test_contradictions_are_one_error_when_made(make: Callable[[Path], object], rule: str,
                                                ca: Path) -> None:
    with pytest.raises(HarnessError, match=rule):
        make(ca)


def test_tls_settings_as_requests_and_containers_image_spell_them(ca: Path) -> None:
    assert RegistryAccess(url="https://r.example").verify is True
    assert RegistryAccess(url="https://r.example", ca_file=ca).verify == str(ca)
    assert RegistryAccess(url="https://r.example", insecure=True).verify is False
    assert RegistryAccess(url="https://r.example").tls_verify
    assert not RegistryAccess(url="http://r.example").tls_verify  # plain HTTP allowed
    assert not RegistryAccess(insecure=True).tls_verify
    assert RegistryAccess().tls_verify  # no URL: the image reference names the registry


def test_secrets_are_listed_and_never_shown() -> None:
    basic = RegistryAccess(Credentials("u", "pw-81x"))
    bearer = RegistryAccess(token="tok-77q")
    assert (basic.secrets, bearer.secrets) == (("pw-81x",), ("tok-77q",))
    assert "pw-81x" not in repr(basic) and "tok-77q" not in repr(bearer)


def test_a_copy_reaches_the_registry_the_value_describes(ca: Path) -> None:
    ctx = SystemContext.reaching(RegistryAccess(token="t", ca_file=ca, url="https://r:5000"),
                                 retry_times=0)
    assert (ctx.registry_token, ctx.credentials, ctx.ca_file, ctx.tls_verify,
            ctx.retry_times) == ("t", None, ca, True, 0)
    plain = SystemContext.reaching(RegistryAccess(Credentials("u", "p"), url="http://r:5000"))
    assert (plain.credentials, plain.tls_verify) == (Credentials("u", "p"), False)


def test_launched_and_named_registries_are_the_same_value(ca: Path) -> None:
    running = RunningRegistry(url="https://127.0.0.1:5000", host="127.0.0.1:5000", ca_file=ca)
    assert isinstance(running, RegistryAccess)
    assert Access is RegistryAccess
    named = URLLauncher("https://r.example:443/ignored/path",
                        Access(Credentials("u", "p"), ca_file=ca)).registry()
    assert (named.url, named.host, named.credentials, named.verify) == (
        "https://r.example:443", "r.example:443", Credentials("u", "p"), str(ca))
