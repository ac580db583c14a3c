"""Blobs kept as files named by digest: the storage shared by ``oci:``, ``dir:`` and the
archive transports' staging folders.

A blob is streamed into a temporary file beside its final place while it is hashed, then
renamed: a reader never sees half a blob, and writers in several threads never collide.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from harness.model.digest import Digest, DigestingReader
from harness.transports.types import BlobInfo
from harness.util.cleanup import registered_temporary
from harness.util.errors import HarnessError

if TYPE_CHECKING:
    from harness.util.scratch import ScratchDir

CHUNK = 1 << 20


class BlobNotFoundError(HarnessError):
    """A manifest names a blob the transport does not hold."""


def store_blob(stream: BinaryIO, info: BlobInfo, path_for: Callable[[Digest], Path],
               staging: Path) -> BlobInfo:
    """Copy *stream* to ``path_for(digest)``, hashing it on the way; verify ``info.digest``.

    *staging* is a folder on the same file system as the destination, so the final
    rename is atomic.
    """
    reader = DigestingReader(stream, expected=info.digest, expected_size=info.size)
    staging.mkdir(parents=True, exist_ok=True)
    with registered_temporary(staging, ".blob-") as (fd, tmp):
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := reader.read(CHUNK):
                    out.write(chunk)
            digest = reader.verify()
            final = path_for(digest)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp.chmod(0o644)  # mkstemp made it private; layouts are read by other tools
            tmp.replace(final)
        finally:
            tmp.unlink(missing_ok=True)
    return BlobInfo(digest=digest, size=reader.size, media_type=info.media_type)


def staging_dir(archive: Path) -> ScratchDir:
    """Where an archive destination stages its blobs: beside the archive (the same file
    system, and where the next run to it removes what a killed run left)."""
    # Only the archives stage: oci: and dir: load no scratch folders (tempfile, fcntl).
    from harness.util.scratch import ScratchDir, sweep  # noqa: PLC0415

    prefix = f".{archive.name}.tmp-"
    sweep(archive.parent, prefix)
    return ScratchDir(archive.parent, prefix)


def open_blob(path: Path, digest: Digest) -> tuple[BinaryIO, int]:
    """Open a stored blob for reading; a missing file is a one-line error naming it."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise BlobNotFoundError(f"blob {digest} not found at {path}") from None
    return handle, os.fstat(handle.fileno()).st_size


def existing_blob(path_for: Callable[[Digest], Path], info: BlobInfo) -> BlobInfo | None:
    """The blob's info when the file for its digest exists (trusting the name, as
    containers/image does); None for a blob without a digest."""
    if info.digest is None:
        return None
    with contextlib.suppress(FileNotFoundError):
        size = path_for(info.digest).stat().st_size
        return BlobInfo(digest=info.digest, size=size, media_type=info.media_type)
    return None
