"""The read-write layer's changes, as the tar stream buildah's vfs driver writes.

containers/storage diffs a container layer in one of two ways, and so does this module:

- **No parent layer** (a container from scratch): the whole tree, walked parents first
  with each directory's children in byte order, as ``archive.TarWithOptions`` walks it.
- **On a parent**: the changes against the *snapshot* taken when the container was
  created, as ``archive.ChangesDirs`` finds them and ``archive.ExportChanges`` writes
  them, **sorted by path** (``a/``, ``a.txt``, ``a/b``; a whiteout sorts under the name
  it deletes). A path is *added* when the snapshot does not have it (or its old parent
  was not a directory); *modified* when its mode (type and permissions), owner or device
  number changed, or, for a non-directory, its size or mtime changed (an mtime compare
  that forgives a rounded-away sub-second part), or its ``security.capability`` or
  ``user.*`` xattrs changed; *deleted* (a ``dir/.wh.NAME`` whiteout) when its directory
  is still a directory and it is gone. A directory holding any change is written too.
  Directory mtimes and ctimes are not compared; a directory removed and recreated is
  diffed as the same directory (no opaque marker), as with vfs.

Each entry is rendered by :mod:`harness.store.gotar` with the fields ``pkg/archive``
sets: the mode with its file-type bits, numeric owners without names, device numbers,
the symlink target, ``security.capability`` and ``user.*`` xattrs, the mtime truncated
to seconds; a non-directory whose inode was already written becomes a hard link to the
first name. ``timestamp`` replaces every mtime (buildah's ``--timestamp`` rewrite).
File times come from a coarse kernel clock, so the snapshot waits (at most one tick)
until that clock has passed every time it recorded: a same-size rewrite right after it
still gets a new mtime.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import BinaryIO

from harness.store import gotar
from harness.store.tarstream import end_of_archive, file_data
from harness.util.chunkstream import chunk_stream

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
_REALTIME_COARSE = 5  # Linux's CLOCK_REALTIME_COARSE, the clock file times come from
_MAX_SETTLE_NS = 50_000_000
_NS = 1_000_000_000
_SNAPSHOT_VERSION = 2
_CAPABILITY = "security.capability"


def layer_xattrs(path: str) -> dict[str, bytes]:
    """The xattrs containers/storage puts in a layer: ``security.capability`` and
    ``user.*``."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for name in names:
        if name == _CAPABILITY or name.startswith("user."):
            try:
                out[name] = os.getxattr(path, name, follow_symlinks=False)
            except OSError:
                continue
    return out


def _xattr_key(path: str) -> str:
    return ";".join(f"{k}={v.hex()}" for k, v in sorted(layer_xattrs(path).items()))


@dataclass(frozen=True)
class PathState:
    """What the snapshot remembers of one path (what ``statDifferent`` compares)."""

    mode: int
    uid: int
    gid: int
    rdev: int
    size: int
    mtime_ns: int
    ctime_ns: int
    xattrs: str

    @classmethod
    def of(cls, path: str, st: os.stat_result) -> PathState:
        return cls(st.st_mode, st.st_uid, st.st_gid, st.st_rdev, st.st_size,
                   st.st_mtime_ns, st.st_ctime_ns, _xattr_key(path))


Snapshot = dict[str, PathState]


def same_fs_time(a_ns: int, b_ns: int) -> bool:
    """containers/storage's loose mtime compare: equal, or equal seconds once a time
    without a sub-second part may have been rounded either way."""
    a_sec, a_nsec = divmod(a_ns, _NS)
    b_sec, b_nsec = divmod(b_ns, _NS)
    if a_ns == b_ns:
        return True
    if a_nsec and b_nsec:
        return False
    return a_sec == b_sec or (b_nsec == 0 and a_sec == b_sec - 1) or \
        (a_nsec == 0 and a_sec - 1 == b_sec)


