"""The one bridge from chunks to a stream: every byte once, in order; linear copying."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable, Iterator
from typing import BinaryIO

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.util.chunkstream import ChunkReader

MIB = 1 << 20
CHUNKS = st.lists(st.binary(max_size=300) | st.binary(max_size=3).map(lambda b: b + b"\n"),
                  max_size=12)
OPS = st.lists(st.tuples(st.sampled_from(["read", "readinto", "readline", "rest", "iter"]),
                         st.integers(min_value=-1, max_value=700)), max_size=30)


def _raw(chunks: list[bytes]) -> BinaryIO:
    return ChunkReader(chunks)  # type: ignore[return-value]


def _buffered(chunks: list[bytes]) -> BinaryIO:
    """As the in-process fake wraps it (a small buffer, so refills split chunks)."""
    return io.BufferedReader(ChunkReader(chunks), 64)  # type: ignore[return-value]


def _take(stream: BinaryIO, op: str, size: int) -> bytes:
    if op == "read":
        return stream.read(size)
    if op == "readinto":
        buffer = bytearray(max(size, 0))
        got = stream.readinto(buffer)
        return bytes(buffer[:got])
    if op == "readline":
        return stream.readline(size)
    if op == "iter":
        return next(stream, b"")
    return stream.read()


@settings(max_examples=300)
@given(chunks=CHUNKS, ops=OPS, wrap=st.sampled_from([_raw, _buffered]))
def test_bytes_read_are_the_bytes_given_in_order(
        chunks: list[bytes], ops: list[tuple[str, int]],
        wrap: Callable[[list[bytes]], BinaryIO]) -> None:
    whole = b"".join(chunks)
    stream = wrap(chunks)
    got = bytearray()
    for op, size in ops:
        piece = _take(stream, op, size)
        if op in {"read", "readinto"} and size >= 0:
            assert len(piece) <= size
        if op in {"readline", "iter"} and piece and (size < 0 or len(piece) < size):
            assert piece.endswith(b"\n") or len(got) + len(piece) == len(whole)
        got += piece
    got += stream.read()
    assert bytes(got) == whole
    assert stream.read(1) == b"" and stream.read() == b"" and list(stream) == []


@settings(max_examples=100)
@given(chunks=CHUNKS, size=st.integers(min_value=1, max_value=500))
def test_fixed_size_reads_end_with_an_empty_read(chunks: list[bytes], size: int) -> None:
    stream = _raw(chunks)
    got = list(iter(lambda: stream.read(size), b""))
    assert b"".join(got) == b"".join(chunks)
    assert all(piece for piece in got)


def test_whole_chunks_are_handed_out_uncopied_and_split_on_demand() -> None:
    chunks = [b"a" * 10, b"", b"b" * 5, b"c" * 7]
    reader = ChunkReader(chunks)
    first = reader.read(10)
    assert first is chunks[0]
    assert reader.read(3) == b"bbb"
    assert reader.read(100) == b"bb"
    assert reader.read(-1) == b"c" * 7
    assert reader.read(1) == b""


def test_str_and_buffer_chunks_are_bytes() -> None:
    reader = ChunkReader(["é", bytearray(b"x"), memoryview(b"yz")])
    assert [reader.read(10) for _ in range(4)] == ["é".encode(), b"x", b"yz", b""]
    assert type(ChunkReader([bytearray(b"ab")]).read(5)) is bytes


def test_closing_closes_the_source() -> None:
    closed: list[bool] = []

    def chunks() -> Iterator[bytes]:
        try:
            yield b"first"
            yield b"second"
        finally:
            closed.append(True)

    stream = io.BufferedReader(ChunkReader(chunks()))
    assert stream.read(2) == b"fi"
    stream.close()
    assert closed == [True]


def _peak_while_reading(stream: BinaryIO, size: int, total: int) -> int:
    """The most memory allocated at once while *stream* is read *size* bytes at a time."""
    tracemalloc.start()
    try:
        seen = 0
        while piece := stream.read(size):
            seen += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == total
    return peak


def test_a_big_chunk_in_small_reads_copies_only_what_is_read() -> None:
    """Re-slicing the rest on every read allocated a copy of nearly the whole chunk per
    read (64 MiB in 64 KiB reads: ~32 GiB copied); a read must allocate only its result."""
    chunk = bytes(64 * MIB)
    assert _peak_while_reading(_raw([chunk]), 64 << 10, len(chunk)) < MIB
    peak = _peak_while_reading(io.BufferedReader(ChunkReader([chunk]), MIB),  # type: ignore[arg-type]
                               64 << 10, len(chunk))
    assert peak < 3 * MIB
