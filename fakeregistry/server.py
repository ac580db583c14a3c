"""Serve a registry over real HTTP(S) on loopback, for clients that are not Python.

Connections are kept alive (HTTP/1.1), as distribution keeps them: skopeo, the Docker
engine and ``requests`` would otherwise pay a TCP (and TLS) handshake per request.
werkzeug's own ``run_wsgi`` closes every connection, so the handler here frames each
exchange itself: the request body is never read past its end, every response is
delimited by its Content-Length or chunked, and the connection is closed whenever
the framing cannot be trusted.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import ssl
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from werkzeug.exceptions import InternalServerError
from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler

from fakeregistry.registry import Registry
from harness.util.tls import make_tls_files

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

DRAIN_LIMIT = 256 << 10
"""Unread request body drained before an answer to keep the connection; beyond it the
connection closes. Go's net/http (so distribution) uses the same 256 KiB."""
LINGER_SECONDS = 2.0
"""How long the rest of an oversized unread body is read and dropped before closing, so
a client still sending it reads the answer instead of a connection reset."""
_CHUNK = 1 << 16
_DROPPED = (ConnectionError, socket.timeout, ssl.SSLError)


class _RequestBody:
    """``wsgi.input`` that never reads past the body's end, so what is left is known.

    *size* is the Content-Length, or None for a chunked body (werkzeug's dechunking
    stream ends by itself)."""

    def __init__(self, stream: BinaryIO, size: int | None) -> None:
        self._stream = stream
        self._left = size
        self.ended = size == 0

    def read(self, size: int = -1) -> bytes:
        return self._take(self._stream.read, size)

    def readline(self, size: int = -1) -> bytes:
        return self._take(self._stream.readline, size)

    def _take(self, reader: Callable[[int], bytes], size: int) -> bytes:
        if self.ended or size == 0:
            return b""
        if self._left is not None:
            size = self._left if size < 0 else min(size, self._left)
        data = reader(size)
        if self._left is not None:
            self._left -= len(data)
        self.ended = not data or self._left == 0
        return data

    def discard(self, limit: int) -> bool:
        """Read and drop at most *limit* unread bytes; whether the body ended within them."""
        if self._left is not None and self._left > limit:
            return False
        try:
            while not self.ended and limit > 0:
                limit -= len(self.read(min(_CHUNK, limit)))
        except (OSError, ValueError):  # a broken chunked framing, or a timeout
            return False
        return self.ended


class _Response:
    """One response, delimited by its Content-Length (cut to it) or chunked; a body the
    framing cannot carry (short, or for an HTTP/1.0 client) closes the connection."""

    def __init__(self, handler: _KeepAliveHandler) -> None:
        self._handler = handler
        self._status = ""
        self._headers: list[tuple[str, str]] = []
        self.started = False
        self._bodyless = False
        self._chunked = False
        self._left: int | None = None  # bytes still owed under Content-Length

    def run(self, app: WSGIApplication) -> None:
        chunks = app(self._handler.environ, self._start_response)
        try:
            for data in chunks:
                self._write(data)
            if not self.started:
                self._send_head()
            if self._chunked:
                self._handler.wfile.write(b"0\r\n\r\n")
            elif self._left:
                self._handler.close_connection = True  # the body came up short
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _start_response(self, status: str, headers: list[tuple[str, str]],
                        exc_info: Any = None) -> Callable[[bytes], None]:
        if exc_info is not None and self.started:
            raise exc_info[1].with_traceback(exc_info[2])
        self._status, self._headers = status, headers
        return self._write

    def _send_head(self) -> None:
        handler = self._handler
        code, _, reason = self._status.partition(" ")
        status = int(code)
        self._bodyless = handler.command == "HEAD" or status < 200 or status in {204, 304}
        length = [value for name, value in self._headers if name.lower() == "content-length"]
        if length and not self._bodyless:
            self._left = int(length[0])
        elif not self._bodyless:
            self._chunked = handler.request_version == "HTTP/1.1"
            if not self._chunked:  # an HTTP/1.0 client: the body ends where the connection does
                handler.close_connection = True
        if not handler.request_body.discard(DRAIN_LIMIT):
            handler.close_connection = True
        handler.send_response(status, reason)
        for name, value in self._headers:
            handler.send_header(name, value)
        if self._chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        if handler.close_connection:
            handler.send_header("Connection", "close")
        handler.end_headers()
        self.started = True

    def _write(self, data: bytes) -> None:
        if not self.started:
            self._send_head()
        if self._bodyless or not data:
            return
        if self._left is not None:
            if len(data) > self._left:  # more than promised would be read as a response
                data = data[: self._left]
                self._handler.close_connection = True
            self._left -= len(data)
        elif self._chunked:
            data = b"%x\r\n%s\r\n" % (len(data), data)
        self._handler.wfile.write(data)


