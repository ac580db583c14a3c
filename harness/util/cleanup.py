"""Temporaries removed on every way out of a command, SIGTERM included.

Writers remove their temporary files and folders in ``finally`` blocks, which covers
errors and Ctrl-C. A SIGTERM is different: the blobs are copied by worker threads, which
a signal does not unwind, and the process would wait for them (forever for a source that
never ends). So each temporary is also registered here while it exists, and the command
line's handler (:func:`remove_on_signals`) removes what is registered, then exits
``128 + signal``. A ``kill -9`` removes nothing: those leftovers live where ``check`` or
the next run finds them (see :mod:`harness.util.scratch`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

# Single dict operations are atomic. The lock is held while a temporary is created, and by
# the signal handler while it removes: a worker thread creating a file while the main thread
# handles a signal would otherwise leave a file that exists but was not yet registered. It
# is re-entrant because the handler runs on the main thread, which may itself be creating.
_LIVE: dict[Path, None] = {}
_CREATING = threading.RLock()


def register(path: Path) -> None:
    """Have *path* removed if a signal ends the process (until :func:`unregister`)."""
    _LIVE[path] = None


def unregister(path: Path) -> None:
    _LIVE.pop(path, None)


@contextlib.contextmanager
def registered_temporary(directory: Path, prefix: str,
                         suffix: str = "") -> Iterator[tuple[int, Path]]:
    """A new private file in *directory*, as :func:`tempfile.mkstemp` makes it, registered
    before it exists (so no signal finds it on disk unregistered); yields its descriptor
    and path and unregisters it after the block (removing it is the caller's)."""
    with _CREATING:
        while True:
            # secrets.token_hex(6)'s bytes, without importing secrets (with hmac) at start-up
            path = directory / f"{prefix}{os.urandom(6).hex()}{suffix}"
            register(path)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except FileExistsError:
                unregister(path)
                continue
            except BaseException:
                unregister(path)
                raise
            break
    try:
        yield fd, path
    finally:
        unregister(path)


def remove_registered() -> None:
    """Remove every registered file or folder (what is gone already is skipped)."""
    for path in list(_LIVE):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()


def _exit(signum: int, frame: FrameType | None) -> None:
    with _CREATING:
        remove_registered()
    sys.stderr.write(f"Error: terminated by {signal.Signals(signum).name}\n")
    sys.stderr.flush()
    os._exit(128 + signum)


def remove_on_signals(*signums: signal.Signals) -> None:
    """Install the handler for *signums* (call from the main thread of a command)."""
    for signum in signums:
        signal.signal(signum, _exit)
