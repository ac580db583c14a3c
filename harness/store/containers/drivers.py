"""Where a containers/storage graph driver keeps each layer's files (vfs and overlay).

Only the two drivers whose layers are plain directories are supported: ``vfs`` keeps a
full copy of the file system at each layer in ``vfs/dir/<id>``; ``overlay`` (also named
``overlay2``) keeps only the layer's own changes in ``overlay/<id>/diff``, next to
``link`` (a short name), ``lower`` (the short names of the layers below) and the
``overlay/l/<short>`` symlinks that keep mount options short. Neither needs a mount to
read a layer's files.
"""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.store.apply import clean_name, lookup
from harness.store.diff import OPAQUE, WHITEOUT_PREFIX
from harness.util.errors import HarnessError

SUPPORTED = ("overlay", "vfs")
LINK_LENGTH = 26  # the overlay driver's idLength
ROOT_MODE = 0o555  # both drivers' defaultPerms for a layer's top directory
OPAQUE_XATTR = "trusted.overlay.opaque"
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

    def create(self, layer_id: str, parent: str | None) -> Path:
        """Make the layer's directories as the driver's ``Create`` does and return the
        directory its files go to. vfs copies the parent's whole tree (``cp -a``: owners,
        modes, times, xattrs and hard links kept); overlay starts an empty ``diff`` and
        links the layer to the ones below it."""
        if self.name == "vfs":
            target = self.files(layer_id)
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _top_directory(target, None if parent is None else self.files(parent))
            if parent is not None:
                _copy_tree(self.files(parent), target)
            return target
        return self._create_overlay(layer_id, parent)

    def _create_overlay(self, layer_id: str, parent: str | None) -> Path:
        links = self.home / "l"
        links.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.home.chmod(0o700)
        layer = self.home / layer_id
        layer.mkdir(mode=0o700)
        diff = layer / "diff"
        _top_directory(diff, None if parent is None else self.home / parent / "diff")
        link = base64.b32encode(os.urandom(20)).decode()[:LINK_LENGTH]
        (links / link).symlink_to(f"../{layer_id}/diff")
        _write(layer / "link", link.encode(), 0o644)
        (layer / "work").mkdir(mode=0o700)
        (layer / "merged").mkdir(mode=0o700)
        if parent is None:
            (layer / "empty").mkdir(mode=0o700)
        else:
            lower = f"l/{(self.home / parent / 'link').read_text()}"
            below = self.home / parent / "lower"
            if below.exists():
                lower += ":" + below.read_text()
            _write(layer / "lower", lower.encode(), 0o644)
        return diff

    def remove(self, layer_id: str) -> None:
        """Remove what :meth:`create` made (after a failed write)."""
        if self.name == "vfs":
            shutil.rmtree(self.files(layer_id), ignore_errors=True)
            return
        link = self.home / layer_id / "link"
        if link.exists():
            (self.home / "l" / link.read_text()).unlink(missing_ok=True)
        shutil.rmtree(self.home / layer_id, ignore_errors=True)

    def mark_whiteouts(self, files: Path, names: list[bytes]) -> None:
        """overlay keeps a deletion as a 0/0 character device named like the deleted
        entry, and an opaque directory as the ``trusted.overlay.opaque`` xattr; vfs
        applied deletions directly."""
        if self.name == "vfs":
            return
        for name in names:
            text = os.fsdecode(name)
            parent, _, base = clean_name(text).rpartition("/")
            directory = lookup(files, parent, text) if parent else files
            if directory is None:
                continue
            if base == OPAQUE:
                os.setxattr(directory, OPAQUE_XATTR, b"y", follow_symlinks=False)
            else:
                os.mknod(directory / base.removeprefix(WHITEOUT_PREFIX), stat.S_IFCHR,
                         os.makedev(0, 0))


def _top_directory(path: Path, parent: Path | None) -> None:
    """A layer's top directory: mode 0555, or the parent layer's mode and owner, as the
    drivers' ``Create`` makes it."""
    path.mkdir()
    if parent is None:
        path.chmod(ROOT_MODE)
        return
    st = parent.stat()
    os.chown(path, st.st_uid, st.st_gid)
    path.chmod(stat.S_IMODE(st.st_mode))


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _copy_tree(source: Path, target: Path) -> None:
    done = subprocess.run(["cp", "-a", "--reflink=auto", f"{source}/.", str(target)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise HarnessError(f"containers-storage: cannot copy layer {source.name} into "
                           f"{target}: {done.stderr.strip()}")
