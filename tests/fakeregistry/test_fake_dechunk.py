"""The served fake's chunked request bodies: what the app reads is the body, whatever the
client's chunk sizes and the app's read sizes, and a broken framing reads as a body that
ended early."""

from __future__ import annotations

import io

import pytest
from cheroot.server import ChunkedRFile
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import ClientDisconnected

from fakeregistry.bodies import READ_CHUNK, Dechunked


def _chunked(chunks: list[bytes]) -> bytes:
    framed = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks if chunk]
    return b"".join(framed) + b"0\r\n\r\n"


def _stream(chunks: list[bytes]) -> Dechunked:
    return Dechunked(ChunkedRFile(io.BufferedReader(io.BytesIO(_chunked(chunks))), 0))


def _read_all(stream: Dechunked, sizes: list[int], length: int) -> bytes:
    """The body (*length* bytes) read with *sizes* in turn (cycled); every read is as
    long as asked (one short read is the end)."""
    parts: list[bytes] = []
    for index in range(length * len(sizes) + len(sizes) + 1):
        size = sizes[index % len(sizes)]
        part = stream.read(size)
        parts.append(part)
        if len(part) < size:
            assert stream.read(1) == b""
            return b"".join(parts)
        assert len(part) == size
    raise AssertionError("the body never ended")


@settings(max_examples=60)
@given(chunks=st.lists(st.binary(max_size=3 * READ_CHUNK // 2), max_size=6)
       .map(lambda chunks: [*chunks, bytes(range(256)) * 300]),
       sizes=st.lists(st.sampled_from([0, 1, 7, READ_CHUNK - 1, READ_CHUNK, READ_CHUNK + 1,
                                       1 << 20]),
                      min_size=1, max_size=4).filter(any))
def test_reads_of_any_size_give_the_body(chunks: list[bytes], sizes: list[int]) -> None:
    """The last chunk is longer than a piece (:data:`READ_CHUNK`), so reads span pieces."""
    body = b"".join(chunks)
    stream = _stream(chunks)
    assert _read_all(stream, sizes, len(body)) == body
    assert stream.read(1 << 20) == b""


@pytest.mark.parametrize("size", [None, -1])
def test_read_without_a_size_gives_the_rest(size: int | None) -> None:
    chunks = [b"a" * 40_000] * 5 + [b"end"]
    stream = _stream(chunks)
    assert stream.read(3) == b"aaa"
    assert stream.read(size) == b"".join(chunks)[3:]
    assert stream.read(size) == b""


def test_a_bad_chunk_size_reads_as_a_body_cut_short_and_stays_so() -> None:
    stream = Dechunked(ChunkedRFile(io.BufferedReader(io.BytesIO(
        b"5\r\nhello\r\nzz\r\nGET / HTTP/1.1\r\n\r\n")), 0))
    with pytest.raises(ClientDisconnected):
        stream.read(1 << 20)
    with pytest.raises(ClientDisconnected):
        stream.read(1)
