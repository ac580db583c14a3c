"""Pull-based tar writing: a layer tar is produced as it is read, never held whole.

``tarfile`` pushes into a file; the commit pipeline instead *reads* the layer (hash,
compress, hash again, store), so entries are rendered here as header bytes followed by
the file's data in chunks, and :class:`ChunkReader` turns that generator into a stream.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from harness.util.errors import HarnessError

BLOCK = tarfile.BLOCKSIZE
CHUNK = 1 << 20


class ChunkReader(io.RawIOBase):
    """A raw readable stream over an iterator of byte chunks (see :func:`chunk_stream`)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def _take(self, size: int) -> memoryview:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._pending = memoryview(chunk)
        part = self._pending[:size]
        self._pending = self._pending[size:]
        return part

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        part = self._take(len(buffer))
        buffer[: len(part)] = part
        return len(part)


def chunk_stream(chunks: Iterable[bytes]) -> BinaryIO:
    """A buffered binary stream over *chunks*; large reads go straight to the chunks."""
    return io.BufferedReader(ChunkReader(chunks), CHUNK)


def header(info: tarfile.TarInfo) -> bytes:
    """The PAX header block(s) of *info*; PAX records appear only when needed
    (long or non-ASCII names, xattrs), so output is deterministic."""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def file_data(path: Path, size: int) -> Iterator[bytes]:
    """Exactly *size* bytes of *path* plus padding to a block; a file that changed size
    while being read is an error rather than a corrupt tar."""
    remaining = size
    with path.open("rb") as handle:
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
