"""Pull-based tar writing: a layer tar is produced as it is read, never held whole.

``tarfile`` pushes into a file; the commit pipeline instead *reads* the layer (hash,
compress, hash again, store), so entries are rendered as header bytes (by
:mod:`harness.store.gotar`) followed by the file's data in chunks, and
:func:`harness.util.chunkstream.chunk_stream` turns that generator into a stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from harness.store.gotar import BLOCK
from harness.util.errors import HarnessError

CHUNK = 1 << 20


def file_data(path: str | Path, size: int) -> Iterator[bytes]:
    """Exactly *size* bytes of *path* plus padding to a block; a file that changed size
    while being read is an error rather than a corrupt tar."""
    remaining = size
    with open(path, "rb") as handle:  # noqa: PTH123 - diff walks hand str paths
        while remaining:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                raise HarnessError(f"{path} shrank while it was being read")
            remaining -= len(chunk)
            yield chunk
    if size % BLOCK:
        yield bytes(BLOCK - size % BLOCK)


def end_of_archive() -> bytes:
    """Two zero blocks, as Go's archive/tar writes (no padding to a 10 KiB record)."""
    return bytes(2 * BLOCK)
