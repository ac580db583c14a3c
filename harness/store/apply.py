"""Apply a layer tar to a directory, refusing anything that would write outside it.

Rules, checked before anything is written for an entry:

- names are relative: an absolute name or a ``..`` component is refused (``/`` alone
  names the root and is accepted);
- a symlink met on the way to an entry (from an earlier entry or layer) is followed
  only while it stays inside the root; one that leads out is refused, absolute or
  relative alike (``add`` resolves the same walk as in a chroot instead: see
  :func:`_resolve`). The entry's own last component is never followed: an existing file,
  link or directory of another kind is replaced, not written through;
- a symlink entry may point anywhere absolute (it means the root at run time) but a
  relative target that climbs above the root is refused;
- a hard link's target obeys the same rules as a name and must already exist.

Whiteouts: ``.wh.NAME`` removes NAME; ``.wh..wh..opq`` empties its directory of what
earlier layers put there (entries of this same layer are kept, whatever the order).
Owners, modes, times and xattrs are restored; directory times are set last, since
writing into a directory changes its mtime.
"""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO

from harness.store.diff import OPAQUE, WHITEOUT_PREFIX
from harness.util.errors import HarnessError

CHUNK = 1 << 20
_XATTR = "SCHILY.xattr."


class TraversalError(HarnessError):
    """A layer entry would have been written outside the directory it is applied to."""


