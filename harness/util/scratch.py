"""Temporary folders that a later run can tell apart from live ones.

A folder in use is held with ``flock(2)`` on its own descriptor; the kernel drops the
lock when the process ends, even by ``kill -9``. So a folder that nobody holds, under a
known parent with a known prefix and older than a grace period (the instant between its
creation and its lock), is a crash leftover: ``check`` lists the store's (``check
--clean`` removes them), and the archive transports sweep theirs when they start.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from pathlib import Path
from types import TracebackType

from harness.util.cleanup import register, unregister

GRACE_S = 60.0  # a folder younger than this may be one being created right now


def hold(path: Path) -> int:
    """Lock *path* (a folder) for this process; closing the descriptor releases it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _held(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return True  # gone or not a folder: nothing to take
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def leftovers(parent: Path, prefix: str = "", min_age_s: float = GRACE_S) -> list[Path]:
    """Folders in *parent* named *prefix*... that nobody holds, untouched for *min_age_s*."""
    if not parent.is_dir():
        return []
    now = time.time()
    found = []
    for path in parent.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if path.name.startswith(prefix) and path.is_dir() and not path.is_symlink() \
                    and now - path.stat().st_mtime >= min_age_s and not _held(path):
                found.append(path)
    return sorted(found)


def sweep(parent: Path, prefix: str, min_age_s: float = GRACE_S) -> None:
    """Remove the leftovers of earlier runs (see :func:`leftovers`)."""
    for path in leftovers(parent, prefix, min_age_s):
        shutil.rmtree(path, ignore_errors=True)


class ScratchDir:
    """A private (0700) temporary folder under *parent*, held while open and removed on
    close (and by a SIGTERM: see :mod:`harness.util.cleanup`)."""

    def __init__(self, parent: Path, prefix: str) -> None:
        parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
        register(self.path)
        self._fd = hold(self.path)

    def close(self) -> None:
        if self._fd >= 0:
            shutil.rmtree(self.path, ignore_errors=True)
            os.close(self._fd)
            self._fd = -1
            unregister(self.path)

    def __enter__(self) -> ScratchDir:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
