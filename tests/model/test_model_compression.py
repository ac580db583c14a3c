"""Compression: detection, streaming round trips, the gzip/zstd command-line tools."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import random
import subprocess
import tracemalloc
from typing import Any

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.model import mediatype
from harness.model.compression import (
    Algorithm,
    CompressionError,
    algorithm_for_media_type,
    compress,
    decompress,
    detect,
    layer_media_type,
    sniff,
)

WRITABLE = [Algorithm.NONE, Algorithm.GZIP, Algorithm.ZSTD]


class CountingSource(io.RawIOBase):
    """*size* pseudo-random bytes made on demand; remembers how much was read."""

    def __init__(self, size: int, seed: int = 1) -> None:
        self.remaining = size
        self.consumed = 0
        self._random = random.Random(seed)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        size = min(len(buffer), self.remaining)
        buffer[:size] = self._random.randbytes(size)
        self.remaining -= size
        self.consumed += size
        return size


@given(data=st.binary(max_size=4096), algorithm=st.sampled_from(WRITABLE),
       level=st.sampled_from([None, 1, 3]))
@settings(max_examples=60)
def test_round_trip(data: bytes, algorithm: Algorithm, level: int | None) -> None:
    if algorithm is Algorithm.NONE and detect(data) is not Algorithm.NONE:
        data = b"tar" + data  # plain data that starts with a magic is compressed by definition
    compressed = compress(io.BytesIO(data), algorithm, level).read()
    assert detect(compressed) is algorithm
    assert decompress(io.BytesIO(compressed)).read() == data


@pytest.mark.parametrize("algorithm", [Algorithm.GZIP, Algorithm.ZSTD])
def test_truncated_input_is_a_compression_error(algorithm: Algorithm) -> None:
    compressed = compress(io.BytesIO(os.urandom(10_000)), algorithm).read()
    with pytest.raises(CompressionError, match=f"corrupt {algorithm.value} data"):
        decompress(io.BytesIO(compressed[:-100])).read()
    with pytest.raises(CompressionError, match=f"corrupt {algorithm.value} data"):
        decompress(io.BytesIO(compressed[:10] + b"x" * 50 + compressed[60:])).read()


@given(data=st.binary(max_size=4096), module=st.sampled_from([bz2, lzma]))
@settings(max_examples=30)
def test_read_only_algorithms_round_trip(data: bytes, module: Any) -> None:
    compressed = module.compress(data)
    assert detect(compressed) is (Algorithm.BZIP2 if module is bz2 else Algorithm.XZ)
    assert decompress(io.BytesIO(compressed)).read() == data


@pytest.mark.parametrize("level", [0, 2, 6, 9])
def test_every_gzip_level_is_standard_gzip(level: int) -> None:
    data = b"layer data " * 1000
    assert gzip.decompress(compress(io.BytesIO(data), Algorithm.GZIP, level).read()) == data


@pytest.mark.parametrize(("algorithm", "level"), [(Algorithm.GZIP, 10), (Algorithm.GZIP, -1),
                                                  (Algorithm.ZSTD, 0), (Algorithm.ZSTD, 23)])
def test_bad_levels(algorithm: Algorithm, level: int) -> None:
    with pytest.raises(CompressionError, match="level must be"):
        compress(io.BytesIO(b""), algorithm, level)


def test_bzip2_and_xz_are_read_but_not_written() -> None:
    data = b"old layer" * 100
    assert decompress(io.BytesIO(bz2.compress(data))).read() == data
    assert decompress(io.BytesIO(lzma.compress(data))).read() == data
    for algorithm in (Algorithm.BZIP2, Algorithm.XZ):
        with pytest.raises(CompressionError,
                           match=f"media type for {algorithm.value}-compressed layers "
                                 "is not defined"):
            compress(io.BytesIO(data), algorithm)


@pytest.mark.parametrize(
    ("prefix", "algorithm"),
    [(b"\x1f\x8b\x08\x00", Algorithm.GZIP), (b"\x28\xb5\x2f\xfd\x00", Algorithm.ZSTD),
     (b"BZh91AY", Algorithm.BZIP2), (b"\xfd7zXZ\x00\x00", Algorithm.XZ),
     (b"\x1f\x8b\x07", Algorithm.NONE), (b"", Algorithm.NONE), (b"ustar", Algorithm.NONE)],
)
def test_detect(prefix: bytes, algorithm: Algorithm) -> None:
    assert detect(prefix) is algorithm


@given(st.binary(max_size=20))
def test_sniff_loses_no_bytes(data: bytes) -> None:
    algorithm, stream = sniff(io.BytesIO(data))
    assert algorithm is detect(data)
    assert stream.read() == data


class Pieces(io.RawIOBase):
    """Hands out *pieces* one a read (cut to the size asked), as ReadAhead does."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = list(pieces)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        piece = self.pieces.pop(0) if self.pieces else b""
        if size is not None and 0 <= size < len(piece):
            self.pieces.insert(0, piece[size:])
            piece = piece[:size]
        return piece


def test_sniffed_reads_are_full_and_hand_whole_pieces_over_uncopied() -> None:
    first, second = os.urandom(1000), os.urandom(1000)
    _, stream = sniff(Pieces(first, second, b"ab", b"cd"))  # type: ignore[arg-type]
    assert stream.read(1000) == first  # the sniffed prefix, then the rest of the piece
    assert stream.read(1000) is second
    assert stream.read(10) == b"abcd"  # short pieces are joined; short only at the end
    assert stream.read(10) == b""


