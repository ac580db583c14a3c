"""A record of every request and response, in memory and optionally as JSON lines.

:class:`Recorder` is the WSGI middleware that writes it, outermost, so what it records
is what crossed the wire (faults included). Credentials never reach the record:
authorization and cookie headers are redacted.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO

from werkzeug.wrappers import Request

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

REDACTED = "<redacted>"
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


def redact(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Headers as a dict with credentials replaced (repeated names are joined by ', ')."""
    out: dict[str, str] = {}
    for name, value in headers:
        shown = REDACTED if name.lower() in _SECRET_HEADERS else value
        out[name] = f"{out[name]}, {shown}" if name in out else shown
    return out


@dataclass(frozen=True)
class Entry:
    """One exchange. Sizes are the body bytes that really crossed (after faults)."""

    method: str
    path: str
    query: str
    status: int
    request_headers: dict[str, str]
    response_headers: dict[str, str]
    request_bytes: int
    response_bytes: int
    started: float
    duration_ms: float
    fault: str | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


class Transcript:
    """Thread-safe list of :class:`Entry`; ``record_to`` appends each as a JSON line."""

    def __init__(self, record_to: Path | None = None) -> None:
        self._lock = threading.Lock()
        self.entries: list[Entry] = []
        self._file: IO[str] | None = (
            record_to.open("a", encoding="utf-8") if record_to is not None else None
        )

    def add(self, entry: Entry) -> None:
        with self._lock:
            self.entries.append(entry)
            if self._file is not None:
                self._file.write(entry.to_json() + "\n")
                self._file.flush()

    def requests(self, method: str | None = None, path: str | None = None,
                 status: int | None = None) -> list[Entry]:
        """Entries matching all given filters; *path* is a shell glob (``/v2/*/blobs/*``)."""
        with self._lock:
            entries = list(self.entries)
        return [
            e for e in entries
            if (method is None or e.method == method.upper())
            and (path is None or fnmatch.fnmatchcase(e.path, path))
            and (status is None or e.status == status)
        ]

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


FAULT_KEY = "fakeregistry.fault"
"""Environ key where the fault layer names the rule that fired (see :class:`Recorder`)."""
SETTLE_KEY = "fakeregistry.settle"
"""Environ key of a callable that records the exchange now: the fault layer calls it
before it cuts a connection, so the entry exists when the client sees the cut."""


class Recorder:
    """WSGI middleware: one :class:`Entry` per exchange, with the bytes really sent.

    The entry is written before the client can see the answer end, so a test that has
    seen it (served over a socket too) reads the entry at once: before the chunk that
    completes the Content-Length goes out, when the body runs out (before the server
    frames its end, or sends a bodiless answer's headers), or when a fault is about to
    cut the connection. Not at the body's close: the server calls that after the client
    may already have the whole answer.
    """

    def __init__(self, app: WSGIApplication, transcript: Transcript) -> None:
        self._app = app
        self._transcript = transcript

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        exchange = _Exchange(environ, start_response, self._transcript)
        environ[SETTLE_KEY] = exchange.settle  # before the app runs: the fault layer takes it
        exchange.body = self._app(environ, exchange.start_response)
        return exchange


class _CountingInput:
    """wsgi.input wrapper that counts the request body bytes read."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._stream.readline(size)
        self.count += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Into *buffer*, by the stream's own readinto when it has one (no copy)."""
        readinto = getattr(self._stream, "readinto", None)
        if readinto is None:
            data = self.read(len(buffer))
            buffer[: len(data)] = data
            return len(data)
        count: int = readinto(buffer) or 0
        self.count += count
        return count


class _Exchange:
    """One exchange under way and the response iterable: captures the answer's status and
    headers, counts the body bytes that go out, and records the entry once (see
    :class:`Recorder` for when)."""

    def __init__(self, environ: WSGIEnvironment, start_response: StartResponse,
                 transcript: Transcript) -> None:
        self._started, self._wall = time.perf_counter(), time.time()
        self._input = _CountingInput(environ["wsgi.input"])
        environ["wsgi.input"] = self._input
        self._request = Request(environ)
        self._environ = environ
        self._start_response = start_response
        self._transcript = transcript
        self._answer: tuple[str, list[tuple[str, str]]] = ("0", [])
        self._length: int | None = None  # the answer's Content-Length, once it is started
        self.body: Iterable[bytes] = ()
        self._sent = 0
        self._settled = False

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: OptExcInfo | None = None, /) -> Callable[[bytes], object]:
        self._answer = (status, headers)
        self._length = _content_length(headers)
        return self._start_response(status, headers, exc_info)

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self._sent += len(chunk)
            if self._length is not None and self._sent >= self._length:
                self.settle()  # this chunk completes the answer: record, then send it
            yield chunk
        self.settle()

    def settle(self) -> None:
        """Record the exchange with the bytes sent so far; later calls do nothing."""
        if self._settled:
            return
        self._settled = True
        status, headers = self._answer
        request = self._request
        self._transcript.add(Entry(
            method=request.method, path=request.path,
            query=request.query_string.decode("latin-1"), status=int(status.split()[0]),
            request_headers=redact(list(request.headers.items())),
            response_headers=redact(headers), request_bytes=self._input.count,
            response_bytes=self._sent, started=self._wall,
            duration_ms=(time.perf_counter() - self._started) * 1000,
            fault=self._environ.get(FAULT_KEY)))

    def close(self) -> None:
        close = getattr(self.body, "close", None)
        try:
            if close is not None:
                close()
        finally:
            self.settle()


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    for name, value in headers:
        if name.lower() == "content-length" and value.strip().isdigit():
            return int(value)
    return None
