"""Registry targets named on a command line map to launchers."""

from __future__ import annotations

import pytest

from harness.peers.container import DistributionContainerLauncher
from harness.peers.launchers import DistributionLauncher, URLLauncher
from harness.peers.targets import launcher_for
from harness.util.errors import HarnessError


def test_each_target_names_its_launcher() -> None:
    assert launcher_for("distribution") == DistributionLauncher(schema1=True, delete=True)
    assert launcher_for("distribution-container") == DistributionContainerLauncher()
    assert launcher_for("url=http://127.0.0.1:5000") == URLLauncher("http://127.0.0.1:5000")


def test_an_unknown_target_says_what_is_expected() -> None:
    with pytest.raises(HarnessError, match=r"unknown registry target 'zot'; expected one of "
                                           r"distribution, distribution-container, url=URL"):
        launcher_for("zot")
