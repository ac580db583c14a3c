"""Pull-based tar writing: a layer tar is produced as it is read, never held whole.

``tarfile`` pushes into a file; the commit pipeline instead *reads* the layer (hash,
compress, hash again, store), so entries are rendered as header bytes (by
:mod:`harness.store.gotar`) followed by the file's data in chunks, and
:class:`ChunkReader` turns that generator into a stream.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

from harness.store.gotar import BLOCK
from harness.util.errors import HarnessError

CHUNK = 1 << 20


class ChunkReader(io.RawIOBase):
    """A readable stream over an iterator of byte chunks.

    ``read(n)`` hands out a whole chunk as it is, without copying, when ``n`` covers it
    (the commit pipeline reads 1 MiB at a time, the size file data comes in); smaller
    reads copy only what they return. Reads may return less than asked, as raw streams
    do; an empty result means the end.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._chunks: Iterator[bytes] = iter(chunks)
        self._whole = b""  # the current chunk while none of it has been read
        self._view = memoryview(b"")  # what is left of the current chunk

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            rest = [bytes(self._view), *self._chunks]
            self._whole, self._view = b"", memoryview(b"")
            return b"".join(rest)
        while not self._view:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._whole, self._view = chunk, memoryview(chunk)
        if self._whole and len(self._whole) <= size:
            out = self._whole
            self._whole, self._view = b"", memoryview(b"")
            return out
        out = bytes(self._view[:size])
        self._whole, self._view = b"", self._view[size:]
        return out

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def chunk_stream(chunks: Iterable[bytes]) -> BinaryIO:
    """*chunks* as a binary stream (see :class:`ChunkReader`)."""
    return cast(BinaryIO, ChunkReader(chunks))


def file_data(path: str | Path, size: int) -> Iterator[bytes]:
    """Exactly *size* bytes of *path* plus padding to a block; a file that changed size
    while being read is an error rather than a corrupt tar."""
    remaining = size
    with open(path, "rb") as handle:  # noqa: PTH123 - diff walks hand str paths
        while remaining:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                raise HarnessError(f"{path} shrank while it was being read")
            remaining -= len(chunk)
            yield chunk
    if size % BLOCK:
        yield bytes(BLOCK - size % BLOCK)


def end_of_archive() -> bytes:
    """Two zero blocks, as Go's archive/tar writes (no padding to a 10 KiB record)."""
    return bytes(2 * BLOCK)