def _modified(old: PathState, new: PathState) -> bool:
    if (old.mode, old.uid, old.gid, old.rdev) != (new.mode, new.uid, new.gid, new.rdev):
        return True
    if not stat.S_ISDIR(old.mode) and (old.size != new.size
                                       or not same_fs_time(old.mtime_ns, new.mtime_ns)):
        return True
    return old.xattrs != new.xattrs


def _children(directory: str | Path) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as it:
        return sorted(it, key=lambda e: os.fsencode(e.name))


def _walk(root: Path, rel: str = "") -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, path, lstat) of everything under *root*, parents first, sorted."""
    for entry in _children(root / rel if rel else root):
        child = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        yield child, entry.path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, child)


def take_snapshot(root: Path) -> Snapshot:
    """The state of everything under *root*; when it returns, any later write to a file
    gives it an mtime newer than the one recorded."""
    snapshot = {rel: PathState.of(path, st) for rel, path, st in _walk(root)}
    newest = max((state.ctime_ns for state in snapshot.values()), default=0)
    deadline = time.monotonic_ns() + _MAX_SETTLE_NS
    while time.clock_gettime_ns(_REALTIME_COARSE) <= newest and \
            time.monotonic_ns() < deadline:
        time.sleep(0.001)
    return snapshot


def save_snapshot(snapshot: Snapshot, path: Path) -> None:
    path.write_text(json.dumps({"version": _SNAPSHOT_VERSION,
                                "paths": {k: astuple(v) for k, v in snapshot.items()}}))


def load_snapshot(path: Path) -> Snapshot:
    """The snapshot saved at *path*; one saved by an earlier version (mode, uid, gid,
    size, mtime, ctime, inode, link) is read with no device number nor xattrs."""
    if not path.exists():
        return {}
    saved = json.loads(path.read_text())
    if isinstance(saved, dict) and saved.get("version") == _SNAPSHOT_VERSION:
        return {k: PathState(*v) for k, v in saved["paths"].items()}
    return {k: PathState(v[0], v[1], v[2], 0, v[3], v[4], v[5], "")
            for k, v in saved.items()}


_TYPES = {stat.S_IFREG: gotar.REG, stat.S_IFDIR: gotar.DIR, stat.S_IFLNK: gotar.SYMLINK,
          stat.S_IFCHR: gotar.CHAR, stat.S_IFBLK: gotar.BLOCKDEV, stat.S_IFIFO: gotar.FIFO}


class _TarWriter:
    """Renders entries as ``pkg/archive``'s tar appender fills them; remembers inodes
    already written so later names become links. *copier* renders them as buildah's
    copier does instead (a squashed commit): permission bits only in the mode, and no
    trailing ``/`` on a directory's name."""

    def __init__(self, timestamp: int | None, copier: bool = False) -> None:
        self.timestamp = timestamp
        self.copier = copier
        self._inodes: dict[tuple[int, int], str] = {}

    def _encode(self, header: gotar.GoHeader) -> bytes:
        """*header* as written, with the timestamp when one is set: buildah reads every
        header back and writes it again with that time, and an entry first written with
        PAX records stays PAX."""
        if self.timestamp is None:
            return gotar.encode(header)
        from_pax = not gotar.fits_octal(12, header.mtime)
        header.mtime = self.timestamp
        return gotar.encode(header, from_pax=from_pax)

    def whiteout(self, name: str) -> bytes:
        """A whiteout: only a name and a time (rounded ``time.Now()`` in Go)."""
        return self._encode(gotar.GoHeader(name, mtime=round(time.time())))

    def entry(self, name: str, path: str, st: os.stat_result) -> Iterator[bytes]:
        kind = _TYPES.get(stat.S_IFMT(st.st_mode))
        if kind is None:  # sockets cannot be represented in a tar
            return
        typeflag, link, size = kind, "", 0
        if kind == gotar.SYMLINK:
            link = str(Path(path).readlink())
        if kind != gotar.DIR and st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            first = self._inodes.setdefault(key, name)
            if first != name:
                typeflag, link = gotar.LINK, first
        if typeflag == gotar.REG:
            size = st.st_size
        devices = kind in (gotar.CHAR, gotar.BLOCKDEV)
        yield self._encode(gotar.GoHeader(
            f"{name}/" if kind == gotar.DIR and not self.copier else name, typeflag,
            stat.S_IMODE(st.st_mode) if self.copier else st.st_mode, st.st_uid,
            st.st_gid, size, st.st_mtime_ns // _NS, link,
            devmajor=os.major(st.st_rdev) if devices else 0,
            devminor=os.minor(st.st_rdev) if devices else 0, xattrs=layer_xattrs(path)))
        if typeflag == gotar.REG:
            yield from file_data(path, size)


