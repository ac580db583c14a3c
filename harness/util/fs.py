"""Crash-safe file writes: write to a temporary sibling, fsync, rename, fsync the folder."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from harness.util.cleanup import registered_temporary


def fsync_dir(directory: Path) -> None:
    """Persist a rename or creation inside *directory*."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces *path* only if the block finishes without error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with registered_temporary(path.parent, f".{path.name}.", ".tmp") as (fd, tmp):
        try:
            with os.fdopen(fd, "wb") as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            tmp.chmod(mode)
            tmp.replace(path)
            fsync_dir(path.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace *path* with *data* atomically."""
    with atomic_writer(path, mode) as handle:
        handle.write(data)
