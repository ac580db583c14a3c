"""Serve a registry to ``requests`` without a socket, through the ``responses`` library.

One ``responses`` mock is shared by every active :func:`inprocess` block: it routes each
request whose URL is under a registered base URL to that registry's WSGI app and lets
every other host pass through to the network. A served base URL's host name is the fake's
own: its other schemes and ports are refused at once, as closed ports are, so that a
client's https-then-http probe of ``http://registry.fake`` never looks the name up (the
lookup would leave the machine; the project targets loopback only). Request bodies given
as generators or files are streamed into the app, and large response bodies stream back out.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn
from urllib.parse import unquote, urlsplit

import requests
import responses
from requests import PreparedRequest
from requests.adapters import HTTPAdapter
from responses.registries import FirstMatchRegistry

from fakeregistry.registry import Registry
from harness.util.chunkstream import ChunkReader
from harness.util.errors import HarnessError

WSGIApp = Callable[[Any, Any], Iterable[bytes]]
_EAGER_LIMIT = 1 << 20


class _Unrecorded(responses.CallList):
    """A call list that keeps nothing: ``responses`` records every request and response
    (headers, and the body stream of each answer) for tests that mock by hand, but the
    fake's own mock has no reader of them, and a process pushing 100 small images through
    it grew by ~20 MB of them (the registry's transcript is the record of its traffic)."""

    def add(self, request: Any, response: Any) -> None:
        pass

    def add_call(self, call: Any) -> None:
        pass


class _StreamingMock(responses.RequestsMock):
    """``responses`` reads file bodies into memory first; keep them as streams instead.
    Calls are not recorded (:class:`_Unrecorded`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._calls = _Unrecorded()

    def _read_filelike_body(self, body: Any) -> Any:
        return body


class _Callback(responses.CallbackResponse):
    """What a request to a served base URL (or a refused one) gets; whatever its method:
    :class:`_Routes` chose it. Its calls are not recorded either."""

    def __init__(self, base_url: str, answer: Callable[[PreparedRequest], Any]) -> None:
        super().__init__("GET", base_url, answer)
        self._calls = _Unrecorded()


class _Routes(FirstMatchRegistry):
    """The mock's table of routes: a URL under a served base URL (the base, then ``/``,
    ``?`` or nothing) goes to that base's registry; any other URL on a served base's host
    is refused, as a closed port refuses; every other URL is not the fake's, and
    ``responses`` passes it through. A lookup per request, where a route per method and a
    regular expression per base URL cost each fake ~0.7 ms to compile (the pytest plugin
    starts one per test)."""

    def __init__(self) -> None:
        super().__init__()
        # Replaced whole under the router's lock, never changed in place: a request in
        # another thread reads one consistent table.
        self._served: dict[str, _Callback] = {}
        self._hosts: frozenset[str] = frozenset()

    def serve(self, served: dict[str, _Callback]) -> None:
        self._served = served
        self._hosts = frozenset(_host(base) for base in served)

    def find(self, request: PreparedRequest) -> tuple[responses.BaseResponse | None, list[str]]:
        url = str(request.url)
        for base, route in self._served.items():
            if url.startswith(base) and url[len(base):len(base) + 1] in ("", "/", "?"):
                return route, []
        if _host(url) in self._hosts:
            return _REFUSAL, []
        return None, []


class _Router:
    """The one mock, and the registry served at each base URL through it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._served: dict[str, _Callback] = {}
        self._mock: _StreamingMock | None = None

    def add(self, base_url: str, app: WSGIApp) -> None:
        with self._lock:
            if base_url in self._served:
                raise InProcessError(f"{base_url} is already served in process")
            if self._mock is None:
                # Pass other hosts to whatever send is in place now, so an outer
                # ``responses`` mock of the caller keeps working inside the block.
                self._mock = _StreamingMock(assert_all_requests_are_fired=False,
                                            real_adapter_send=HTTPAdapter.send,
                                            registry=_Routes)
                self._mock.add_passthru(re.compile(".*"))
                self._mock.start()
            self._served = {**self._served,
                            base_url: _Callback(base_url, functools.partial(call_wsgi, app))}
            self._routes().serve(self._served)

    def remove(self, base_url: str) -> None:
        with self._lock:
            assert self._mock is not None
            self._served = {base: route for base, route in self._served.items()
                            if base != base_url}
            self._routes().serve(self._served)
            if not self._served:
                self._mock.stop(allow_assert=False)
                self._mock = None

    def _routes(self) -> _Routes:
        assert self._mock is not None
        routes = self._mock.get_registry()
        assert isinstance(routes, _Routes)
        return routes


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


def _refused(request: PreparedRequest) -> NoReturn:
    """A port of a fake's host that nothing serves: refused, as by a closed port."""
    refusal = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    raise requests.ConnectionError(refusal, request=request) from refusal


_REFUSAL = _Callback("", _refused)


class InProcessError(HarnessError):
    """Two registries asked for the same base URL at once."""


def call_wsgi(app: WSGIApp, request: PreparedRequest) -> tuple[int, dict[str, str], Any]:
    """Run one prepared request through *app*; return (status, headers, body)."""
    parts = urlsplit(str(request.url))
    secure = parts.scheme == "https"
    environ: dict[str, object] = {
        "REQUEST_METHOD": str(request.method),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(parts.path) or "/",
        "QUERY_STRING": parts.query,
        "SERVER_NAME": parts.hostname or "localhost",
        "SERVER_PORT": str(parts.port or (443 if secure else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme,
        "wsgi.input": _request_stream(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        if key in {"CONTENT_TYPE", "CONTENT_LENGTH"}:
            environ[key] = value
        else:
            environ[f"HTTP_{key}"] = value
    if "CONTENT_LENGTH" not in environ:
        # A generator body is sent chunked: the app reads until the stream ends.
        environ["wsgi.input_terminated"] = True
    captured: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], *_: object) -> None:
        captured.append((status, headers))

    chunks = app(environ, start_response)
    status, headers = captured[0]
    header_map: dict[str, str] = {}
    for name, value in headers:
        header_map[name] = f"{header_map[name]}, {value}" if name in header_map else value
    length = int(header_map.get("Content-Length", "0") or 0)
    if request.method == "HEAD" or length <= _EAGER_LIMIT:
        # Small bodies are read now, so the transcript entry exists when the call returns.
        try:
            data = b"".join(chunks)
        except OSError as exc:  # a dropped-connection fault: what requests would raise
            raise requests.ConnectionError(exc, request=request) from exc
        finally:
            _close(chunks)
        return int(status.split()[0]), header_map, data
    return int(status.split()[0]), header_map, io.BufferedReader(ChunkReader(chunks), 1 << 20)


def _close(chunks: Iterable[bytes]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


def _request_stream(body: object) -> io.RawIOBase | Any:
    if body is None:
        return io.BytesIO()
    if isinstance(body, str):
        return io.BytesIO(body.encode())
    if isinstance(body, bytes | bytearray):
        return io.BytesIO(bytes(body))
    if hasattr(body, "read"):
        return body
    return io.BufferedReader(ChunkReader(body), 1 << 20)  # type: ignore[arg-type]


_ROUTER = _Router()


@contextlib.contextmanager
def inprocess(registry: Registry, base_url: str = "http://registry.fake") -> Iterator[str]:
    """Route ``requests`` traffic for *base_url* into *registry* while the block runs."""
    base = base_url.rstrip("/")
    _ROUTER.add(base, registry.wsgi_app)
    try:
        yield base
    finally:
        _ROUTER.remove(base)
