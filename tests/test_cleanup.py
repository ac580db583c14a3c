"""A temporary that exists on disk is always one a terminating signal removes.

The race this guards: a worker thread creates a blob's temporary file while the main
thread runs the SIGTERM handler (tests/copy/test_copy_limits.py's SIGTERM test left a
``.blob-*`` file behind 1 run in 3 beside a CPU hog, when the file was created by
``mkstemp`` and registered a moment later).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from harness.util import cleanup


def _signal_removal() -> None:
    """What the SIGTERM handler does before it exits (its lock, then the removal)."""
    with cleanup._CREATING:
        cleanup.remove_registered()


def test_a_file_created_while_the_handler_runs_is_still_removed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    created, proceed, finish = threading.Event(), threading.Event(), threading.Event()
    real_open = os.open

    def slow_open(path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        fd = real_open(path, flags, mode)  # on disk now, as mkstemp's file was
        created.set()
        proceed.wait()  # the creating thread is descheduled here
        return fd

    monkeypatch.setattr(cleanup.os, "open", slow_open)

    def worker() -> None:
        with cleanup.registered_temporary(tmp_path, ".blob-") as (fd, _path):
            os.close(fd)
            finish.wait()  # in the process the handler's exit ends this thread here

    creating = threading.Thread(target=worker)
    creating.start()
    assert created.wait(30)
    handler = threading.Thread(target=_signal_removal)
    handler.start()
    proceed.set()  # the handler can only remove once the creation is complete
    handler.join()
    assert list(tmp_path.iterdir()) == []
    finish.set()
    creating.join()


def test_the_temporary_is_private_new_and_unregistered_after(tmp_path: Path) -> None:
    with cleanup.registered_temporary(tmp_path, ".tmp-", ".part") as (fd, path):
        os.close(fd)
        assert path.parent == tmp_path and path.name.startswith(".tmp-")
        assert path.name.endswith(".part")
        assert path.stat().st_mode & 0o777 == 0o600
        assert path in cleanup._LIVE
    assert path not in cleanup._LIVE
    assert path.exists()  # removing it is the caller's


def test_a_failed_creation_leaves_nothing_registered(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder"
    before = dict(cleanup._LIVE)
    with pytest.raises(FileNotFoundError), cleanup.registered_temporary(missing, ".blob-"):
        pass
    assert before == cleanup._LIVE
