"""What a copy tells the user: containers/image's ReportWriter lines, and on a terminal a
progress bar per blob with bytes and rate (rich).

The lines are exactly those of skopeo and buildah, so scripts that read their output read
ours; a reporter for ``None`` says nothing (``--quiet``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

from harness.model.digest import Digest

if TYPE_CHECKING:
    from rich.progress import Progress

GETTING_SIGNATURES = "Getting image source signatures"
WRITING_MANIFEST = "Writing manifest to image destination"
STORING_SIGNATURES = "Storing signatures"
GETTING_LIST_SIGNATURES = "Getting image list signatures"
CHECKING_SIGNATURES = "Checking if image destination supports signatures"
CHECKING_LIST_SIGNATURES = "Checking if image list destination supports signatures"
WRITING_LIST = "Writing manifest list to image destination"
STORING_LIST_SIGNATURES = "Storing list signatures"

ProgressCallback = Callable[[int], None]


class Reporter:
    """Writes report lines to *out* (thread-safe); bars only when *out* is a terminal."""

    def __init__(self, out: TextIO | None) -> None:
        self._out = out
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        if out is not None and out.isatty():
            self._progress = _progress_bars(out)

    def line(self, text: str) -> None:
        if self._out is None:
            return
        with self._lock:
            if self._progress is not None:
                self._progress.console.print(text, highlight=False)
            else:
                self._out.write(text + "\n")
                self._out.flush()

    def blob(self, digest: Digest, is_config: bool = False) -> None:
        """Announce a blob the way containers/image does."""
        self.line(f"Copying {'config' if is_config else 'blob'} {digest}")

    @contextmanager
    def bar(self, digest: Digest, size: int) -> Iterator[ProgressCallback]:
        """A callback to feed with byte counts while the blob streams; a no-op off a TTY."""
        if self._progress is None:
            yield _ignore
            return
        task = self._progress.add_task(f"blob {digest.encoded[:12]}",
                                       total=size if size >= 0 else None)
        progress = self._progress
        try:
            yield lambda n: progress.advance(task, n)
        finally:
            progress.stop_task(task)

    def __enter__(self) -> Reporter:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def _progress_bars(out: TextIO) -> Progress:
    """rich bars writing to *out*; rich is imported only here, as it costs a tenth of a
    second of start-up that scripts and pipes (no terminal) should not pay."""
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), console=Console(file=out), transient=False)


def _ignore(_count: int) -> None:
    """Progress sink when nobody watches."""
