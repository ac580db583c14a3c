"""Name a real registry on a command line: ``distribution``, ``distribution-container``,
``url=https://host:port``. One parser for every ``--target`` option in the project."""

from __future__ import annotations

from harness.peers.container import DistributionContainerLauncher
from harness.peers.launchers import Access, DistributionLauncher, Launcher, URLLauncher
from harness.util.errors import HarnessError

TARGETS = ("distribution", "distribution-container", "url=URL")


class UnknownTargetError(HarnessError):
    """*spec* names no target at all (rather than a url= target that cannot be used)."""


def launcher_for(spec: str, access: Access | None = None) -> Launcher:
    """The launcher *spec* names; distribution targets get schema1 and delete enabled.

    *access* (credentials, CA) is how to reach a ``url=`` registry; the distribution
    targets start their own registry, with their own, and ignore it.
    """
    if spec == "distribution":
        return DistributionLauncher(schema1=True, delete=True)
    if spec == "distribution-container":
        return DistributionContainerLauncher(schema1=True, delete=True)
    if spec.startswith("url="):
        return URLLauncher(spec.removeprefix("url="), access or Access())
    raise UnknownTargetError(f"unknown registry target {spec!r}; "
                             f"expected one of {', '.join(TARGETS)}")
