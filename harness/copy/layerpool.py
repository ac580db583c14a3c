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

The slots are a semaphore taken in the calling thread before each layer's thread starts,
as containers/image does, rather than a ``concurrent.futures`` pool: that module loads
logging (with traceback, string and textwrap), ~4 ms of a command's start-up.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
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
    slots = threading.Semaphore(max(1, workers))
    firsts: dict[Digest, _Task[T]] = {}
    tasks: list[_Task[T]] = []
    try:
        for index, layer in enumerate(layers):
            slots.acquire()
            if run.cancelled.is_set():  # a copy failed: start no more
                slots.release()
                break
            task = _Task(functools.partial(run.one, layer, firsts.get(layer.digest)),
                         slots.release, name=f"layer-{index}")
            task.start()  # before it is listed: only a started thread can be joined
            firsts.setdefault(layer.digest, task)
            tasks.append(task)
        for task in tasks:
            task.join()
    except BaseException:  # an interrupt here: stop the copies, then let it through
        run.cancelled.set()
        raise
    finally:
        for task in tasks:
            task.join()
    if run.error is not None:
        raise run.error
    return {digest: task.result() for digest, task in firsts.items()}


class _Task(Generic[T]):
    """One layer's copy on its own thread, which frees its slot when it ends."""

    def __init__(self, work: Callable[[], T], done: Callable[[], None], *, name: str) -> None:
        self._work, self._done = work, done
        self._outcome: tuple[T] | BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name)

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        try:
            self._outcome = (self._work(),)
        except BaseException as exc:  # kept for result(), as a Future keeps it
            self._outcome = exc
        finally:
            self._done()

    def result(self) -> T:
        """The copy's result once it has ended; its exception, if it raised one."""
        self.join()
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        assert self._outcome is not None
        return self._outcome[0]


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

    def one(self, layer: Descriptor, first: _Task[T] | None) -> T:
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