def clean_name(name: str) -> str:
    """*name* as a relative path without ``.``; refuse absolute paths and ``..``.

    The root itself may be spelled ``/`` (umoci) or ``./`` (most tools); it cleans to ""."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") and parts:
        raise TraversalError(f"layer entry {name!r} is an absolute path")
    if ".." in parts:
        raise TraversalError(f"layer entry {name!r} contains '..'")
    return "/".join(parts)


def _symlink_escapes(link_dir: str, target: str) -> bool:
    """Whether a relative *target* of a link in *link_dir* climbs above the root."""
    depth = 0
    for part in posixpath.join(link_dir, target).split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _resolve(root: Path, rel: str, name: str, *, clamp: bool, create: bool,
             max_links: int = 40) -> Path | None:
    """Walk *rel* inside *root* component by component, following symlinks.

    A symlink that leads out (absolute, or climbing above the root) is refused, or with
    *clamp* resolved as inside a chroot of *root*: an absolute target restarts at the
    root and ``..`` stops there (what buildah's copier and securejoin do). With *create*,
    missing directories are made (0755) and every component must be a directory; without,
    the walk stops at the first missing component (None) and the last one may be of any
    kind. The result is a real path inside *root*, never a symlink."""
    pending = [p for p in rel.split("/") if p]
    done: list[str] = []
    followed = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        path = root.joinpath(*done, part)
        if path.is_symlink():
            followed += 1
            target = str(path.readlink())
            shown = f"/{'/'.join([*done, part])} -> {target}"
            if followed > max_links:
                raise TraversalError(f"{name!r}: too many levels of symlinks at {shown}")
            if target.startswith("/"):
                if not clamp:
                    raise TraversalError(f"layer entry {name!r} goes through symlink {shown}, "
                                         "which leads outside the root")
                done = []
            elif not clamp and _symlink_escapes("/".join(done), target):
                raise TraversalError(f"layer entry {name!r} goes through symlink {shown}, "
                                     "which leads outside the root")
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
            continue
        if not path.exists():
            if not create:
                return None
            path.mkdir()
            path.chmod(0o755)  # whatever the umask, as containers/storage and buildah do
        elif not path.is_dir() and (create or pending):
            raise TraversalError(f"{name!r}: /{'/'.join([*done, part])} is not a directory")
        done.append(part)
    return root.joinpath(*done)


def resolve_parent(root: Path, rel: str, name: str, *, clamp: bool = False) -> Path:
    """The real directory inside *root* that *rel* names, following symlinks (see
    :func:`_resolve`); missing directories are created."""
    path = _resolve(root, rel, name, clamp=clamp, create=True)
    assert path is not None  # a creating walk always ends at a directory
    return path


def lookup(root: Path, rel: str, name: str) -> Path | None:
    """What *rel* names inside *root* as seen from a chroot there (symlinks followed,
    clamped at the root), or None if it does not exist; nothing is created."""
    return _resolve(root, rel, name, clamp=True, create=False)


def remove_entry(path: Path) -> None:
    """Remove whatever *path* names (a directory with its tree), never following it."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _set_xattr(path: Path, name: str, value: bytes) -> None:
    """Set one xattr; like containers/storage, skip it where the filesystem does not
    support xattrs or refuses that namespace (``trusted.`` without privileges)."""
    try:
        os.setxattr(path, name, value, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.ENOTSUP, errno.EPERM):
            raise HarnessError(f"cannot set xattr {name} on {path}: {exc.strerror}") from exc


class _Applier:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.created: set[str] = set()
        self.dir_times: list[tuple[Path, int]] = []

    def _opaque(self, directory: Path, rel: str) -> None:
        for child in directory.iterdir():
            key = f"{rel}/{child.name}" if rel else child.name
            if key not in self.created:
                remove_entry(child)

    def apply(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        rel = clean_name(member.name)
        if not rel:
            return
        parent_rel, _, base = rel.rpartition("/")
        parent = resolve_parent(self.root, parent_rel, member.name)
        if base == OPAQUE:
            self._opaque(parent, parent_rel)
            return
        if base.startswith(WHITEOUT_PREFIX):
            hidden = base[len(WHITEOUT_PREFIX):]
            if hidden in ("", ".", ".."):
                raise TraversalError(f"whiteout {member.name!r} names no entry of its directory")
            remove_entry(parent / hidden)
            return
        target = parent / base
        self.created.add(rel)
        if not (member.isdir() and target.is_dir() and not target.is_symlink()):
            remove_entry(target)
        self._create(member, tar, target, parent_rel)
        self._restore_metadata(member, target)

    def _create(self, member: tarfile.TarInfo, tar: tarfile.TarFile, target: Path,
                parent_rel: str) -> None:
        if member.isdir():
            target.mkdir(mode=0o755, exist_ok=True)
        elif member.isfile():
            source = tar.extractfile(member)
            assert source is not None  # a regular member always has data
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
        elif member.issym():
            if not member.linkname.startswith("/") and _symlink_escapes(parent_rel,
                                                                         member.linkname):
                raise TraversalError(f"symlink {member.name!r} -> {member.linkname!r} "
                                     "leads outside the root")
            target.symlink_to(member.linkname)
        elif member.islnk():
            link_rel = clean_name(member.linkname)
            link_parent, _, link_base = link_rel.rpartition("/")
            source_path = resolve_parent(self.root, link_parent, member.linkname) / link_base
            if not os.path.lexists(source_path):
                raise HarnessError(f"hard link {member.name!r} points at missing "
                                   f"{member.linkname!r}")
            os.link(source_path, target, follow_symlinks=False)
        elif member.ischr() or member.isblk() or member.isfifo():
            kind = {tarfile.CHRTYPE: stat.S_IFCHR, tarfile.BLKTYPE: stat.S_IFBLK,
                    tarfile.FIFOTYPE: stat.S_IFIFO}[member.type]
            os.mknod(target, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        else:
            raise HarnessError(f"layer entry {member.name!r} has unsupported type "
                               f"{member.type!r}")

    def _restore_metadata(self, member: tarfile.TarInfo, target: Path) -> None:
        if member.islnk():
            return  # a hard link shares the inode of its target
        os.lchown(target, member.uid, member.gid)
        if not member.issym():
            target.chmod(member.mode)
        for key, value in member.pax_headers.items():
            if key.startswith(_XATTR):
                _set_xattr(target, key[len(_XATTR):], value.encode("utf-8", "surrogateescape"))
        if member.isdir():
            self.dir_times.append((target, int(member.mtime)))
        else:
            os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)

    def finish(self) -> None:
        for path, mtime in reversed(self.dir_times):
            os.utime(path, (mtime, mtime), follow_symlinks=False)


def apply_layer(root: Path, stream: BinaryIO) -> None:
    """Apply the uncompressed tar *stream* to *root*, streaming entry by entry."""
    applier = _Applier(root)
    try:
        with tarfile.open(fileobj=stream, mode="r|", errorlevel=2) as tar:
            for member in tar:
                applier.apply(member, tar)
    except tarfile.TarError as exc:
        raise HarnessError(f"layer is not a valid tar: {exc}") from exc
    except OSError as exc:  # disk full, permissions...: one line for the user
        raise HarnessError(f"cannot apply layer: {exc}") from exc
    applier.finish()
