"""A reentrant lock that also serialises processes sharing a store root.

The outermost acquisition in a process takes ``flock(LOCK_EX)`` on a lock file; nested
acquisitions by the same thread only count, so store operations can call each other.
Readers do not lock: the metadata file is replaced atomically, so any read sees a whole
state.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path


class StoreLock:
    """Exclusive across threads (RLock) and, with *path*, across processes (flock)."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd = -1

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth == 0 and self._path is not None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd >= 0:
                    os.close(self._fd)  # closing releases the flock
                    self._fd = -1