def test_compressed_and_decompressed_reads_are_full() -> None:
    data = os.urandom(300_000) + b"text " * 100_000
    compressed = compress(io.BytesIO(data), Algorithm.GZIP)
    sizes = [len(piece) for piece in iter(lambda: compressed.read(4096), b"")]
    assert set(sizes[:-1]) == {4096}
    stream = decompress(io.BytesIO(gzip.compress(data)))
    pieces = list(iter(lambda: stream.read(7777), b""))
    assert {len(piece) for piece in pieces[:-1]} == {7777}
    assert b"".join(pieces) == data


@pytest.mark.parametrize("algorithm", [Algorithm.NONE, Algorithm.GZIP])
def test_streams_can_be_read_into_a_buffer(algorithm: Algorithm) -> None:
    data = os.urandom(100_000)
    packed = compress(io.BytesIO(data), algorithm).read()
    assert io.BufferedReader(compress(io.BytesIO(data), algorithm)).read() == packed  # type: ignore[arg-type]
    assert io.BufferedReader(decompress(io.BytesIO(packed))).read() == data  # type: ignore[arg-type]


def test_layer_media_types() -> None:
    assert layer_media_type(Algorithm.GZIP, oci=True) == mediatype.OCI_LAYER_GZIP
    assert layer_media_type(Algorithm.ZSTD, oci=True) == mediatype.OCI_LAYER_ZSTD
    assert layer_media_type(Algorithm.NONE, oci=True) == mediatype.OCI_LAYER
    assert layer_media_type(Algorithm.GZIP, oci=False) == mediatype.DOCKER_LAYER_GZIP
    assert layer_media_type(Algorithm.NONE, oci=False) == mediatype.DOCKER_LAYER
    with pytest.raises(CompressionError, match="zstd-compressed layers is not defined in Docker"):
        layer_media_type(Algorithm.ZSTD, oci=False)
    with pytest.raises(CompressionError, match="bzip2-compressed layers is not defined"):
        layer_media_type(Algorithm.BZIP2, oci=True)
    assert algorithm_for_media_type(mediatype.DOCKER_FOREIGN_LAYER_GZIP) is Algorithm.GZIP
    assert algorithm_for_media_type(mediatype.OCI_LAYER_ZSTD) is Algorithm.ZSTD
    assert algorithm_for_media_type(mediatype.OCI_CONFIG) is None


@pytest.mark.parametrize("algorithm", [Algorithm.GZIP, Algorithm.ZSTD])
def test_compress_pulls_only_what_it_needs(algorithm: Algorithm) -> None:
    source = CountingSource(64 << 20)
    stream = compress(source, algorithm)  # type: ignore[arg-type]
    assert source.consumed == 0
    first = stream.read(64 << 10)
    assert first
    assert source.consumed <= 4 << 20


@pytest.mark.parametrize("algorithm", [Algorithm.GZIP, Algorithm.ZSTD])
def test_compressing_a_whole_stream_keeps_memory_flat(algorithm: Algorithm) -> None:
    stream = compress(CountingSource(64 << 20), algorithm)  # type: ignore[arg-type]
    tracemalloc.start()
    try:
        while stream.read(1 << 20):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20  # a few chunks, not the 64 MiB that passed through


@pytest.mark.parametrize("algorithm", [Algorithm.GZIP, Algorithm.ZSTD])
def test_decompress_pulls_only_what_it_needs(algorithm: Algorithm) -> None:
    compressed = compress(CountingSource(8 << 20), algorithm).read()  # type: ignore[arg-type]
    source = io.BytesIO(compressed)
    stream = decompress(source)
    assert stream.read(64 << 10) == random.Random(1).randbytes(64 << 10)
    assert source.tell() <= 4 << 20


def test_concatenated_members_and_frames_are_read_whole() -> None:
    gz = gzip.compress(b"one") + gzip.compress(b"two")
    assert decompress(io.BytesIO(gz)).read() == b"onetwo"
    cctx = zstandard.ZstdCompressor()
    zs = cctx.compress(b"one") + cctx.compress(b"two")
    assert decompress(io.BytesIO(zs)).read() == b"onetwo"


TOOLS = {Algorithm.GZIP: "gzip", Algorithm.ZSTD: "zstd"}


@pytest.mark.parametrize("algorithm", [
    pytest.param(Algorithm.GZIP, marks=pytest.mark.requires_peer("gzip")),
    pytest.param(Algorithm.ZSTD, marks=pytest.mark.requires_peer("zstd")),
])
def test_command_line_tools_read_our_output_and_we_read_theirs(algorithm: Algorithm) -> None:
    data = os.urandom(300_000) + b"text " * 100_000
    ours = compress(io.BytesIO(data), algorithm).read()
    tool = TOOLS[algorithm]
    unpacked = subprocess.run([tool, "-d", "-c"], input=ours, capture_output=True, check=True,
                              timeout=60)
    assert unpacked.stdout == data
    theirs = subprocess.run([tool, "-c"], input=data, capture_output=True, check=True,
                            timeout=60).stdout
    assert detect(theirs) is algorithm
    assert decompress(io.BytesIO(theirs)).read() == data


@pytest.mark.parametrize("algorithm", [Algorithm.GZIP, Algorithm.ZSTD])
def test_highly_compressible_input_is_expanded_step_by_step(algorithm: Algorithm) -> None:
    zeros = compress(io.BytesIO(b"\0" * (256 << 20)), algorithm).read()
    stream = decompress(io.BytesIO(zeros))
    tracemalloc.start()
    try:
        for _ in range(8):
            assert stream.read(1 << 20) == b"\0" * (1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 << 20  # a few chunks, not the 256 MiB the input expands to


@pytest.mark.parametrize("module", [bz2, lzma])
def test_truncated_bzip2_and_xz_are_compression_errors(module: Any) -> None:
    data = module.compress(os.urandom(5000))
    with pytest.raises(CompressionError, match="truncated"):
        decompress(io.BytesIO(data[:-20])).read()
