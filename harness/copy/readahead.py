"""A stream read ahead by a background thread, so producing a blob (read, hash, compress)
and consuming it (hash, send) run on two cores at once.

hashlib, isal and zstandard release the GIL on large buffers, so the two threads really
overlap. At most ``depth`` chunks wait in the queue: memory stays bounded whatever the
blob's size.
"""

from __future__ import annotations

import queue
import threading
from typing import BinaryIO

CHUNK = 1 << 20
_END = b""


class ReadAhead:
    """Wraps a readable stream; ``read`` hands out what the thread already produced."""

    def __init__(self, stream: BinaryIO, chunk: int = CHUNK, depth: int = 4, *,
                 name: str = "readahead") -> None:
        self._stream = stream
        self._chunk = chunk
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._item = b""  # the chunk being handed out, from self._offset on
        self._offset = 0
        self._done = False
        # The stage's *name* tells the threads apart in a per-thread CPU reading.
        self._thread = threading.Thread(target=self._produce, name=name, daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                data = self._stream.read(self._chunk)
                self._put(data)
                if not data:
                    return
        except BaseException as exc:  # handed to the reader, which re-raises it
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _next(self) -> bool:
        """Refill the buffer; False at the end of the stream."""
        if self._done:
            return False
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._done = True
            raise item
        if item == _END:
            self._done = True
            return False
        self._item, self._offset = item, 0
        return True

    def _take(self, size: int) -> bytes:
        """Up to *size* bytes of the current chunk; a whole chunk is handed over uncopied."""
        item, start = self._item, self._offset
        if start == 0 and size >= len(item):
            self._item = b""
            return item
        self._offset = min(len(item), start + size)
        return item[start:self._offset]

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            parts = [self._take(len(self._item))]
            while self._next():
                parts.append(self._take(len(self._item)))
            return b"".join(parts)
        if self._offset >= len(self._item) and not self._next():
            return b""
        return self._take(size)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        """Stop the thread (it may be blocked on a full queue); the caller closes the source."""
        self._stop.set()
        self._thread.join()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
