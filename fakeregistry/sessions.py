"""Open upload sessions: how long an abandoned one lives, and how many may be open.

A client that starts an upload and goes away (killed, timed out, a test that failed)
leaves its session behind, and the bytes it sent with it (in memory up to the spool
threshold, in a spool file above). distribution purges such uploads after a week
(``storage.maintenance.uploadpurging.age``, 168 h); here a session untouched for
:attr:`UploadSessions.lifetime` seconds is dropped with its bytes, and at most
:attr:`UploadSessions.limit` sessions are open at once: one more is refused with 429
TOOMANYREQUESTS, which clients treat as "try again later", never with a 500.
Expired sessions are purged when a session is opened or looked up, so a registry nobody
talks to keeps them until the next upload.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from fakeregistry.errors import RegistryError
from fakeregistry.storage import UploadBuffer

UPLOAD_LIFETIME = 7 * 24 * 3600.0
"""Seconds an untouched session lives: distribution's default purge age (168 h)."""
MAX_UPLOADS = 256
"""Sessions open at once: 32 parallel pushes of 6 layers each fit; the worst case in RAM
is this many times the spool threshold (1 MiB)."""


@dataclass
class Upload:
    """An open upload session; its lock serialises chunks for the same session."""

    repository: str
    buffer: UploadBuffer
    lock: threading.Lock = field(default_factory=threading.Lock)
    touched: float = 0.0  # the clock's time of the last request on it


class UploadSessions:
    """Upload sessions by id, expiring after *lifetime* seconds untouched, at most *limit*."""

    def __init__(self, lifetime: float = UPLOAD_LIFETIME, limit: int = MAX_UPLOADS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if lifetime <= 0 or limit <= 0:
            raise ValueError(f"upload lifetime ({lifetime}) and limit ({limit}) must be > 0")
        self.lifetime = lifetime
        self.limit = limit
        self._clock = clock
        self._open: dict[str, Upload] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)

    def open(self, upload: Upload) -> str:
        """Register *upload* and return its session id; 429 when *limit* are open."""
        self.expire()
        with self._lock:
            if len(self._open) >= self.limit:
                raise RegistryError(
                    "TOOMANYREQUESTS", f"{len(self._open)} upload sessions are open, the "
                    f"most this registry keeps; finish or cancel one, or wait until unused "
                    f"ones expire ({self.lifetime:g} s)")
            session = uuid.uuid4().hex
            upload.touched = self._clock()
            self._open[session] = upload
        return session

    def find(self, session: str, repository: str) -> Upload:
        """The open session *session* of *repository*; BLOB_UPLOAD_UNKNOWN otherwise."""
        self.expire()
        with self._lock:
            upload = self._open.get(session)
        if upload is None or upload.repository != repository:
            raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"upload {session} is not in progress",
                                detail={"uuid": session})
        upload.touched = self._clock()
        return upload

    @contextlib.contextmanager
    def held(self, session: str, repository: str) -> Iterator[Upload]:
        """The session with its lock held (it cannot expire meanwhile); one that ended
        while this request waited for the lock is unknown, like any other."""
        upload = self.find(session, repository)
        with upload.lock:
            with self._lock:
                current = self._open.get(session)
            if current is not upload:
                raise RegistryError("BLOB_UPLOAD_UNKNOWN", f"upload {session} has ended",
                                    detail={"uuid": session})
            try:
                yield upload
            finally:
                upload.touched = self._clock()

    def close(self, session: str) -> None:
        """Forget *session* (finished or cancelled; the caller owns its buffer now)."""
        with self._lock:
            self._open.pop(session, None)

    def expire(self) -> int:
        """Drop the sessions untouched for :attr:`lifetime`, with their bytes; how many.
        One a request is working on (its lock held) is not touched until it is done."""
        deadline = self._clock() - self.lifetime
        dropped = 0
        with self._lock:
            stale = [(s, u) for s, u in self._open.items() if u.touched <= deadline]
            for session, upload in stale:
                if not upload.lock.acquire(blocking=False):
                    continue
                try:
                    del self._open[session]
                    upload.buffer.discard()
                    dropped += 1
                finally:
                    upload.lock.release()
        return dropped
