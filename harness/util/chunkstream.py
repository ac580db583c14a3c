"""One bridge from an iterable of byte chunks to a readable stream.

Producers yield chunks (a tar rendered entry by entry, a request body a client hands over
as a generator, a WSGI app's response); consumers read. The bridge keeps a memoryview of
what is left of the current chunk, so a short read copies only what it returns: taking a
64 MiB chunk in 64 KiB reads copies 64 MiB, where re-slicing the rest on every read
copied ~32 GiB. It never holds more than one chunk.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import BinaryIO, cast

Chunk = bytes | bytearray | memoryview | str
_EMPTY = memoryview(b"")


class ChunkReader(io.RawIOBase):
    """A raw stream over an iterable of chunks; closing it closes the iterable.

    ``read(n)`` hands out a whole chunk as it is, without copying, when ``n`` covers it
    (the commit pipeline reads 1 MiB at a time, the size file data comes in); smaller
    reads and ``readinto`` copy only what they return. Reads may return less than asked,
    as raw streams do; an empty result means the end. A ``str`` chunk counts as UTF-8, as
    urllib3 sends it; other buffers are copied to ``bytes`` once.
    """

    def __init__(self, chunks: Iterable[Chunk]) -> None:
        super().__init__()
        self._source = chunks
        self._chunks: Iterator[Chunk] = iter(chunks)
        self._whole = b""  # the current chunk while none of it has been read
        self._view = _EMPTY  # what is left of the current chunk

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        if not self._fill():
            return b""
        if self._whole and len(self._whole) <= size:
            out = self._whole
            self._whole, self._view = b"", _EMPTY
            return out
        out = bytes(self._view[:size])
        self._whole, self._view = b"", self._view[size:]
        return out

    def readall(self) -> bytes:
        rest = [bytes(self._view), *map(_as_bytes, self._chunks)]
        self._whole, self._view = b"", _EMPTY
        return b"".join(rest)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._fill():
            return 0
        size = min(len(buffer), len(self._view))
        buffer[:size] = self._view[:size]
        self._whole, self._view = b"", self._view[size:]
        return size

    def close(self) -> None:
        if not self.closed:
            self._whole, self._view = b"", _EMPTY
            close = getattr(self._source, "close", None)
            if close is not None:
                close()
        super().close()

    def _fill(self) -> bool:
        """Make the next non-empty chunk current; False at the end."""
        while not self._view:
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            self._whole = _as_bytes(chunk)
            self._view = memoryview(self._whole)
        return True


def _as_bytes(chunk: Chunk) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    return chunk.encode() if isinstance(chunk, str) else bytes(chunk)


def chunk_stream(chunks: Iterable[Chunk]) -> BinaryIO:
    """*chunks* as a binary stream (see :class:`ChunkReader`)."""
    return cast(BinaryIO, ChunkReader(chunks))
