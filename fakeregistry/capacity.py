"""How much the served fake takes at once: its listen backlog and its worker threads.

The backlog is the system's maximum, as Go's listeners (so distribution) have it:
cheroot's default of 5 dropped connections of a burst.

cheroot starts every worker of its pool with the server. The fake serves up to
:data:`THREADS` requests at once, and a test suite starts a served fake per test: 32
threads started and joined cost each ``fake_registry_server`` test ~10 ms of CPU and ~10
ms of wall time, and each thread that allocates may get a glibc arena of its own.
:class:`WorkerPool` starts :data:`START` workers (skopeo and the Docker engine upload 6
blobs in parallel) and one more each time a connection is handed over while every worker
already has one, up to its maximum: no request waits for a worker while fewer than the
maximum are busy.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from cheroot.server import HTTPServer
from cheroot.workers.threadpool import ThreadPool

THREADS = 32
"""Requests served at once; a request beyond this waits (cheroot queues it) rather than
failing."""
START = 6
"""Workers started with the server; the others start as requests need them."""
SOMAXCONN = Path("/proc/sys/net/core/somaxconn")


def listen_backlog(somaxconn: Path = SOMAXCONN) -> int:
    """The system's maximum listen backlog, read as Go's net package reads it
    (``socket.SOMAXCONN`` when the file cannot be read or says 0)."""
    try:
        value = int(somaxconn.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return socket.SOMAXCONN
    return value if value > 0 else socket.SOMAXCONN


class WorkerPool(ThreadPool):
    """cheroot's pool of *most* workers, started :data:`START` at first and grown on demand;
    the connection tells :meth:`done` when its worker is through with it."""

    def __init__(self, server: HTTPServer, most: int) -> None:
        super().__init__(server, min=min(START, most), max=most)
        self._lock = threading.Lock()
        self._workers = self.min
        self._handed = 0  # connections queued or being served

    def put(self, obj: object) -> None:
        """Queue a connection for a worker, starting one more first if all have one."""
        with self._lock:
            self._handed += 1
            grow = self._handed > self._workers and self._workers < self.max
            self._workers += grow
        if grow:
            self.grow(1)
        super().put(obj)

    def done(self) -> None:
        """A worker is through with a connection (kept alive in the selector, or closed)."""
        with self._lock:
            self._handed -= 1
