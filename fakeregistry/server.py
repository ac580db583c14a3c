"""Serve a registry over real HTTP(S) on loopback, for clients that are not Python.

cheroot (CherryPy's WSGI server) speaks the HTTP/1.1: connections are kept alive, as
distribution keeps them, so the Docker engine and ``requests`` do not pay a TCP (and TLS)
handshake per request; request bodies reach the app as streams, chunked ones dechunked
as the app reads them; idle connections wait in a selector, not in a thread. The gaps
closed here, each in a few lines: cheroot reads a request body the app left unread in
one piece (a refused 512 MiB PUT would sit in memory) and leaves a chunked one in the
stream (to be parsed as the next request); a broken chunked body raises ValueError inside
the app (a 500 and a traceback); it logs what clients do wrong, such as probing HTTPS, to
stderr; it does not hand the app the socket that the registry's drop faults cut; its listen
backlog is 5; and a new connection goes straight to a worker thread (with TLS, its
handshake runs on the one thread that accepts), so clients that connect and send nothing
stall every other client for the 10 s timeout. Here the backlog is the system's maximum,
as Go's listeners use, and a new connection waits in the selector, as idle kept-alive ones
do, until its first bytes arrive; the TLS handshake runs then, on the worker."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cheroot import server as http
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from werkzeug.exceptions import ClientDisconnected

from fakeregistry.bodies import READ_CHUNK, Dechunked, KnownLength
from fakeregistry.capacity import THREADS, WorkerPool, listen_backlog
from fakeregistry.registry import Registry
from harness.util.tls import make_tls_files

_NO_TLS_MESSAGE = b"The client sent a plain HTTP request, but this server only speaks HTTPS."
_LOG = logging.getLogger(__name__)


class _Request(http.HTTPRequest):
    """Reads what the app left of the request body, 64 KiB at a time, just before the
    answer goes out, so that the next request starts where this one ends; when it cannot
    (a broken framing, a timeout, a body framed both by Content-Length and chunked) the
    answer says ``Connection: close``."""

    def send_headers(self) -> None:
        if not self.close_connection and not self._drain():
            self.close_connection = True
        super().send_headers()

    def _drain(self) -> bool:
        if self.chunked_read and b"Content-Length" in self.inheaders:
            return False  # which framing the client meant is unknown
        try:
            while self.rfile.read(READ_CHUNK):
                pass
        except (OSError, ValueError, ClientDisconnected):
            return False
        return getattr(self.rfile, "remaining", 0) == 0  # not cut short by the client


class _Connection(http.HTTPConnection):
    """A connection whose TLS handshake, if any, runs on the worker that serves its first
    request, not on the accepting thread (see :class:`_DeferredTLS`)."""

    RequestHandlerClass = _Request
    has_spoken = False
    """Set when the connection first became readable; until then it waits in the selector."""

    def communicate(self) -> bool:
        try:
            handshaken = not isinstance(self.socket, ssl.SSLSocket) or _handshake(self.socket)
            return handshaken and bool(super().communicate())  # type: ignore[no-untyped-call]
        finally:
            self.server.requests.done()


def _handshake(sock: ssl.SSLSocket) -> bool:
    """Complete the server side of the TLS handshake (a no-op once done); False, quietly,
    when the client hung up or spoke something else, which plain HTTP is told in clear."""
    if sock.version() is not None:  # already handshaken
        return True
    try:
        sock.do_handshake()
    except ssl.SSLError as exc:
        if "http request" in str(exc).lower():
            _LOG.debug("plain HTTP on the TLS port: %s", exc)
            with contextlib.suppress(OSError):  # the socket under the TLS layer
                socket.socket.sendall(sock, b"HTTP/1.1 400 Bad Request\r\nContent-Type: "
                                      b"text/plain\r\nContent-Length: %d\r\n"
                                      b"Connection: close\r\n\r\n%s"
                                      % (len(_NO_TLS_MESSAGE), _NO_TLS_MESSAGE))
        else:
            _LOG.debug("TLS handshake failed: %s", exc)
        return False
    except OSError as exc:
        _LOG.debug("client gone during the TLS handshake: %s", exc)
        return False
    return True


class _DeferredTLS(BuiltinSSLAdapter):
    """cheroot's TLS adapter, minus the handshake at accept time (it runs on the thread
    that accepts every connection, so one silent client would stall them all)."""

    def __init__(self, certificate: str, private_key: str) -> None:
        super().__init__(certificate, private_key)
        # A client that half-closes without TLS's close_notify (a body cut short) still
        # reads its answer, as from Go's crypto/tls: OpenSSL 3 takes such an EOF as a
        # fatal error after which nothing more can be sent.
        self.context.options |= ssl.OP_IGNORE_UNEXPECTED_EOF

    def wrap(self, sock: socket.socket) -> tuple[ssl.SSLSocket, dict[str, str]]:
        return self.context.wrap_socket(sock, do_handshake_on_connect=False,
                                        server_side=True), {}


class _Gateway(wsgi.Gateway_10):
    def __init__(self, req: _Request) -> None:
        if req.chunked_read:  # before the environ is made from it
            req.rfile = Dechunked(req.rfile)
        elif isinstance(req.rfile, http.KnownLengthRFile) and not isinstance(
                req.conn.socket, ssl.SSLSocket):
            req.rfile = KnownLength(req.rfile, req.conn.socket)
        super().__init__(req)
        # As werkzeug's server: the registry's drop faults shut the connection down.
        self.env["werkzeug.socket"] = req.conn.socket


class _Server(wsgi.Server):
    """cheroot's WSGI server with the gaps above closed."""

    ConnectionClass = _Connection
    keep_alive_conn_limit = 1024  # idle connections kept (cheroot's default: 10)

    def __init__(self, address: tuple[str, int], app: Any) -> None:
        super().__init__(address, app)
        self.requests = WorkerPool(self, THREADS)
        self.gateway = _Gateway
        self.request_queue_size = listen_backlog()

    def process_conn(self, conn: _Connection) -> None:
        """A new connection waits in the selector until it sends something (or until it
        expires after :attr:`timeout`), so silent clients hold no worker thread."""
        if not conn.has_spoken:
            conn.has_spoken = True
            self._connections.put(conn)  # type: ignore[attr-defined]
            return
        super().process_conn(conn)

    def stop(self) -> None:
        """cheroot's stop without its wait of up to half a second: its selector loop looks
        for a stop request only between select() calls of ``expiration_interval`` (0.5 s),
        so the request is made first and one connection to the listening socket (which
        the selector watches) ends the current select at once."""
        connections = getattr(self, "_connections", None)
        if self.ready and connections is not None and isinstance(self.bind_addr, tuple):
            connections._stop_requested = True
            with contextlib.suppress(OSError), socket.create_connection(
                    self.bind_addr[:2], timeout=1.0):
                pass
        super().stop()

    def error_log(self, msg: str = "", level: int = logging.INFO,
                  traceback: bool = False) -> None:
        """To logging at DEBUG, not stderr, for what clients do (probe HTTPS, hang up
        mid-handshake: INFO; a connection dropped, as by a drop fault: WARNING); an app's
        exception (ERROR) still shows, with its traceback."""
        _LOG.log(level if level >= logging.ERROR else logging.DEBUG, "%s", msg,
                 exc_info=traceback)


