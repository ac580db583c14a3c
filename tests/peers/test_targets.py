"""Registry targets named on a command line map to launchers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.peers.container import DistributionContainerLauncher
from harness.peers.launchers import Access, DistributionLauncher, URLLauncher
from harness.peers.targets import UnknownTargetError, launcher_for
from harness.transports.types import Credentials
from harness.util.errors import HarnessError


def test_each_target_names_its_launcher() -> None:
    assert launcher_for("distribution") == DistributionLauncher(schema1=True, delete=True)
    assert launcher_for("distribution-container") == DistributionContainerLauncher()
    assert launcher_for("url=http://127.0.0.1:5000") == URLLauncher("http://127.0.0.1:5000")


def test_an_unknown_target_says_what_is_expected() -> None:
    with pytest.raises(HarnessError, match=r"unknown registry target 'zot'; expected one of "
                                           r"distribution, distribution-container, url=URL"):
        launcher_for("zot")


def test_access_reaches_url_targets_only(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text("not checked here")
    access = Access(Credentials("u", "p"), ca_file=ca_file)
    assert launcher_for("url=https://r.example", access) == URLLauncher("https://r.example",
                                                                        access)
    assert launcher_for("distribution", access) == DistributionLauncher(schema1=True,
                                                                        delete=True)


@pytest.mark.parametrize(("make", "message"), [
    (lambda ca: Access(Credentials("u", "p"), token="t"),
     "give either a token or a username and password, not both"),
    (lambda ca: Access(ca_file=ca, insecure=True), "give either a CA file or insecure"),
    (lambda ca: Access(ca_file=ca.parent / "nope.crt"), r"CA file .*nope\.crt does not exist"),
    (lambda ca: URLLauncher("http://r.example", Access(ca_file=ca)),
     "a CA file or insecure applies to https:// registries; http://r.example is plain HTTP"),
    (lambda ca: URLLauncher("http://r.example", Access(insecure=True)), "is plain HTTP"),
    (lambda ca: URLLauncher("https://u:pw@r.example"),
     "registry URL holds a user or password; give them as a username and password"),
    (lambda ca: URLLauncher("https://:5000"), "is not http"),
], ids=["token-and-user", "ca-and-insecure", "missing-ca", "ca-on-http", "insecure-on-http",
        "userinfo", "no-host"])
def test_access_that_cannot_work_is_refused_when_made(
        make: Callable[[Path], object], message: str, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text("")
    with pytest.raises(HarnessError, match=message) as refused:
        make(ca_file)
    assert "pw" not in str(refused.value)


def test_an_unknown_target_is_its_own_error() -> None:
    with pytest.raises(UnknownTargetError):
        launcher_for("url")
