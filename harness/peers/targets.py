"""Name a real registry on a command line: ``distribution``, ``distribution-container``,
``url=https://host:port``. One parser for every ``--target`` option in the project."""

from __future__ import annotations

from harness.peers.container import DistributionContainerLauncher
from harness.peers.launchers import DistributionLauncher, Launcher, URLLauncher
from harness.util.errors import HarnessError

TARGETS = ("distribution", "distribution-container", "url=URL")


def launcher_for(spec: str) -> Launcher:
    """The launcher *spec* names; distribution targets get schema1 and delete enabled."""
    if spec == "distribution":
        return DistributionLauncher(schema1=True, delete=True)
    if spec == "distribution-container":
        return DistributionContainerLauncher(schema1=True, delete=True)
    if spec.startswith("url="):
        return URLLauncher(spec.removeprefix("url="))
    raise HarnessError(f"unknown registry target {spec!r}; expected one of {', '.join(TARGETS)}")
