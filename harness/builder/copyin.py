"""Copy host files into a rootfs the way ``buildah add`` does, never writing outside it.

The destination is resolved as inside a chroot of the rootfs (:func:`lookup`,
:func:`resolve_parent` with ``clamp``): a symlink of the base image, absolute or climbing,
leads to a place inside the rootfs, as buildah's copier sees it. From there every entry is
created at ``<real directory>/<name>`` and its last component is never followed: an
existing link, file or directory of another kind is replaced (buildah's copier.Put), so a
directory entry meeting a symlink turns it into a directory and nothing is written through
a link. A source named on the command line is followed if it is a symlink; the links
inside a source directory are copied as links.

As buildah without ``--chown``/``--chmod``: entries are owned by root, keep their mode
(set-id bits too) and their modification time to the second; a source directory's
contents are copied, not the directory itself.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

from harness.store.apply import CHUNK, lookup, remove_entry, resolve_parent
from harness.util.errors import HarnessError


@dataclass
class _Put:
    """One source being written; remembers hard links and the directories to finish."""

    links: dict[tuple[int, int], Path] = field(default_factory=dict)
    dirs: list[tuple[Path, os.stat_result]] = field(default_factory=list)

    def entry(self, source: Path, target: Path, info: os.stat_result | None = None) -> None:
        """Write *source* (with *info*, its lstat by default) as *target*."""
        info = info or source.lstat()
        if stat.S_ISDIR(info.st_mode):
            _make_dir(target)
            self.dirs.append((target, info))
            self.children(source, target)
        else:
            self._create(source, info, target)
        _finish(target, info, set_mode=not stat.S_ISDIR(info.st_mode))

    def children(self, source: Path, target: Path) -> None:
        for child in sorted(source.iterdir()):  # buildah walks in lexical order
            self.entry(child, target / child.name)

    def _create(self, source: Path, info: os.stat_result, target: Path) -> None:
        try:
            self._create_once(source, info, target)
        except FileExistsError:
            remove_entry(target)
            self._create_once(source, info, target)

    def _create_once(self, source: Path, info: os.stat_result, target: Path) -> None:
        mode = info.st_mode
        key = (info.st_dev, info.st_ino)
        if stat.S_ISREG(mode) and info.st_nlink > 1 and key in self.links:
            os.link(self.links[key], target, follow_symlinks=False)
        elif stat.S_ISREG(mode):
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with source.open("rb") as src, os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            self.links[key] = target
        elif stat.S_ISLNK(mode):
            target.symlink_to(source.readlink())
        elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            os.mknod(target, stat.S_IFMT(mode) | 0o600, info.st_rdev)
        else:
            raise HarnessError(f"add: {source} is a socket or of unknown type")

    def finish(self) -> None:
        """Directory modes and times last: writing into a directory changes its mtime."""
        for path, info in reversed(self.dirs):
            path.chmod(stat.S_IMODE(info.st_mode))
            _set_time(path, info)


def _make_dir(target: Path) -> None:
    try:
        target.mkdir(mode=0o700)
    except FileExistsError:
        if target.is_symlink() or not target.is_dir():
            target.unlink()
            target.mkdir(mode=0o700)


def _set_time(path: Path, info: os.stat_result) -> None:
    seconds = int(info.st_mtime)  # buildah's tar stream keeps whole seconds
    os.utime(path, (seconds, seconds), follow_symlinks=False)


def _finish(target: Path, info: os.stat_result, *, set_mode: bool) -> None:
    if os.geteuid() == 0:
        os.lchown(target, 0, 0)
    if stat.S_ISLNK(info.st_mode):
        _set_time(target, info)
    elif set_mode:
        target.chmod(stat.S_IMODE(info.st_mode))  # after chown, which clears set-id bits
        _set_time(target, info)


def copy_in(root: Path, sources: list[Path], dest: str) -> None:
    """``buildah add CTR SOURCES... DEST`` into the rootfs *root* (see :func:`_copy_in`);
    an OS error (unreadable source, disk full) is one line."""
    try:
        _copy_in(root, sources, dest)
    except OSError as exc:
        raise HarnessError(f"add: {exc}") from exc


def _copy_in(root: Path, sources: list[Path], dest: str) -> None:
    """Copy *sources* to *dest* in *root*, deciding as ``buildah add`` does.

    *dest* is a path in the container (``..`` stops at its root). Several sources, a
    directory source or a trailing ``/`` make it a directory (created if missing); a
    single file replaces a file of that name."""
    for source in sources:
        if not source.exists():
            raise HarnessError(f"add: {source} does not exist")
    rel = posixpath.normpath("/" + dest).lstrip("/")
    must_be_dir = (len(sources) > 1 or dest.endswith("/") or rel == ""
                   or sources[0].is_dir())
    parent_rel, _, base = rel.rpartition("/")
    found = lookup(root, rel, dest)
    parent = lookup(root, parent_rel, dest)
    if found is not None and found.is_file():
        if must_be_dir:
            raise HarnessError(f"add: destination {dest} already exists but is not a directory")
        _put_file(sources[0], resolve_parent(root, parent_rel, dest, clamp=True) / base)
    elif (parent is None or not os.path.lexists(parent / base)) and not must_be_dir \
            and sources[0].is_file():
        _put_file(sources[0], resolve_parent(root, parent_rel, dest, clamp=True) / base)
    else:
        directory = resolve_parent(root, rel, dest, clamp=True)
        for source in sources:
            put = _Put()
            if source.is_dir():
                put.children(source, directory)
            else:
                put.entry(source, directory / source.name, source.stat())
            put.finish()


def _put_file(source: Path, target: Path) -> None:
    """One file source written under the destination's own name (replacing it)."""
    _Put().entry(source, target, source.stat())
