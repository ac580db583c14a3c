"""Layer compression: detection by magic bytes, and streaming compress/decompress.

Both directions are pull-based and use constant memory: :func:`compress` returns a
stream that compresses only as much as its reader asks for, so the copy engine can read
it, hash it and upload it in one pass without ever holding a layer. gzip goes through
``isal`` (several times faster than zlib, standard gzip output); zstd through
``zstandard``. bzip2 and xz can be read but not written: no layer media type exists
for them.
"""

from __future__ import annotations

import bz2
import enum
import io
import lzma
import zlib
from collections.abc import Callable
from typing import BinaryIO, Protocol, cast

import zstandard
from isal import igzip, isal_zlib

from harness.model import mediatype
from harness.util.errors import HarnessError

CHUNK_SIZE = 1 << 20
_GZIP_WBITS = 31  # deflate with a gzip header and trailer


class CompressionError(HarnessError):
    """A compression algorithm or level cannot be used where it was asked for."""


class Algorithm(enum.Enum):
    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"
    BZIP2 = "bzip2"
    XZ = "xz"


MAGIC: dict[Algorithm, bytes] = {
    Algorithm.GZIP: b"\x1f\x8b\x08",
    Algorithm.ZSTD: b"\x28\xb5\x2f\xfd",
    Algorithm.BZIP2: b"\x42\x5a\x68",
    Algorithm.XZ: b"\xfd\x37\x7a\x58\x5a\x00",
}
MAGIC_LENGTH = max(len(m) for m in MAGIC.values())

_LAYER_TYPES: dict[tuple[Algorithm, bool], str] = {
    (Algorithm.NONE, True): mediatype.OCI_LAYER,
    (Algorithm.GZIP, True): mediatype.OCI_LAYER_GZIP,
    (Algorithm.ZSTD, True): mediatype.OCI_LAYER_ZSTD,
    (Algorithm.NONE, False): mediatype.DOCKER_LAYER,
    (Algorithm.GZIP, False): mediatype.DOCKER_LAYER_GZIP,
}
_MEDIA_TYPE_ALGORITHMS: dict[str, Algorithm] = {
    **{media_type: algorithm for (algorithm, _), media_type in _LAYER_TYPES.items()},
    mediatype.OCI_LAYER_NONDISTRIBUTABLE: Algorithm.NONE,
    mediatype.OCI_LAYER_NONDISTRIBUTABLE_GZIP: Algorithm.GZIP,
    mediatype.DOCKER_FOREIGN_LAYER: Algorithm.NONE,
    mediatype.DOCKER_FOREIGN_LAYER_GZIP: Algorithm.GZIP,
}


def detect(prefix: bytes) -> Algorithm:
    """The algorithm whose magic *prefix* starts with (at least :data:`MAGIC_LENGTH` bytes)."""
    for algorithm, magic in MAGIC.items():
        if prefix.startswith(magic):
            return algorithm
    return Algorithm.NONE


def layer_media_type(algorithm: Algorithm, oci: bool) -> str:
    """The layer media type for *algorithm* in an OCI (or Docker schema2) manifest."""
    media_type = _LAYER_TYPES.get((algorithm, oci))
    if media_type is None:
        where = "" if oci else " in Docker schema2 images (recompress to gzip)"
        raise _undefined(algorithm, where)
    return media_type


def _undefined(algorithm: Algorithm, where: str = "") -> CompressionError:
    return CompressionError(
        f"media type for {algorithm.value}-compressed layers is not defined{where}"
    )


def algorithm_for_media_type(media_type: str) -> Algorithm | None:
    """The compression a layer media type announces; None for a type that is not a layer."""
    return _MEDIA_TYPE_ALGORITHMS.get(media_type)


class _Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...


class _PullCompressor(io.RawIOBase):
    """Reads *source* on demand and hands out its compressed form."""

    def __init__(self, source: BinaryIO, compressor: _Compressor) -> None:
        self._source = source
        self._compressor = compressor
        self._pending = bytearray()
        self._finished = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._finished:
            chunk = self._source.read(CHUNK_SIZE)
            if chunk:
                self._pending += self._compressor.compress(chunk)
            else:
                self._pending += self._compressor.flush()
                self._finished = True
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        del self._pending[:size]
        return size


class _Prefixed(io.RawIOBase):
    """*prefix* (bytes already read from *source*) followed by the rest of *source*."""

    def __init__(self, prefix: bytes, source: BinaryIO) -> None:
        self._prefix = prefix
        self._source = source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._prefix:
            size = min(len(buffer), len(self._prefix))
            buffer[:size] = self._prefix[:size]
            self._prefix = self._prefix[size:]
            return size
        data = self._source.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _gzip_compressor(level: int | None) -> _Compressor:
    if level is None:
        return cast(_Compressor, isal_zlib.compressobj(
            isal_zlib.ISAL_DEFAULT_COMPRESSION, isal_zlib.DEFLATED, _GZIP_WBITS))
    if not 0 <= level <= 9:
        raise CompressionError(f"gzip compression level must be 0-9, not {level}")
    if level <= isal_zlib.ISAL_BEST_COMPRESSION:
        return cast(_Compressor, isal_zlib.compressobj(level, isal_zlib.DEFLATED, _GZIP_WBITS))
    # isal stops at level 3; higher levels are zlib's, slower but as small as asked.
    return zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)


def _zstd_compressor(level: int | None) -> _Compressor:
    chosen = 3 if level is None else level
    if not 1 <= chosen <= 22:
        raise CompressionError(f"zstd compression level must be 1-22, not {chosen}")
    return cast(_Compressor, zstandard.ZstdCompressor(level=chosen).compressobj())


_COMPRESSORS: dict[Algorithm, Callable[[int | None], _Compressor]] = {
    Algorithm.GZIP: _gzip_compressor,
    Algorithm.ZSTD: _zstd_compressor,
}


def compress(src: BinaryIO, algorithm: Algorithm, level: int | None = None) -> BinaryIO:
    """A readable stream of *src* compressed with *algorithm*, produced as it is read."""
    if algorithm is Algorithm.NONE:
        return src
    factory = _COMPRESSORS.get(algorithm)
    if factory is None:
        raise _undefined(algorithm)
    return cast(BinaryIO, io.BufferedReader(_PullCompressor(src, factory(level)), CHUNK_SIZE))


def sniff(src: BinaryIO) -> tuple[Algorithm, BinaryIO]:
    """Detect *src*'s compression without losing bytes: returns a stream that starts over."""
    prefix = b""
    while len(prefix) < MAGIC_LENGTH and (more := src.read(MAGIC_LENGTH - len(prefix))):
        prefix += more
    return detect(prefix), cast(BinaryIO, io.BufferedReader(_Prefixed(prefix, src), CHUNK_SIZE))


def decompress(src: BinaryIO) -> BinaryIO:
    """A readable stream of *src* uncompressed; the algorithm is detected by magic bytes."""
    algorithm, stream = sniff(src)
    if algorithm is Algorithm.GZIP:
        gzip_reader = igzip.IGzipFile(fileobj=stream, mode="rb")  # type: ignore[no-untyped-call]
        return cast(BinaryIO, gzip_reader)
    if algorithm is Algorithm.ZSTD:
        reader = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
        return cast(BinaryIO, io.BufferedReader(reader, CHUNK_SIZE))
    if algorithm is Algorithm.BZIP2:
        return cast(BinaryIO, bz2.BZ2File(stream))
    if algorithm is Algorithm.XZ:
        return cast(BinaryIO, lzma.LZMAFile(stream))
    return stream