def _whole_tree(root: Path, tar: _TarWriter) -> Iterator[bytes]:
    for rel, path, st in _walk(root):
        yield from tar.entry(rel, path, st)


@dataclass(frozen=True)
class _Change:
    path: str
    fspath: str
    st: os.stat_result | None  # None: deleted


class _Changes:
    """``ChangesDirs``: the changed paths of a tree against its snapshot."""

    def __init__(self, root: Path, snapshot: Snapshot) -> None:
        self.root = root
        self.states = snapshot
        self.children: dict[str, set[str]] = {}
        for rel in snapshot:
            parent, _, name = rel.rpartition("/")
            self.children.setdefault(parent, set()).add(name)
        self.found: list[_Change] = []

    def visit(self, rel: str, directory: str, old_is_dir: bool) -> bool:
        """Record the changes below *rel*; whether there were any."""
        prefix = f"{rel}/" if rel else ""
        changed_below = False
        present = set()
        for entry in _children(directory):
            child = prefix + entry.name
            present.add(entry.name)
            st = entry.stat(follow_symlinks=False)
            old = self.states.get(child) if old_is_dir else None
            written = old is None or _modified(old, PathState.of(entry.path, st))
            if written:
                self.found.append(_Change(child, entry.path, st))
            if stat.S_ISDIR(st.st_mode) and self.visit(
                    child, entry.path, old is not None and stat.S_ISDIR(old.mode)):
                if not written:
                    self.found.append(_Change(child, entry.path, st))
                written = True
            changed_below = changed_below or written
        if old_is_dir:
            for name in self.children.get(rel, set()) - present:
                self.found.append(_Change(prefix + name, "", None))
                changed_below = True
        return changed_below


def _changed_paths(root: Path, snapshot: Snapshot, tar: _TarWriter) -> Iterator[bytes]:
    changes = _Changes(root, snapshot)
    changes.visit("", str(root), True)
    for change in sorted(changes.found, key=lambda c: os.fsencode(c.path)):
        if change.st is None:
            parent, _, name = change.path.rpartition("/")
            yield tar.whiteout(f"{parent}/{WHITEOUT_PREFIX}{name}" if parent
                               else WHITEOUT_PREFIX + name)
        else:
            yield from tar.entry(change.path, change.fspath, change.st)


def diff_chunks(root: Path, snapshot: Snapshot | None, timestamp: int | None = None, *,
                copier: bool = False) -> Iterator[bytes]:
    """The layer tar of *root* as chunks: the whole tree when *snapshot* is None (no
    parent layer), else its changes against *snapshot*; *copier*: see ``_TarWriter``."""
    tar = _TarWriter(timestamp, copier)
    if snapshot is None:
        yield from _whole_tree(root, tar)
    else:
        yield from _changed_paths(root, snapshot, tar)
    yield end_of_archive()


def diff_stream(root: Path, snapshot: Snapshot | None, timestamp: int | None = None, *,
                copier: bool = False) -> BinaryIO:
    """The same tar as a readable stream (what the commit pipeline hashes and stores)."""
    return chunk_stream(diff_chunks(root, snapshot, timestamp, copier=copier))
