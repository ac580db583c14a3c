"""ReadAhead hands out exactly the stream's bytes, in order, and passes errors on."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.copy.readahead import ReadAhead


@settings(max_examples=40)
@given(data=st.binary(max_size=5000), chunk=st.integers(1, 700),
       reads=st.lists(st.integers(1, 900), min_size=1, max_size=30))
def test_reads_of_any_size_return_the_stream(data: bytes, chunk: int, reads: list[int]) -> None:
    out = []
    with ReadAhead(io.BytesIO(data), chunk=chunk, depth=2) as stream:
        for size in reads:
            out.append(stream.read(size))
        out.append(stream.read())
        assert stream.read(10) == b""
    assert b"".join(out) == data


class _Failing(io.RawIOBase):
    def __init__(self) -> None:
        self.calls = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        if self.calls > 2:
            raise OSError("disk on fire")
        return b"x" * 10


def test_producer_errors_reach_the_reader() -> None:
    with ReadAhead(_Failing(), chunk=10) as stream:  # type: ignore[arg-type]
        assert stream.read(10) == b"x" * 10
        with pytest.raises(OSError, match="disk on fire"):
            while stream.read(10):
                pass


def test_close_stops_a_producer_blocked_on_a_full_queue() -> None:
    stream = ReadAhead(io.BytesIO(os.urandom(1 << 16)), chunk=16, depth=1)
    stream.read(1)
    stream.close()
    assert not stream._thread.is_alive()


class _Chunks(io.RawIOBase):
    """Hands out the given bytes objects themselves, one per read."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""


def test_whole_chunks_are_handed_over_without_a_copy() -> None:
    chunks = [bytes([n]) * 1000 for n in range(3)]
    with ReadAhead(_Chunks(chunks), chunk=1000, depth=2) as stream:
        assert stream.read(1000) is chunks[0]
        assert stream.read(4096) is chunks[1]
        assert stream.read(10) == chunks[2][:10]  # a part is a copy of that part only
        assert stream.read(4096) == chunks[2][10:]
        assert stream.read(1) == b""
