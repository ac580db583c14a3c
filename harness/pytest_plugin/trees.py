"""Layer contents as data: a tree of entries rendered into the tar containers/storage writes.

A file holds either pseudo-random bytes drawn from its own seed (a tree is then a handful
of numbers: hypothesis can shrink it, two runs build the same bytes, and a large layer is
generated as it is read instead of being held in memory) or the bytes a test gives
(:func:`files_tree`). Every layer the kit builds goes through :func:`tar_chunks`, Go's
tar headers as containers/storage writes them (:mod:`harness.store.gotar`).
"""

from __future__ import annotations

import functools
import posixpath
import random
import shutil
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from harness.store import gotar
from harness.store.diff import WHITEOUT_PREFIX
from harness.store.gotar import BLOCK
from harness.store.tarstream import CHUNK, end_of_archive
from harness.util.chunkstream import chunk_stream
from harness.util.errors import HarnessError

EntryKind = Literal["file", "dir", "symlink", "whiteout"]


class ImageSpecError(HarnessError, ValueError):
    """A tree or image description that cannot be built (bad path, unknown manifest type)."""


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a layer: a file of *size* seeded bytes (or of the given *content*), a
    directory, a symlink to *target*, or a whiteout deleting *path* from the layers below."""

    path: str
    kind: EntryKind = "file"
    size: int = 0
    seed: int = 0
    target: str = ""
    mode: int = 0o644
    content: bytes | None = None
    """The file's bytes, when a test gives them (then *size* is their length)."""

    def __post_init__(self) -> None:
        parts = self.path.split("/")
        if self.path.startswith("/") or any(p in {"", ".", ".."} for p in parts):
            raise ImageSpecError(f"tree path {self.path!r} must be relative and normalised")
        if self.content is not None and (self.kind != "file" or self.size != len(self.content)):
            raise ImageSpecError(f"{self.path}: only a file has content, and its size is "
                                 "the content's length (use TreeEntry.holding)")

    @classmethod
    def holding(cls, path: str, content: bytes, mode: int = 0o644) -> TreeEntry:
        """A file holding *content*."""
        return cls(path, "file", len(content), mode=mode, content=content)


LayerTree = tuple[TreeEntry, ...]


def files_tree(files: Mapping[str, bytes], symlinks: Mapping[str, str] | None = None,
               mode: int = 0o644) -> LayerTree:
    """A layer of *files* (path -> content, with *mode*) and *symlinks* (path -> target)."""
    return (*(TreeEntry.holding(path, data, mode) for path, data in files.items()),
            *(TreeEntry(path, "symlink", target=target)
              for path, target in (symlinks or {}).items()))


@functools.cache
def busybox_tree() -> LayerTree:
    """``/bin/busybox`` and ``/bin/sh`` linked to it: the static busybox binary when the
    ``busybox`` peer is installed (the image then runs), else a stand-in of the same
    shape for tests that do not run the image."""
    found = shutil.which("busybox")
    program = Path(found).read_bytes() if found else bytes(range(256)) * 4096
    return files_tree({"bin/busybox": program}, {"bin/sh": "busybox"}, mode=0o755)


def random_content(seed: int, size: int) -> Iterator[bytes]:
    """*size* pseudo-random bytes determined by *seed*, in chunks."""
    rng = random.Random(seed)
    remaining = size
    while remaining:
        piece = min(CHUNK, remaining)
        remaining -= piece
        yield rng.randbytes(piece)


def _header(entry: TreeEntry) -> gotar.GoHeader:
    """The entry as containers/storage writes it (Go's tar header, mode with type bits)."""
    if entry.kind == "whiteout":
        parent, base = posixpath.split(entry.path)
        return gotar.GoHeader(posixpath.join(parent, WHITEOUT_PREFIX + base))
    if entry.kind == "dir":
        return gotar.GoHeader(f"{entry.path}/", gotar.DIR, stat.S_IFDIR | 0o755)
    if entry.kind == "symlink":
        return gotar.GoHeader(entry.path, gotar.SYMLINK, stat.S_IFLNK | entry.mode,
                              linkname=entry.target)
    return gotar.GoHeader(entry.path, gotar.REG, stat.S_IFREG | entry.mode, size=entry.size)


def tree_paths(tree: LayerTree) -> list[TreeEntry]:
    """The entries in tar order, with every missing parent directory added before its
    children (as real layer tars list them)."""
    implied = {p for e in tree for p in parent_paths(e.path)} - {e.path for e in tree}
    entries = [*tree, *(TreeEntry(p, "dir") for p in implied)]
    return sorted(entries, key=lambda e: e.path.split("/"))


def parent_paths(path: str) -> list[str]:
    """``a/b/c`` -> ``["a", "a/b"]``."""
    parts = path.split("/")
    return ["/".join(parts[:n]) for n in range(1, len(parts))]


def apply_tree(state: dict[str, TreeEntry], tree: LayerTree) -> dict[str, TreeEntry]:
    """What a root holds after *tree* is applied over *state* (path -> entry; implied
    directories included): the model a layer applier is checked against."""
    result = dict(state)
    for entry in tree_paths(tree):
        if entry.kind == "dir" and result.get(entry.path, entry).kind == "dir":
            result.setdefault(entry.path, entry)
            continue
        for path in [p for p in result if p == entry.path or p.startswith(entry.path + "/")]:
            del result[path]
        if entry.kind != "whiteout":
            result[entry.path] = entry
    return result


def tar_chunks(tree: LayerTree) -> Iterator[bytes]:
    """The uncompressed layer tar of *tree*, block by block."""
    for entry in tree_paths(tree):
        yield gotar.encode(_header(entry))
        if entry.kind == "file" and entry.size:
            if entry.content is not None:
                yield entry.content
            else:
                yield from random_content(entry.seed, entry.size)
            if entry.size % BLOCK:
                yield bytes(BLOCK - entry.size % BLOCK)
    yield end_of_archive()


def layer_stream(tree: LayerTree) -> BinaryIO:
    """The uncompressed layer tar of *tree* as a stream, generated as it is read."""
    return chunk_stream(tar_chunks(tree))


def layer_tar(tree: LayerTree) -> bytes:
    """The uncompressed layer tar of *tree* in memory (for small layers a test compares)."""
    return b"".join(tar_chunks(tree))
