"""containers/storage lock files: POSIX record locks plus a last-writer token.

Each lock file (``storage.lock``, ``<driver>-layers/layers.lock``,
``<driver>-images/images.lock``...) is locked whole with ``fcntl`` record locks, shared
to read and exclusive to write, exactly the locks containers/storage's ``lockfile``
package takes, so buildah or podman and this project exclude each other. A writer also
rewrites the file's 64 bytes (time, counter, pid, random) before unlocking: that token
changing is how the other processes learn they must reload the JSON files.

Record locks belong to the process and vanish when any descriptor of the file is closed,
so one descriptor per file is shared by the threads of this process, which coordinate
through a condition variable. containers/storage waits for a lock without end; here the
wait is bounded (``OCI_HARNESS_LOCK_WAIT`` seconds, 60 by default) and then ends in a
one-line error naming the holder.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import os
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from harness.util.errors import HarnessError

WAIT_ENV = "OCI_HARNESS_LOCK_WAIT"
DEFAULT_WAIT = 60.0
TOKEN_SIZE = 64  # containers/storage's lastWriterIDSize
_POLL = 0.02
_FLOCK = "hhqqi4x"  # struct flock on Linux: type, whence, start, len, pid
_counter = itertools.count()


class StoreLockedError(HarnessError):
    """Another process held a store lock for longer than this process would wait."""


def lock_wait() -> float:
    """How long to wait for a lock another process holds."""
    try:
        return float(os.environ.get(WAIT_ENV, DEFAULT_WAIT))
    except ValueError:
        raise HarnessError(f"{WAIT_ENV} must be a number of seconds") from None


def new_token() -> bytes:
    """A fresh last-writer token: nanoseconds, counter and pid (little-endian), random."""
    head = struct.pack("<QQI", time.time_ns(), next(_counter), os.getpid())
    return head + os.urandom(TOKEN_SIZE - len(head))


def _holder(fd: int, lock_type: int) -> int | None:
    query = struct.pack(_FLOCK, lock_type, os.SEEK_SET, 0, 0, 0)
    answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
    kind, _, _, _, pid = struct.unpack(_FLOCK, answer)
    return pid if kind != fcntl.F_UNLCK else None


class LockFile:
    """One lock file; :meth:`shared` and :meth:`exclusive` are context managers."""

    def __init__(self, path: Path, wait: float | None = None) -> None:
        self.path = path
        self.wait = lock_wait() if wait is None else wait
        self._state = threading.Condition()
        self._readers = 0
        self._writer = False
        self._fd = -1

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the lock for reading; the file is opened read-only and never created."""
        self._acquire(exclusive=False)
        try:
            yield
        finally:
            self._release()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the lock for writing, creating the file (0644) as containers/storage does."""
        self._acquire(exclusive=True)
        try:
            yield
        finally:
            self._release()

    def touch(self) -> None:
        """Record a write (only while :meth:`exclusive` is held) so other processes reload."""
        if not self._writer:
            raise HarnessError(f"internal error: {self.path} touched without the write lock")
        os.pwrite(self._fd, new_token(), 0)

    def _acquire(self, exclusive: bool) -> None:
        with self._state:
            while self._writer or (exclusive and self._readers):
                self._state.wait()
            if self._readers == 0:
                self._fd = self._lock_file(exclusive)
            if exclusive:
                self._writer = True
            else:
                self._readers += 1

    def _release(self) -> None:
        with self._state:
            if self._writer:
                self._writer = False
            else:
                self._readers -= 1
            if self._readers == 0:
                os.close(self._fd)  # closing drops the record lock
                self._fd = -1
            self._state.notify_all()

    def _lock_file(self, exclusive: bool) -> int:
        if exclusive:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        else:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        lock_type = fcntl.F_WRLCK if exclusive else fcntl.F_RDLCK
        deadline = time.monotonic() + self.wait
        try:
            while True:
                try:
                    fcntl.lockf(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                                | fcntl.LOCK_NB)
                    return fd
                except OSError as exc:
                    if exc.errno not in (errno.EACCES, errno.EAGAIN):
                        raise
                if time.monotonic() >= deadline:
                    pid = _holder(fd, lock_type)
                    held = f"process {pid}" if pid else "another process"
                    raise StoreLockedError(
                        f"containers-storage: {self.path} is locked by {held}; waited "
                        f"{self.wait:g} s (set {WAIT_ENV} to wait longer)")
                time.sleep(_POLL)
        except BaseException:
            os.close(fd)
            raise
