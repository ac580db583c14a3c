"""Where the store keeps its bytes: a small interface with a disk and a memory backend.

The :class:`Backend` holds three things: one metadata document (replaced atomically),
content-addressed blobs, and a directory per container (the read-write layer, always on
disk because the user writes files into it). Everything else is store logic, written
once in :mod:`harness.store.store` over this interface.

On disk under ``root``::

    (root, blobs/ and containers/ are 0700: no other user reaches a rootfs)
    storage.lock            flock(2) target serialising writers across processes
    metadata.json           layers, images, containers (atomic replace + fsync)
    blobs/sha256/<hex>      layer tars, configs, manifests (temp + fsync + rename)
    containers/<id>/        per-container state, ``rootfs/`` is the read-write layer

A crash leaves at worst unreferenced blobs or temporary files, never a record that
points at something missing: blobs are durable before the metadata naming them is written.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import shutil
import stat
import threading
import time
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from harness.model.digest import Digest, Digester
from harness.store.lock import StoreLock
from harness.util.cleanup import registered_temporary
from harness.util.errors import HarnessError
from harness.util.fs import atomic_write_bytes, fsync_dir

CHUNK = 1 << 20
PRIVATE = 0o700  # the store root (when created), blobs/ and containers/
WRITEBACK = 32 << 20
WRITEBACK_FROM = 2 * WRITEBACK
"""No writeback is started before a blob has this many bytes: the final fsync follows too
soon to gain from it, and a blob the store turns out to hold already (an unchanged
container committed again) would be written to disk only to be dropped."""


def _start_writeback(out: BinaryIO, start: int, end: int) -> int:
    """Have the kernel start writing ``[start, end)`` to disk now (DONTNEED starts an
    asynchronous writeback of dirty pages), so the final fsync of a large blob waits for
    its last stretch only instead of all of it; returns *end*."""
    out.flush()
    os.posix_fadvise(out.fileno(), start, end - start, os.POSIX_FADV_DONTNEED)
    return end


class _HashingThread:
    """A digest computed on another core while the caller writes the same chunks.

    sha256 and file writes both release the GIL, so a large blob is stored in about the
    time of the slower of the two rather than their sum (hashing is the larger half of
    a local commit's CPU). Chunks are immutable ``bytes`` shared, not copied; at most
    ``depth`` wait, so memory stays bounded whatever the blob's size.
    """

    def __init__(self, depth: int = 4) -> None:
        self.digester = Digester()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="blob-hash", daemon=True)

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self.digester.update(chunk)

    def update(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def __enter__(self) -> _HashingThread:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Wait until every chunk handed over is hashed (on error too: no thread is
        left behind, and at most ``depth`` chunks remain)."""
        self._queue.put(None)
        self._thread.join()


class BlobUnknownError(HarnessError):
    """A blob the caller asked for is not in the store."""

    def __init__(self, digest: Digest) -> None:
        super().__init__(f"blob {digest} is not in the store")
        self.digest = digest


class Backend(ABC):
    """Storage primitives; every method is safe to call without the store lock except
    where noted."""

    @abstractmethod
    def locked(self) -> AbstractContextManager[None]:
        """Hold the writer lock (reentrant); required around read-modify-write."""

    @abstractmethod
    def read_metadata(self) -> bytes:
        """The last metadata written (empty bytes for a new store)."""

    @abstractmethod
    def write_metadata(self, data: bytes) -> None:
        """Replace the metadata atomically; call with the lock held."""

    @abstractmethod
    def has_blob(self, digest: Digest) -> bool: ...

    @abstractmethod
    def open_blob(self, digest: Digest) -> tuple[BinaryIO, int]:
        """A stream of the blob and its size; raise :class:`BlobUnknownError`."""

    @abstractmethod
    def put_blob(self, stream: BinaryIO) -> tuple[Digest, int]:
        """Store the stream's bytes under their sha256, hashing while writing."""

    @abstractmethod
    def delete_blob(self, digest: Digest) -> None: ...

    @abstractmethod
    def blob_digests(self) -> list[Digest]:
        """Every stored blob (for ``check``)."""

    @abstractmethod
    def container_dir(self, container_id: str) -> Path:
        """The container's state directory (created on demand)."""

    @abstractmethod
    def stale_files(self, keep: set[Digest], min_age_s: float) -> list[Path]:
        """Files no record needs, untouched for *min_age_s*: temporaries of interrupted
        writes and blobs not in *keep* (a live writer keeps touching its file)."""


def _private_dir(path: Path) -> None:
    """Create *path* 0700, or make an existing one so (containers/storage creates its
    directories 0700): a rootfs may hold setuid-root files from an image, which no other
    user may reach."""
    path.mkdir(mode=PRIVATE, exist_ok=True)
    mode = stat.S_IMODE(path.lstat().st_mode)
    if mode & ~PRIVATE:
        try:
            path.chmod(PRIVATE)
        except PermissionError:
            raise HarnessError(f"store directory {path} is open to other users (mode "
                               f"{mode:04o}) and cannot be made private (0700): not its "
                               "owner") from None


def _stored_size(path: Path) -> int | None:
    """The size of the blob file at *path*, None when there is none."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


class DiskBackend(Backend):
    """The on-disk layout described in the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(mode=PRIVATE, parents=True, exist_ok=True)
            for folder in (root / "blobs", root / "containers"):
                _private_dir(folder)
            (root / "blobs" / "sha256").mkdir(exist_ok=True)
        except OSError as exc:
            raise HarnessError(f"cannot use store root {root}: {exc.strerror}") from exc
        self._lock = StoreLock(root / "storage.lock")

    def locked(self) -> AbstractContextManager[None]:
        return self._lock.held()

    def read_metadata(self) -> bytes:
        try:
            return (self.root / "metadata.json").read_bytes()
        except FileNotFoundError:
            return b""

    def write_metadata(self, data: bytes) -> None:
        atomic_write_bytes(self.root / "metadata.json", data)

    def _blob_path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.encoded

    def has_blob(self, digest: Digest) -> bool:
        return self._blob_path(digest).is_file()

    def open_blob(self, digest: Digest) -> tuple[BinaryIO, int]:
        try:
            handle = self._blob_path(digest).open("rb")
        except FileNotFoundError:
            raise BlobUnknownError(digest) from None
        return handle, os.fstat(handle.fileno()).st_size

    def put_blob(self, stream: BinaryIO) -> tuple[Digest, int]:
        """As the interface says; a blob already stored (same digest and size, as when an
        unchanged container is committed again) is kept as it is: the new copy is dropped
        unsynced, so the store neither syncs nor replaces a layer it already has, as
        containers/storage reuses a layer whose diffID it already holds."""
        folder = self.root / "blobs" / "sha256"
        size = flushed = 0
        with registered_temporary(folder, ".tmp-") as (fd, tmp):
            try:
                with os.fdopen(fd, "wb") as out:
                    with _HashingThread() as hashing:
                        while chunk := stream.read(CHUNK):
                            hashing.update(chunk)
                            out.write(chunk)
                            size += len(chunk)
                            if size >= WRITEBACK_FROM and size - flushed >= WRITEBACK:
                                flushed = _start_writeback(out, flushed, size)
                    digest = hashing.digester.digest()
                    stored = _stored_size(self._blob_path(digest)) == size
                    if not stored:
                        out.flush()
                        os.fsync(out.fileno())
                if stored:
                    tmp.unlink()
                else:
                    tmp.chmod(0o644)
                    tmp.replace(self._blob_path(digest))
                    fsync_dir(folder)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return digest, size

    def delete_blob(self, digest: Digest) -> None:
        self._blob_path(digest).unlink(missing_ok=True)

    def blob_digests(self) -> list[Digest]:
        folder = self.root / "blobs" / "sha256"
        return sorted(Digest("sha256", p.name) for p in folder.iterdir()
                      if not p.name.startswith("."))

    def container_dir(self, container_id: str) -> Path:
        path = self.root / "containers" / container_id
        path.mkdir(exist_ok=True)
        return path

    def stale_files(self, keep: set[Digest], min_age_s: float) -> list[Path]:
        folder = self.root / "blobs" / "sha256"
        candidates = [p for p in folder.iterdir() if p.name.startswith(".tmp-")
                      or Digest("sha256", p.name) not in keep]
        candidates += self.root.glob(".metadata.json.*.tmp")  # util.fs atomic_writer temps
        now = time.time()
        stale = []
        for path in candidates:
            with contextlib.suppress(FileNotFoundError):  # finished or removed meanwhile
                if now - path.stat().st_mtime >= min_age_s:
                    stale.append(path)
        return sorted(stale)


class MemoryBackend(Backend):
    """Blobs and metadata in memory, for tests; container directories in a temp folder.

    Blobs are held whole, so this backend is only for the small blobs tests use.
    """

    def __init__(self) -> None:
        import tempfile  # noqa: PLC0415 - only the tests' memory store needs it

        self._metadata = b""
        self._blobs: dict[Digest, bytes] = {}
        self._lock = StoreLock()
        self._dirs = Path(tempfile.mkdtemp(prefix="oci-harness-memstore-"))

    def locked(self) -> AbstractContextManager[None]:
        return self._lock.held()

    def read_metadata(self) -> bytes:
        return self._metadata

    def write_metadata(self, data: bytes) -> None:
        self._metadata = data

    def has_blob(self, digest: Digest) -> bool:
        return digest in self._blobs

    def open_blob(self, digest: Digest) -> tuple[BinaryIO, int]:
        try:
            data = self._blobs[digest]
        except KeyError:
            raise BlobUnknownError(digest) from None
        return io.BytesIO(data), len(data)

    def put_blob(self, stream: BinaryIO) -> tuple[Digest, int]:
        data = stream.read()
        digest = Digest.from_bytes(data)
        self._blobs[digest] = data
        return digest, len(data)

    def delete_blob(self, digest: Digest) -> None:
        self._blobs.pop(digest, None)

    def blob_digests(self) -> list[Digest]:
        return sorted(self._blobs)

    def container_dir(self, container_id: str) -> Path:
        path = self._dirs / container_id
        path.mkdir(exist_ok=True)
        return path

    def stale_files(self, keep: set[Digest], min_age_s: float) -> list[Path]:
        return []  # nothing outlives the process

    def close(self) -> None:
        """Remove the container directories."""
        shutil.rmtree(self._dirs, ignore_errors=True)
