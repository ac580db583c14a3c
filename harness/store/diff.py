"""The read-write layer's changes against its parent, as a deterministic tar stream.

When a container is created its directory is populated from the image's layers and a
*snapshot* records each path's lstat (type, mode, owner, size, times, inode, link
target). At commit the directory is walked again (children in sorted order, parents
first) and compared with the snapshot, the way vfs and ``archive.ChangesDirs`` compare:

- a path that is new or whose lstat differs (including ctime, so chmod, chown and
  xattr changes count) is written with its full content. File times come from a coarse
  kernel clock (a few ms per tick), so a same-size rewrite in the tick the snapshot
  recorded would keep the same times; the snapshot therefore waits (at most one tick)
  until that clock has passed every time it recorded, as git handles "racy" files;
- a path that disappeared becomes a whiteout ``dir/.wh.NAME`` (only the topmost one);
- a directory whose inode changed was removed and recreated: it gets the opaque marker
  ``dir/.wh..wh..opq`` and all of its current content. (If the filesystem hands the
  new directory the old inode number, it is diffed as the same directory instead: its
  vanished children get whiteouts, and the applied result is the same.)

Entries carry numeric owners, permission bits, symlink targets, device numbers and
``user.``/``trusted.``/``security.`` xattrs (PAX ``SCHILY.xattr.``); files sharing an
inode after the first become hard links. ``timestamp`` replaces every mtime, which with
the sorted order makes the tar a function of the tree's content (reproducible builds).
"""

from __future__ import annotations

import json
import os
import stat
import tarfile
import time
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import BinaryIO

from harness.store.tarstream import chunk_stream, end_of_archive, file_data, header

WHITEOUT_PREFIX = ".wh."
_REALTIME_COARSE = 5  # Linux's CLOCK_REALTIME_COARSE, the clock file times come from
_MAX_SETTLE_NS = 50_000_000
OPAQUE = ".wh..wh..opq"


@dataclass(frozen=True)
class PathState:
    """What the snapshot remembers of one path."""

    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    link: str

    @classmethod
    def of(cls, path: str, st: os.stat_result) -> PathState:
        link = str(Path(path).readlink()) if stat.S_ISLNK(st.st_mode) else ""
        return cls(st.st_mode, st.st_uid, st.st_gid, st.st_size if stat.S_ISREG(st.st_mode)
                   else 0, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, link)


Snapshot = dict[str, PathState]


def _children(directory: Path) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as it:
        return sorted(it, key=lambda e: e.name)


