"""Storing a large blob: hashed on a second thread while written, bounded, clean on error."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import pytest

from harness.store.backend import CHUNK, WRITEBACK_FROM
from harness.store.store import Store

_SIZE = WRITEBACK_FROM + 3 * CHUNK + 12345  # crosses the first writeback, ends mid-chunk


class _Pattern(io.RawIOBase):
    """*size* bytes that differ per chunk (so chunk order matters to the digest), then
    optionally an error instead of the end."""

    def __init__(self, size: int, fail: bool = False) -> None:
        super().__init__()
        self.left, self.fail, self.index = size, fail, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if not self.left:
            if self.fail:
                raise OSError("disk went away")
            return b""
        n = min(self.left, CHUNK if size is None or size < 0 else size)
        self.left -= n
        self.index += 1
        return self.index.to_bytes(4, "big") * (n // 4) + b"x" * (n % 4)


def _expected(size: int) -> str:
    data = _Pattern(size)
    h = hashlib.sha256()
    while chunk := data.read(CHUNK):
        h.update(chunk)
    return h.hexdigest()


def test_many_chunks_hash_in_order(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "root")
    digest, size = store.put_blob(_Pattern(_SIZE))  # type: ignore[arg-type]
    assert (digest.hex, size) == (_expected(_SIZE), _SIZE)
    stream, stored = store.open_blob(digest)
    h = hashlib.sha256()
    with stream:
        while chunk := stream.read(CHUNK):
            h.update(chunk)
    assert (h.hexdigest(), stored) == (digest.hex, _SIZE)


def test_a_failing_stream_leaves_no_temporary_and_no_thread(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "root")
    before = set(threading.enumerate())
    with pytest.raises(OSError, match="disk went away"):
        store.put_blob(_Pattern(3 * CHUNK, fail=True))  # type: ignore[arg-type]
    assert set(threading.enumerate()) == before
    assert list((tmp_path / "root" / "blobs" / "sha256").iterdir()) == []


def _blob_files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under blobs/sha256 (temporaries too): its inode and mtime."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in (root / "blobs" / "sha256").iterdir()}


def test_a_blob_already_stored_is_kept_not_rewritten(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "root")
    digest, _ = store.put_blob(_Pattern(3 * CHUNK))  # type: ignore[arg-type]
    before = _blob_files(tmp_path / "root")
    again = store.put_blob(_Pattern(3 * CHUNK))  # type: ignore[arg-type]
    assert again == (digest, 3 * CHUNK)
    assert _blob_files(tmp_path / "root") == before  # same file, no temporary left


def test_a_stored_blob_of_the_wrong_size_is_replaced(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "root")
    digest, _ = store.put_blob(io.BytesIO(b"layer bytes"))
    path = tmp_path / "root" / "blobs" / "sha256" / digest.hex
    path.write_bytes(b"layer")  # cut short by something outside the store
    assert store.put_blob(io.BytesIO(b"layer bytes")) == (digest, 11)
    assert path.read_bytes() == b"layer bytes"
    assert list(_blob_files(tmp_path / "root")) == [digest.hex]