class _KeepAliveHandler(WSGIRequestHandler):
    """Keeps connections alive between exchanges; logs nothing (the transcript is the
    request log, and clients that probe HTTPS first would fill stderr with errors)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and a small body go out as two writes
    server: _KeepAliveServer
    request_body: _RequestBody
    rfile: io.BufferedReader  # socketserver makes it buffered (rbufsize -1): it can peek

    def handle_one_request(self) -> None:
        if self.server.wait_for_request(self.connection, self.rfile):
            super().handle_one_request()
        else:
            self.close_connection = True

    def make_environ(self) -> WSGIEnvironment:
        environ = super().make_environ()
        lengths = self.headers.get_all("Content-Length") or []
        codings = [c.strip().lower() for c in self.headers.get_all("Transfer-Encoding") or []]
        size: int | None
        if environ.get("wsgi.input_terminated"):  # werkzeug dechunks it
            size, trusted = None, not lengths and codings == ["chunked"]
        else:
            text = lengths[0].strip() if lengths else "0"
            trusted = len(lengths) <= 1 and not codings and text.isascii() and text.isdigit()
            size = int(text) if trusted else 0
        # Bytes of a body whose end is unknown would be parsed as the next request.
        self.close_connection |= not trusted
        self.request_body = _RequestBody(environ["wsgi.input"], size)
        environ["wsgi.input"] = self.request_body
        return environ

    def run_wsgi(self) -> None:
        """One exchange, framed so that the connection can carry the next one."""
        if self.headers.get("Expect", "").lower().strip() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = self.make_environ()
        response = _Response(self)
        try:
            response.run(self.server.app)
        except _DROPPED:
            self.close_connection = True
            return
        except Exception:
            self.close_connection = True
            self.server.log("error", "Error on request:\n%s", traceback.format_exc())
            if response.started:
                return
            with contextlib.suppress(*_DROPPED):
                _Response(self).run(InternalServerError())
        if self.close_connection and not self.request_body.ended:
            self._linger()

    def _linger(self) -> None:
        self.connection.settimeout(LINGER_SECONDS)
        deadline = time.monotonic() + LINGER_SECONDS
        with contextlib.suppress(OSError, ValueError):  # a timeout, or a broken framing
            while not self.request_body.ended and time.monotonic() < deadline:
                self.request_body.read(_CHUNK)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: object) -> None:
        pass


class _KeepAliveServer(ThreadedWSGIServer):
    """werkzeug's threaded server (daemon threads) that knows its idle connections, so
    stopping it closes them and their threads end instead of waiting on the clients."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._idle: set[socket.socket] = set()
        self._idle_lock = threading.Lock()
        self._stopping = False

    def wait_for_request(self, connection: socket.socket, rfile: io.BufferedReader) -> bool:
        """Whether another request arrives (False: the client closed, or we stop)."""
        with self._idle_lock:
            if self._stopping:
                return False
            self._idle.add(connection)
        try:
            return bool(rfile.peek(1))
        finally:
            with self._idle_lock:
                self._idle.discard(connection)

    def close_idle(self) -> None:
        with self._idle_lock:
            self._stopping = True
            for connection in self._idle:
                # socket.socket's own shutdown: SSLSocket's would drop its SSL object
                # under the thread that is reading.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(connection, socket.SHUT_RDWR)


@dataclass(frozen=True)
class Server:
    """A running server: ``url`` for clients, ``host`` as ``127.0.0.1:PORT`` for image
    references, ``ca_file`` to trust when TLS is on."""

    url: str
    host: str
    ca_file: Path | None
    wsgi_server: BaseWSGIServer


@contextlib.contextmanager
def serve(registry: Registry, host: str = "127.0.0.1", port: int = 0,
          tls: bool = False) -> Iterator[Server]:
    """Run *registry* on a background thread for the duration of the block."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with contextlib.ExitStack() as stack:
        context: ssl.SSLContext | None = None
        ca_file: Path | None = None
        if tls:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="fakeregistry-tls-")))
            files = make_tls_files(directory, (host, "localhost"))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(files.cert_file, files.key_file)
            ca_file = files.ca_file
        server = _KeepAliveServer(host, port, registry.wsgi_app, _KeepAliveHandler,
                                  ssl_context=context)
        address = f"{host}:{server.server_port}"
        thread = threading.Thread(target=server.serve_forever, name=f"fakeregistry {address}",
                                  daemon=True)
        thread.start()
        try:
            yield Server(f"{'https' if tls else 'http'}://{address}", address, ca_file, server)
        finally:
            server.shutdown()
            server.close_idle()
            server.server_close()
            thread.join()
