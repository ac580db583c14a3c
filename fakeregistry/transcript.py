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
    """WSGI middleware: one :class:`Entry` per exchange, with the bytes really sent."""

    def __init__(self, app: WSGIApplication, transcript: Transcript) -> None:
        self._app = app
        self._transcript = transcript

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        started, wall = time.perf_counter(), time.time()
        counter = _CountingInput(environ["wsgi.input"])
        environ["wsgi.input"] = counter
        request = Request(environ)
        sent_headers: list[tuple[str, list[tuple[str, str]]]] = []

        def capture(status: str, headers: list[tuple[str, str]],
                    exc_info: object = None, /) -> object:
            sent_headers.append((status, headers))
            return start_response(status, headers, exc_info)  # type: ignore[arg-type]

        def finish(sent: int) -> None:
            status, headers = sent_headers[0] if sent_headers else ("0", [])
            self._transcript.add(Entry(
                method=request.method, path=request.path,
                query=request.query_string.decode("latin-1"), status=int(status.split()[0]),
                request_headers=redact(list(request.headers.items())),
                response_headers=redact(headers), request_bytes=counter.count,
                response_bytes=sent, started=wall,
                duration_ms=(time.perf_counter() - started) * 1000,
                fault=environ.get(FAULT_KEY)))

        body = _CountedBody(self._app(environ, capture), finish)  # type: ignore[arg-type]
        environ[SETTLE_KEY] = body.settle
        return body


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


class _CountedBody:
    """The response iterable: counts the bytes that go out, records once at the end."""

    def __init__(self, inner: Iterable[bytes], finish: Callable[[int], None]) -> None:
        self._inner = inner
        self._finish = finish
        self._sent = 0
        self._settled = False

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._sent += len(chunk)
            yield chunk

    def settle(self) -> None:
        if not self._settled:
            self._settled = True
            self._finish(self._sent)

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        try:
            if close is not None:
                close()
        finally:
            self.settle()
