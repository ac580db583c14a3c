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
from abc import abstractmethod
from collections import deque
from collections.abc import Callable
from typing import BinaryIO, Protocol, cast

from isal import isal_zlib

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


class _SteppedReader(io.RawIOBase):
    """A raw stream produced in steps: each :meth:`_step` hands output to :meth:`_add` (or
    sets ``_finished``). Reads are full, as from a buffered reader (short only at the end),
    but copy at most once: a piece that fills a read is handed over as it is, so a layer
    can pass uncopied. Memory stays at about one read and one step."""

    def __init__(self) -> None:
        self._pieces: deque[bytes | memoryview] = deque()
        self._pending = 0  # bytes in _pieces
        self._finished = False

    def readable(self) -> bool:
        return True

    @abstractmethod
    def _step(self, wanted: int) -> None:
        """Produce the next piece of output; *wanted* is what the read still lacks."""

    def _add(self, piece: bytes) -> None:
        if piece:
            self._pieces.append(piece)
            self._pending += len(piece)

    def read(self, size: int | None = -1) -> bytes:
        limit = None if size is None or size < 0 else size
        while (limit is None or self._pending < limit) and not self._finished:
            self._step(CHUNK_SIZE if limit is None else limit - self._pending)
        wanted = self._pending if limit is None else min(limit, self._pending)
        self._pending -= wanted
        parts: list[bytes | memoryview] = []
        while wanted:
            piece = self._pieces.popleft()
            if len(piece) > wanted:
                view = memoryview(piece)
                self._pieces.appendleft(view[wanted:])
                piece = view[:wanted]
            parts.append(piece)
            wanted -= len(piece)
        if len(parts) == 1 and isinstance(parts[0], bytes):
            return parts[0]
        return b"".join(parts)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _PullCompressor(_SteppedReader):
    """Reads *source* on demand and hands out its compressed form."""

    def __init__(self, source: BinaryIO, compressor: _Compressor) -> None:
        super().__init__()
        self._source = source
        self._compressor = compressor

    def _step(self, wanted: int) -> None:
        chunk = self._source.read(CHUNK_SIZE)
        if chunk:
            self._add(self._compressor.compress(chunk))
        else:
            self._add(self._compressor.flush())
            self._finished = True


class _Prefixed(_SteppedReader):
    """*prefix* (bytes already read from *source*) followed by the rest of *source*."""

    def __init__(self, prefix: bytes, source: BinaryIO) -> None:
        super().__init__()
        self._add(prefix)
        self._source = source

    def _step(self, wanted: int) -> None:
        piece = self._source.read(wanted)
        self._add(piece)
        self._finished = not piece


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
    import zstandard  # noqa: PLC0415  (only zstd layers need it: ~4 ms to import)

    compressor = zstandard.ZstdCompressor(level=chosen, write_checksum=True)
    return cast(_Compressor, compressor.compressobj())


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
    return cast(BinaryIO, _PullCompressor(src, factory(level)))


def sniff(src: BinaryIO) -> tuple[Algorithm, BinaryIO]:
    """Detect *src*'s compression without losing bytes: returns a stream that starts over."""
    prefix = b""
    while len(prefix) < MAGIC_LENGTH and (more := src.read(MAGIC_LENGTH - len(prefix))):
        prefix += more
    return detect(prefix), cast(BinaryIO, _Prefixed(prefix, src))


# isal's stubs declare its error as an instance, hence the cast.
_DECODE_ERRORS: tuple[type[Exception], ...] = (
    EOFError, OSError, zlib.error, cast(type[Exception], isal_zlib.error), lzma.LZMAError,
)
# Compressed bytes fed per step adapt to the compression ratio so that one step yields
# about CHUNK_SIZE of output: zeros compress ~30000:1 in zstd, and a fixed feed would let a
# single read of a highly compressed layer allocate gigabytes.
_MIN_FEED = 64
_MAX_FEED = 256 << 10


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, /) -> bytes: ...


def _zstd_decompressor() -> _Decompressor:
    import zstandard  # noqa: PLC0415

    return cast(_Decompressor, zstandard.ZstdDecompressor().decompressobj())


def _decode_errors(algorithm: Algorithm) -> tuple[type[Exception], ...]:
    """What *algorithm*'s decompressor raises for corrupt input."""
    if algorithm is Algorithm.ZSTD:
        import zstandard  # noqa: PLC0415

        return (*_DECODE_ERRORS, zstandard.ZstdError)
    return _DECODE_ERRORS


_DECOMPRESSORS: dict[Algorithm, Callable[[], _Decompressor]] = {
    Algorithm.GZIP: lambda: cast(_Decompressor, isal_zlib.decompressobj(_GZIP_WBITS)),
    Algorithm.ZSTD: _zstd_decompressor,
    Algorithm.BZIP2: bz2.BZ2Decompressor,
    Algorithm.XZ: lzma.LZMADecompressor,
}


class _PullDecompressor(_SteppedReader):
    """Reads compressed *source* on demand; concatenated members/frames are read whole.

    Unlike the libraries' own readers it notices input that ends inside a member, and it
    reports every kind of corruption as one :class:`CompressionError`.
    """

    def __init__(self, source: BinaryIO, algorithm: Algorithm) -> None:
        super().__init__()
        self._source = source
        self._algorithm = algorithm
        self._new = _DECOMPRESSORS[algorithm]
        self._errors = _decode_errors(algorithm)
        self._current: _Decompressor | None = None  # None between members
        self._feed_size = _MIN_FEED

    def _error(self, why: object) -> CompressionError:
        return CompressionError(f"corrupt {self._algorithm.value} data: {why}")

    def _feed(self, data: bytes) -> None:
        while data:
            if self._current is None:
                self._current = self._new()
            try:
                self._add(self._current.decompress(data))
            except self._errors as exc:
                raise self._error(exc) from exc
            data = b""
            if self._current.eof:
                data = self._current.unused_data
                self._current = None

    def _step(self, wanted: int) -> None:
        chunk = self._source.read(self._feed_size)
        if chunk:
            before = self._pending
            self._feed(chunk)
            ratio = max(1, (self._pending - before) // len(chunk))
            self._feed_size = max(_MIN_FEED, min(_MAX_FEED, CHUNK_SIZE // ratio))
        elif self._current is not None:
            raise self._error("input ends inside a compressed stream (truncated)")
        else:
            self._finished = True


def decompress(src: BinaryIO) -> BinaryIO:
    """A readable stream of *src* uncompressed; the algorithm is detected by magic bytes.

    Corrupt or truncated input raises :class:`CompressionError` from ``read``.
    """
    algorithm, stream = sniff(src)
    if algorithm is Algorithm.NONE:
        return stream
    return cast(BinaryIO, _PullDecompressor(stream, algorithm))
