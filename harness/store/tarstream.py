"""Pull-based tar writing: a layer tar is produced as it is read, never held whole.

``tarfile`` pushes into a file; the commit pipeline instead *reads* the layer (hash,
compress, hash again, store), so entries are rendered here as header bytes followed by
the file's data in chunks, and :class:`ChunkReader` turns that generator into a stream.
"""

from __future__ import annotations

import io
import struct
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

from harness.util.errors import HarnessError

BLOCK = tarfile.BLOCKSIZE
CHUNK = 1 << 20
# One ustar block: name, mode, uid, gid, size, mtime, checksum, type, linkname, magic
# and version, uname, gname, devmajor, devminor, prefix, padding.
_USTAR = struct.Struct("100s8s8s8s12s12s8sc100s8s32s32s8s8s155s12x")
_CHECKSUM = slice(148, 155)


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


def header(info: tarfile.TarInfo) -> bytes:
    """The PAX header block(s) of *info*; PAX records appear only when needed
    (long or non-ASCII names, xattrs), so output is deterministic."""
    block = _plain_ustar(info)
    return block if block is not None else \
        info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _octal(value: object, digits: int) -> bytes | None:
    if type(value) is not int or not 0 <= value < 8 ** (digits - 1):
        return None  # a float, a negative or an overflow needs a PAX record
    return b"%0*o\0" % (digits - 1, value)


def _ascii(text: object, length: int) -> bytes | None:
    if not isinstance(text, str) or len(text) > length or not text.isascii():
        return None
    return text.encode("ascii")


def _plain_ustar(info: tarfile.TarInfo) -> bytes | None:
    """The one block ``tobuf`` writes for an entry that needs no PAX record nor device
    numbers (most entries), rendered directly: tarfile's generic path costs ~35 us an
    entry, half of a small file's time in a commit. None for every other entry."""
    if info.pax_headers or info.type in (tarfile.CHRTYPE, tarfile.BLKTYPE) or \
            info.mode is None or not isinstance(info.type, bytes) or len(info.type) != 1:
        return None
    name = f"{info.name}/" if info.type == tarfile.DIRTYPE and isinstance(info.name, str) \
        and not info.name.endswith("/") else info.name
    fields = [_ascii(name, 100), _octal(info.mode & 0o7777, 8), _octal(info.uid, 8),
              _octal(info.gid, 8), _octal(info.size, 12), _octal(info.mtime, 12),
              _ascii(info.linkname, 100), _ascii(info.uname, 32), _ascii(info.gname, 32)]
    if any(field is None for field in fields):
        return None
    path, mode, uid, gid, size, mtime, link, uname, gname = fields
    block = _USTAR.pack(path, mode, uid, gid, size, mtime, b" " * 8, info.type, link,
                        tarfile.POSIX_MAGIC, uname, gname, b"", b"", b"")
    # The checksum counts its own field as spaces, as the block now holds it.
    return block[:_CHECKSUM.start] + b"%06o\0" % sum(block) + block[_CHECKSUM.stop:]


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
