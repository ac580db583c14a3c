"""Request bodies as the served registry reads them from cheroot: chunked ones whose broken
framing reads as a client gone, and Content-Length ones read straight from the socket into
the app's buffer (:mod:`fakeregistry.server` puts them in ``wsgi.input``)."""

from __future__ import annotations

import contextlib
import socket
import sys
from typing import Any

from cheroot import server as http
from werkzeug.exceptions import ClientDisconnected

READ_CHUNK = 1 << 16
"""The most a chunked body read takes from cheroot at once, and a drain's read size."""
_LOW_WATER = 1 << 18
"""Bytes a body read waits for on the socket before waking (see :class:`KnownLength`)."""
_SET_LOW_WATER = sys.platform == "linux"
"""Linux's recv waits for min(mark, bytes asked) and poll for the mark; other systems'
semantics differ, so there the mark is left alone."""


class Dechunked:
    """A chunked ``wsgi.input`` whose broken framing (a client gone mid-body, a bad chunk
    size) reads as werkzeug's ClientDisconnected, which the app answers as a body that
    ended early; once broken it stays broken, so what follows is never parsed.

    A read is made of pieces of at most :data:`READ_CHUNK` bytes, joined once: cheroot's
    ChunkedRFile grows its result by concatenation, one chunk at a time, so one read of
    1 MiB from a client sending 32 KiB chunks (Go's net/http, so skopeo) copied ~16 MiB,
    and a 128 MiB push gzipped by skopeo cost the fake 0.11 s of CPU in those copies alone.
    """

    def __init__(self, stream: http.ChunkedRFile) -> None:
        self._stream = stream
        self._broken = False

    def read(self, size: int | None = -1) -> bytes:
        """Up to *size* bytes; all that is left for None or a negative size."""
        wanted = -1 if size is None or size < 0 else size
        pieces: list[bytes] = []
        while wanted and (piece := self._take(
                self._stream.read, READ_CHUNK if wanted < 0 else min(wanted, READ_CHUNK))):
            pieces.append(piece)
            wanted -= len(piece) if wanted > 0 else 0
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def readline(self, size: int | None = -1) -> bytes:
        return self._take(self._stream.readline, None if size is None or size < 0 else size)

    def _take(self, reader: Any, size: int | None) -> bytes:
        if self._broken:
            raise ClientDisconnected()
        try:
            data: bytes = reader(size)
        except (OSError, ValueError) as exc:
            self._broken = True
            raise ClientDisconnected() from exc
        return data


class KnownLength(http.KnownLengthRFile):
    """A body framed by Content-Length that :meth:`readinto` reads straight from the
    socket into the caller's buffer: first what cheroot's reader holds past the headers,
    then ``recv_into``, until the buffer is full or the body ends.

    cheroot's reader is ``_pyio``'s BufferedReader: a 1 MiB ``read`` is a Python loop of
    raw reads, each into a new bytearray copied into bytes, then joined (three copies of
    every byte, ~130 Python-level reads per 128 MiB), and werkzeug's LimitedStream copies
    once more. :meth:`read` stays cheroot's (draining, short bodies).

    Plain sockets only: over TLS, the bytes after the body (a pipelined request) would be
    left decrypted inside the TLS layer, where cheroot, which looks only at its own buffer
    and the socket before waiting for the next request, would not see them.

    While it waits on the socket, the socket's receive low-water mark (``SO_RCVLOWAT``,
    Linux) is :data:`_LOW_WATER` bytes, never more than what is left of the body, and back
    to 1 before it returns: the thread then wakes once per 256 KiB or so, not for every
    few segments a fast client's bytes arrive in (a 512 MiB PATCH from skopeo: 11,878
    ``recv_into`` calls before, 1,991 after; the fake's CPU for that ingest 0.61 -> 0.48 s,
    docs/bench.md). Since the mark never exceeds the bytes the body still owes, a client
    that sends its whole body is never kept waiting for more.
    """

    def __init__(self, body: http.KnownLengthRFile, sock: socket.socket) -> None:
        super().__init__(body.rfile, body.remaining)
        self._socket = sock

    def readinto(self, buffer: bytearray | memoryview) -> int:
        view = memoryview(buffer).cast("B")
        want, filled, mark = min(len(view), self.remaining), 0, 1
        try:
            while filled < want:
                if self.rfile.has_data():  # bytes cheroot read past the headers
                    piece = self.rfile.read(min(want - filled, len(self.rfile.peek(0))))
                    view[filled:filled + len(piece)] = piece
                    count = len(piece)
                else:
                    mark = self._low_water(mark, min(_LOW_WATER, want - filled))
                    count = self._socket.recv_into(view[filled:want])
                if not count:
                    break  # the client hung up: the caller sees the body end early
                filled += count
        finally:
            with contextlib.suppress(OSError):  # a socket a drop fault closed
                self._low_water(mark, 1)  # cheroot reads the next request's headers
        self.remaining -= filled
        return filled

    def _low_water(self, current: int, wanted: int) -> int:
        """Set the socket's receive low-water mark to *wanted* if it is not *current*."""
        if _SET_LOW_WATER and wanted != current:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, wanted)
        return wanted
