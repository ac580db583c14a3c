"""Copying an image's layers as containers/image's ``copyLayers`` schedules them: one task
per layer of the manifest, in its order (a repeated layer too), at most *workers* at once,
each announced when it starts.

containers/image 5.23 (``copy/copy.go``) acquires a slot of its semaphore (six when both
the source and the destination take concurrent blob calls, else one) before it starts each
layer's goroutine, in manifest order, and that goroutine prints ``Copying blob DIGEST``
first thing. Off a terminal that gives: one at a time, the manifest's order; in parallel,
the first six lines in whatever order their threads start, and a later layer's line only
once an earlier copy has ended and freed its slot.

Where containers/image lets the other copies run to their end after one fails, here the
first failure stops the rest: layers not started are dropped, running copies stop at their
next read of the source, every thread is joined, and that first error alone is raised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import BinaryIO, Generic, TypeVar, cast

from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.transports.types import BlobInfo, ImageReference, ImageSource
from harness.util.errors import HarnessError

T = TypeVar("T")
CopyOne = Callable[[ImageSource, Descriptor], T]


class CopyCancelledError(HarnessError):
    """A layer copy stopped because another one failed."""


def copy_layers(source: ImageSource, layers: Sequence[Descriptor], copy_one: CopyOne[T], *,
                workers: int, announce: Callable[[Descriptor], None]) -> dict[Digest, T]:
    """Run ``copy_one(source, layer)`` for each distinct layer, *announce* each layer of
    *layers* as its task starts; return the results by layer digest.

    A repeated layer is announced in its own turn and takes a slot while it waits for its
    first occurrence's copy (which, started earlier, always runs or has run), so the lines
    and their timing follow containers/image's, which copies it again.
    """
    run = _Run(source, copy_one, announce)
    firsts: dict[Digest, Future[T]] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="layer") as pool:
        try:
            tasks = []
            for layer in layers:
                task = pool.submit(run.one, layer, firsts.get(layer.digest))
                firsts.setdefault(layer.digest, task)
                tasks.append(task)
            wait(tasks)
        except BaseException:  # an interrupt here: stop the copies, then let it through
            run.cancelled.set()
            raise
    if run.error is not None:
        raise run.error
    return {digest: task.result() for digest, task in firsts.items()}


class _Run(Generic[T]):
    """One call of :func:`copy_layers`: the first error, and the flag that stops the rest."""

    def __init__(self, source: ImageSource, copy_one: CopyOne[T],
                 announce: Callable[[Descriptor], None]) -> None:
        self.source = _StoppableSource(source, self.check)
        self.copy_one = copy_one
        self.announce = announce
        self.cancelled = threading.Event()
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def one(self, layer: Descriptor, first: Future[T] | None) -> T:
        self.check()
        self.announce(layer)
        try:
            return self.copy_one(self.source, layer) if first is None else first.result()
        except BaseException as exc:
            with self._lock:
                if self.error is None and not self.cancelled.is_set():
                    self.error = exc
                self.cancelled.set()
            raise

    def check(self) -> None:
        if self.cancelled.is_set():
            raise CopyCancelledError("layer copy stopped: another layer's copy failed")


class _StoppableSource(ImageSource):
    """The copy's source, whose blob streams stop when the run is cancelled."""

    def __init__(self, source: ImageSource, check: Callable[[], None]) -> None:
        self._source = source
        self._check = check

    @property
    def reference(self) -> ImageReference:
        return self._source.reference

    def get_manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        return self._source.get_manifest(instance)

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        self._check()
        stream, size = self._source.get_blob(info)
        return cast(BinaryIO, _StoppableStream(stream, self._check)), size

    def has_thread_safe_get_blob(self) -> bool:
        return self._source.has_thread_safe_get_blob()


class _StoppableStream:
    def __init__(self, stream: BinaryIO, check: Callable[[], None]) -> None:
        self._stream = stream
        self._check = check

    def read(self, size: int = -1) -> bytes:
        self._check()
        return self._stream.read(size)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._stream.close()