def _walk(root: Path, rel: str = "") -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, path, lstat) of everything under *root*, parents first, sorted."""
    for entry in _children(root / rel if rel else root):
        child = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        yield child, entry.path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, child)


def take_snapshot(root: Path) -> Snapshot:
    """The state of everything under *root*; when it returns, any later change to a
    path gives it a ctime newer than the one recorded."""
    snapshot = {rel: PathState.of(path, st) for rel, path, st in _walk(root)}
    newest = max((state.ctime_ns for state in snapshot.values()), default=0)
    deadline = time.monotonic_ns() + _MAX_SETTLE_NS
    while time.clock_gettime_ns(_REALTIME_COARSE) <= newest and \
            time.monotonic_ns() < deadline:
        time.sleep(0.001)
    return snapshot


def save_snapshot(snapshot: Snapshot, path: Path) -> None:
    path.write_text(json.dumps({k: astuple(v) for k, v in snapshot.items()}))


def load_snapshot(path: Path) -> Snapshot:
    if not path.exists():
        return {}
    return {k: PathState(*v) for k, v in json.loads(path.read_text()).items()}


def _xattrs(path: str) -> dict[str, str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    return {f"SCHILY.xattr.{name}": os.getxattr(path, name, follow_symlinks=False)
            .decode("utf-8", "surrogateescape") for name in sorted(names)}


_TYPES = {stat.S_IFREG: tarfile.REGTYPE, stat.S_IFDIR: tarfile.DIRTYPE,
          stat.S_IFLNK: tarfile.SYMTYPE, stat.S_IFCHR: tarfile.CHRTYPE,
          stat.S_IFBLK: tarfile.BLKTYPE, stat.S_IFIFO: tarfile.FIFOTYPE}


class _TarWriter:
    """Renders entries; remembers inodes already written so later names become links."""

    def __init__(self, timestamp: int | None) -> None:
        self.timestamp = timestamp
        self._inodes: dict[tuple[int, int], str] = {}

    def _info(self, name: str, st: os.stat_result) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.uname = info.gname = ""
        info.mtime = self.timestamp if self.timestamp is not None else int(st.st_mtime)
        return info

    def whiteout(self, name: str, st: os.stat_result) -> bytes:
        info = self._info(name, st)
        info.mode, info.uid, info.gid = 0, 0, 0  # as containers/storage writes them
        return header(info)

    def entry(self, name: str, path: str, st: os.stat_result) -> Iterator[bytes]:
        kind = _TYPES.get(stat.S_IFMT(st.st_mode))
        if kind is None:  # sockets cannot be represented in a tar
            return
        info = self._info(name, st)
        info.type = kind
        info.pax_headers = _xattrs(path)
        key = (st.st_dev, st.st_ino)
        if kind == tarfile.REGTYPE and st.st_nlink > 1 and key in self._inodes:
            info.type, info.linkname = tarfile.LNKTYPE, self._inodes[key]
            yield header(info)
            return
        if kind == tarfile.REGTYPE:
            self._inodes.setdefault(key, name)
            info.size = st.st_size
        elif kind == tarfile.SYMTYPE:
            info.linkname = str(Path(path).readlink())
        elif kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        yield header(info)
        if kind == tarfile.REGTYPE:
            yield from file_data(path, info.size)


class _Base:
    """The snapshot, with each directory's former children indexed once."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.states = snapshot
        self.children: dict[str, set[str]] = {}
        for rel in snapshot:
            parent, _, name = rel.rpartition("/")
            self.children.setdefault(parent, set()).add(name)


def _diff_dir(root: Path, rel: str, base: _Base, fresh: bool,
              tar: _TarWriter) -> Iterator[bytes]:
    """Entries for the children of *rel*; *fresh* means the directory is new, so
    everything below it is new whatever the snapshot says."""
    directory = root / rel if rel else root
    children = _children(directory)
    prefix = f"{rel}/" if rel else ""
    if not fresh:
        gone = sorted(base.children.get(rel, set()) - {e.name for e in children})
        dir_st = directory.lstat()
        for name in gone:
            yield tar.whiteout(f"{prefix}{WHITEOUT_PREFIX}{name}", dir_st)
    for entry in children:
        child, path = prefix + entry.name, entry.path  # str, not Path: ~7 us a file
        st = entry.stat(follow_symlinks=False)
        before = None if fresh else base.states.get(child)
        if before is None or before != PathState.of(path, st):
            yield from tar.entry(child, path, st)
        if stat.S_ISDIR(st.st_mode):
            replaced = before is not None and (not stat.S_ISDIR(before.mode)
                                               or before.ino != st.st_ino)
            if replaced and stat.S_ISDIR(before.mode):  # type: ignore[union-attr]
                yield tar.whiteout(f"{child}/{OPAQUE}", st)
            yield from _diff_dir(root, child, base, fresh or before is None or replaced, tar)


def diff_chunks(root: Path, snapshot: Snapshot, timestamp: int | None = None
                ) -> Iterator[bytes]:
    """The tar of *root*'s changes against *snapshot*, as chunks."""
    yield from _diff_dir(root, "", _Base(snapshot), False, _TarWriter(timestamp))
    yield end_of_archive()


def diff_stream(root: Path, snapshot: Snapshot, timestamp: int | None = None) -> BinaryIO:
    """The same tar as a readable stream (what the commit pipeline hashes and stores)."""
    return chunk_stream(diff_chunks(root, snapshot, timestamp))
