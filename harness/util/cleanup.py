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
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

# No lock: the signal handler runs on the main thread, which may be inside a registration;
# single dict operations are atomic.
_LIVE: dict[Path, None] = {}


def register(path: Path) -> None:
    """Have *path* removed if a signal ends the process (until :func:`unregister`)."""
    _LIVE[path] = None


def unregister(path: Path) -> None:
    _LIVE.pop(path, None)


@contextlib.contextmanager
def registered(path: Path) -> Iterator[Path]:
    """Have *path* removed if a signal ends the process inside the block."""
    register(path)
    try:
        yield path
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
    remove_registered()
    sys.stderr.write(f"Error: terminated by {signal.Signals(signum).name}\n")
    sys.stderr.flush()
    os._exit(128 + signum)


def remove_on_signals(*signums: signal.Signals) -> None:
    """Install the handler for *signums* (call from the main thread of a command)."""
    for signum in signums:
        signal.signal(signum, _exit)
