"""Many clients at once, and clients that connect and say nothing, over real sockets.

The bounds here are counts (every connection queued, every request answered, no worker
held), never a wall-clock deadline; the socket timeouts only stop a broken server from
hanging the test. How fast 500 requests at once are answered is measured in
``bench/fakeregistry.py`` (fakeregistry-burst) and recorded in docs/fakeregistry.md.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fakeregistry import Registry, serve
from fakeregistry.capacity import START, THREADS
from fakeregistry.server import Server, _Server, listen_backlog

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

HANG_GUARD = 60.0  # seconds a socket waits before the test fails instead of hanging
PING = b"GET /v2/ HTTP/1.1\r\nHost: load\r\nConnection: close\r\n\r\n"


def _address(server: Server) -> tuple[str, int]:
    host, port = server.host.rsplit(":", 1)
    return host, int(port)


def _ping(server: Server, context: ssl.SSLContext | None = None) -> bytes:
    """The status line of ``GET /v2/`` on a connection of its own."""
    with contextlib.ExitStack() as stack:
        sock = stack.enter_context(socket.create_connection(_address(server), HANG_GUARD))
        if context is not None:
            sock = stack.enter_context(context.wrap_socket(sock, server_hostname="127.0.0.1"))
        sock.sendall(PING)
        return sock.makefile("rb").readline().rstrip()


def _tls_context(server: Server) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=str(server.ca_file)) if server.ca_file else None


def test_listen_backlog_is_the_system_maximum(tmp_path: Path) -> None:
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    assert listen_backlog() == somaxconn
    for text, expected in [("8192\n", 8192), ("0\n", socket.SOMAXCONN),
                           ("junk\n", socket.SOMAXCONN)]:
        (tmp_path / "somaxconn").write_text(text)
        assert listen_backlog(tmp_path / "somaxconn") == expected
    assert listen_backlog(tmp_path / "missing") == socket.SOMAXCONN


def test_500_connections_queue_while_nothing_accepts() -> None:
    """The kernel completes and queues 500 handshakes while the server accepts none (a
    backlog of 5 would leave the 7th client retransmitting its SYN until the guard)."""
    server = _Server(("127.0.0.1", 0), Registry().wsgi_app)
    server.prepare()  # listening, but no thread accepts yet
    try:
        with contextlib.ExitStack() as stack:
            for _ in range(500):
                stack.enter_context(socket.create_connection(server.bind_addr, HANG_GUARD))
    finally:
        server.stop()


def test_500_concurrent_pings_all_answer_200() -> None:
    clients = 500
    start = threading.Barrier(clients, timeout=HANG_GUARD)

    def ping(server: Server) -> bytes:
        start.wait()
        return _ping(server)

    with serve(Registry()) as server, ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(ping, [server] * clients))  # a connection error raises here
    assert answers == [b"HTTP/1.1 200 OK"] * clients


@contextlib.contextmanager
def _silent(server: Server, count: int) -> Iterator[list[socket.socket]]:
    """*count* connections that send nothing, all accepted by the server when yielded."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.create_connection(_address(server), HANG_GUARD))
                   for _ in range(count)]
        assert _ping(server, _tls_context(server)) == b"HTTP/1.1 200 OK"
        yield sockets


@pytest.mark.parametrize("tls", [False, True])
def test_silent_connections_hold_no_worker_and_do_not_delay_others(tls: bool) -> None:
    """200 clients that connect and say nothing, more than the THREADS workers (before,
    each held one for the 10 s timeout, and with TLS one stalled every handshake)."""
    with serve(Registry(), tls=tls) as server, _silent(server, 200):
        # The ping above was accepted after all 200 (one listen queue, in order) and
        # answered while they were open; they wait in the selector, not in a worker.
        assert server.wsgi_server._connections._num_connections == 200
        assert [_ping(server, _tls_context(server)) for _ in range(3)] == [
            b"HTTP/1.1 200 OK"] * 3


def test_a_silent_connection_is_closed_after_the_timeout() -> None:
    with serve(Registry()) as server:
        server.wsgi_server.timeout = 0.2  # cheroot's default is 10 s
        with _silent(server, 1) as (sock,):
            assert sock.recv(1) == b""  # closed by the server, not by the guard


def _workers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("CP Server")}


def test_workers_start_as_requests_need_them_and_serve_threads_requests_at_once() -> None:
    """A served fake starts START workers; THREADS requests that each wait inside the app
    until all THREADS are in it (a barrier: it breaks if any one of them is left queued)
    are answered, and the pool has then grown to THREADS workers, no more."""
    registry = Registry()
    app, meeting = registry.wsgi_app, threading.Barrier(THREADS, timeout=HANG_GUARD)

    def met(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        meeting.wait()
        return app(environ, start_response)

    registry.wsgi_app = met  # type: ignore[method-assign]
    before = _workers()
    with serve(registry) as server:
        assert len(_workers() - before) == START
        with ThreadPoolExecutor(THREADS) as pool:
            answers = list(pool.map(lambda _: _ping(server), range(THREADS)))
        assert answers == [b"HTTP/1.1 200 OK"] * THREADS
        assert len(_workers() - before) == THREADS
        meeting = threading.Barrier(1)  # one request alone goes through now
        assert _ping(server) == b"HTTP/1.1 200 OK"
    assert not _workers() - before