@dataclass(frozen=True)
class Server:
    """A running server: ``url`` for clients, ``host`` as ``127.0.0.1:PORT`` for image
    references, ``ca_file`` to trust when TLS is on."""

    url: str
    host: str
    ca_file: Path | None
    wsgi_server: wsgi.Server


@contextlib.contextmanager
def serve(registry: Registry, host: str = "127.0.0.1", port: int = 0,
          tls: bool = False) -> Iterator[Server]:
    """Run *registry* on a background thread for the duration of the block; leaving it
    closes idle kept-alive connections too."""
    with contextlib.ExitStack() as stack:
        server = _Server((host, port), registry.wsgi_app)
        ca_file: Path | None = None
        if tls:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="fakeregistry-tls-")))
            files = make_tls_files(directory, (host, "localhost"))
            server.ssl_adapter = _DeferredTLS(str(files.cert_file), str(files.key_file))
            ca_file = files.ca_file
        server.prepare()  # binds and listens; OSError when the port is taken
        address = f"{host}:{server.bind_addr[1]}"
        thread = threading.Thread(target=server.serve, name=f"fakeregistry {address}",
                                  daemon=True)
        thread.start()
        try:
            yield Server(f"{'https' if tls else 'http'}://{address}", address, ca_file, server)
        finally:
            server.stop()
            thread.join()
