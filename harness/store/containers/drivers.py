"""Where a containers/storage graph driver keeps each layer's files (vfs and overlay).

Only the two drivers whose layers are plain directories are supported: ``vfs`` keeps a
full copy of the file system at each layer in ``vfs/dir/<id>``; ``overlay`` (also named
``overlay2``) keeps only the layer's own changes in ``overlay/<id>/diff``, next to
``link`` (a short name), ``lower`` (the short names of the layers below) and the
``overlay/l/<short>`` symlinks that keep mount options short. Neither needs a mount to
read a layer's files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.util.errors import HarnessError

SUPPORTED = ("overlay", "vfs")
_ALIASES = {"overlay2": "overlay"}
# Every driver containers/storage knows, so a store left by one of them is recognised.
KNOWN = ("aufs", "btrfs", "devicemapper", "overlay", "vfs", "windowsfilter", "zfs")


class DriverError(HarnessError):
    """The store uses a driver this project cannot read or write."""


def canonical(name: str) -> str:
    """The driver's own name (``overlay2`` is ``overlay``); refuse unsupported ones."""
    driver = _ALIASES.get(name, name)
    if driver not in SUPPORTED:
        raise DriverError(f"containers-storage: storage driver {name!r} is not supported "
                          f"here (supported: {', '.join(SUPPORTED)})")
    return driver


def detect(graph_root: Path) -> str | None:
    """The driver of an existing store with none configured, as containers/storage's
    ``scanPriorDrivers`` finds it: the one whose directory is there."""
    found = [d for d in KNOWN if (graph_root / d).is_dir()]
    if len(found) > 1:
        raise DriverError(f"containers-storage: {graph_root} holds layers of several "
                          f"drivers ({', '.join(found)}); name one as [DRIVER@{graph_root}]")
    return found[0] if found else None


@dataclass(frozen=True)
class Driver:
    """A supported driver over one graph root."""

    name: str
    graph_root: Path

    @property
    def home(self) -> Path:
        return self.graph_root / self.name

    def files(self, layer_id: str) -> Path:
        """The directory holding the files a layer's tar-split names."""
        if self.name == "vfs":
            return self.home / "dir" / layer_id
        return self.home / layer_id / "diff"
