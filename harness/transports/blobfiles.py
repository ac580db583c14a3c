"""Blobs kept as files named by digest: the storage shared by ``oci:``, ``dir:`` and the
archive transports' staging folders.

A blob is streamed into a temporary file beside its final place while it is hashed, then
renamed: a reader never sees half a blob, and writers in several threads never collide.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from harness.model.digest import Digest, Digester, DigestMismatchError
from harness.transports.types import BlobInfo
from harness.util.errors import HarnessError

CHUNK = 1 << 20


class BlobNotFoundError(HarnessError):
    """A manifest names a blob the transport does not hold."""


def store_blob(stream: BinaryIO, info: BlobInfo, path_for: Callable[[Digest], Path],
               staging: Path) -> BlobInfo:
    """Copy *stream* to ``path_for(digest)``, hashing it on the way; verify ``info.digest``.

    *staging* is a folder on the same file system as the destination, so the final
    rename is atomic.
    """
    algorithm = info.digest.algorithm if info.digest is not None else "sha256"
    digester = Digester(algorithm)
    staging.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".blob-", dir=staging)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                digester.update(chunk)
                out.write(chunk)
        digest = digester.digest()
        if info.digest is not None and digest != info.digest:
            raise DigestMismatchError(info.digest, digest)
        if info.size >= 0 and digester.size != info.size:
            raise HarnessError(
                f"blob {digest}: expected {info.size} bytes, got {digester.size}")
        final = path_for(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp.chmod(0o644)  # mkstemp made it private; layouts are read by other tools and users
        tmp.replace(final)
    finally:
        tmp.unlink(missing_ok=True)
    return BlobInfo(digest=digest, size=digester.size, media_type=info.media_type)


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
