"""Content-addressed blob storage and upload buffers.

Small blobs live in memory unless a directory is given; anything above the spool
threshold goes to a file as it arrives, so no blob is ever held whole in RAM. An upload
becomes visible only through :meth:`BlobStore.store_upload`, so a cancelled or interrupted
upload never shows up as a blob.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import threading
import uuid
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from harness.model.digest import Digest, Digester

SPOOL_THRESHOLD = 1 << 20
COPY_CHUNK = 1 << 20
SPOOL_PREFIX = "upload-"


class UploadBuffer:
    """The bytes of one upload session so far, hashed as they arrive (sha256)."""

    def __init__(self, spool_dir: Callable[[], Path], threshold: int) -> None:
        self._spool_dir = spool_dir
        self._threshold = threshold
        self._memory: io.BytesIO | None = io.BytesIO()
        self._file: BinaryIO | None = None
        self.path: Path | None = None
        self.digester = Digester("sha256")

    @property
    def size(self) -> int:
        return self.digester.size

    def write(self, data: bytes | memoryview) -> None:
        if self._memory is not None and self.size + len(data) > self._threshold:
            self._spill()
        target = self._file if self._file is not None else self._memory
        assert target is not None
        target.write(data)
        self.digester.update(data)

    def _spill(self) -> None:
        assert self._memory is not None
        fd, name = tempfile.mkstemp(prefix=SPOOL_PREFIX, dir=self._spool_dir())
        self.path = Path(name)
        self._file = os.fdopen(fd, "w+b")
        self._file.write(self._memory.getbuffer())
        self._memory = None

    def digest(self, algorithm: str) -> Digest:
        """The content digest; sha256 is already known, others re-read the content."""
        if algorithm == "sha256":
            return self.digester.digest()
        digester = Digester(algorithm)
        with self.reader() as stream:
            while chunk := stream.read(COPY_CHUNK):
                digester.update(chunk)
        return digester.digest()

    def reader(self) -> BinaryIO:
        if self._memory is not None:
            return io.BytesIO(self._memory.getvalue())
        assert self.path is not None and self._file is not None
        self._file.flush()
        return self.path.open("rb")

    def in_memory(self) -> bytes | None:
        """The content when it is still small enough to be in RAM, else None."""
        return self._memory.getvalue() if self._memory is not None else None

    def detach_file(self) -> Path | None:
        """Close the spool file and hand its path over (the caller moves it)."""
        if self._file is None:
            return None
        self._file.close()
        self._file = None
        path, self.path = self.path, None
        return path

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None
        self._memory = None


class BlobStore:
    """Blobs by digest: in memory and spooled files, or all files under *directory*."""

    def __init__(self, directory: Path | None = None,
                 threshold: int = SPOOL_THRESHOLD) -> None:
        self._lock = threading.Lock()
        self._memory: dict[Digest, bytes] = {}
        self._threshold = threshold
        self.persistent = directory is not None
        self._root = directory
        if directory is not None:
            self._remove_spool_files(directory)

    @staticmethod
    def _remove_spool_files(directory: Path) -> None:
        """Upload sessions live in memory only, so the spool files a killed registry left
        in *directory* belong to no session any more: remove them (one registry per
        directory at a time)."""
        for leftover in (directory / "uploads").glob(f"{SPOOL_PREFIX}*"):
            leftover.unlink(missing_ok=True)

    @property
    def root(self) -> Path:
        """The folder of files; a temporary one is made on first use, so that starting
        an in-memory registry touches no disk."""
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="fakeregistry-"))
                weakref.finalize(self, shutil.rmtree, self._root, True)
            return self._root

    def _spool(self) -> Path:
        spool = self.root / "uploads"
        spool.mkdir(parents=True, exist_ok=True)
        return spool

    def _path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.encoded[:2] / digest.encoded

    def new_upload(self) -> UploadBuffer:
        return UploadBuffer(self._spool, self._threshold)

    def store_upload(self, upload: UploadBuffer, digest: Digest) -> None:
        """Make the upload's content visible as *digest* (the caller verified it)."""
        data = upload.in_memory()
        if data is not None:
            self.put_bytes(digest, data)
            upload.discard()
            return
        source = upload.detach_file()
        assert source is not None
        target = self._path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        source.replace(target)

    def put_bytes(self, digest: Digest, data: bytes) -> None:
        if not self.persistent:
            with self._lock:
                self._memory[digest] = data
            return
        target = self._path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        tmp.replace(target)

    def size(self, digest: Digest) -> int | None:
        with self._lock:
            data = self._memory.get(digest)
            on_disk = self._root is not None
        if data is not None:
            return len(data)
        if not on_disk:
            return None
        try:
            return self._path(digest).stat().st_size
        except OSError:
            return None

    def open(self, digest: Digest) -> BinaryIO:
        """A reader of the blob; raises FileNotFoundError when it is not stored."""
        with self._lock:
            data = self._memory.get(digest)
        if data is not None:
            return io.BytesIO(data)
        return self._path(digest).open("rb")

    def read(self, digest: Digest) -> bytes:
        """The whole blob: only for manifests, which are capped at a few MiB."""
        with self.open(digest) as stream:
            return stream.read()
