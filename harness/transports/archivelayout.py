"""Unpacking an OCI layout from a tar archive, bounded by what the layout declares.

An archive is another tool's (or an attacker's) file: a 305 KB ``.tar.xz`` can hold
gigabytes of zeros. So nothing is extracted blindly. ``index.json`` and ``oci-layout``
are read first (at most 4 MiB each); then, pass by pass, the blobs the layout names:
the manifests ``index.json`` lists, the manifests and blobs those list, and so on. A
blob is written only if a descriptor names it, refused before a byte is written if its
tar header says another size than the descriptor, and checked against its digest while
written. A member nothing names is never written; the total written is the sum of the
declared sizes.

A pass reads the archive from the start (seeking over member data in an uncompressed
tar, decompressing through it in a compressed one); an image takes three passes, one
more per level of nested index.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, cast

from harness.model.descriptor import Descriptor
from harness.model.digest import Digest, DigestError
from harness.model.limits import MAX_MANIFEST_SIZE, read_limited
from harness.model.manifest import parse_manifest
from harness.transports.oci import OCILayout
from harness.transports.types import BlobInfo
from harness.util.errors import HarnessError
from harness.util.fs import atomic_write_bytes

TOP_FILES = ("index.json", "oci-layout")
MAX_PASSES = 8  # index.json, then up to six levels of nested indexes, then the blobs


def _members(tar: tarfile.TarFile) -> Iterator[tuple[str, tarfile.TarInfo]]:
    """The regular files of *tar*, named without a leading ``./``."""
    for member in tar:
        if member.isfile():
            yield member.name.removeprefix("./"), member


def _blob_digest(name: str) -> Digest | None:
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != "blobs":
        return None
    try:
        return Digest.parse(f"{parts[1]}:{parts[2]}")
    except DigestError:
        return None


class _Unpacker:
    def __init__(self, archive: Path, into: Path) -> None:
        self.archive = archive
        self.layout = OCILayout(into)
        self.declared: dict[Digest, int] = {}  # every blob a descriptor names
        self.manifests: set[Digest] = set()  # those that are manifests or indexes
        self.written: set[Digest] = set()

    def _open(self) -> tarfile.TarFile:
        return tarfile.open(self.archive, "r:*")

    def top_files(self) -> None:
        """``index.json`` and ``oci-layout``: the first pass stops once both are read."""
        missing = set(TOP_FILES)
        with self._open() as tar:
            for name, member in _members(tar):
                if name in missing:
                    stream = tar.extractfile(member)
                    assert stream is not None  # a regular member always has data
                    data = read_limited(cast(BinaryIO, stream), MAX_MANIFEST_SIZE,
                                        f"oci-archive: {self.archive}: {name}")
                    atomic_write_bytes(self.layout.root / name, data)
                    missing.discard(name)
                    if not missing:
                        break
        if "index.json" in missing:
            raise HarnessError(f"oci-archive: {self.archive} is not an OCI layout: "
                               "no index.json")
        self._name(self.layout.read_index().manifests, manifests=True)

    def _name(self, descriptors: Sequence[Descriptor], *, manifests: bool) -> None:
        for descriptor in descriptors:
            digest, size = descriptor.digest, descriptor.size
            if self.declared.setdefault(digest, size) != size:
                raise HarnessError(f"oci-archive: {self.archive}: blob {digest} is declared "
                                   f"with sizes {self.declared[digest]} and {size}")
            if manifests:
                self.manifests.add(digest)

    def blobs_pass(self) -> bool:
        """Write every named blob not written yet; then name what the new manifests
        reference. Whether anything was written."""
        new: list[Digest] = []
        with self._open() as tar:
            for name, member in _members(tar):
                digest = _blob_digest(name)
                if digest is None or digest not in self.declared or digest in self.written:
                    continue
                size = self.declared[digest]
                if size >= 0 and member.size != size:
                    raise HarnessError(f"oci-archive: {self.archive}: {name} is "
                                       f"{member.size} bytes, the layout declares {size}")
                stream = tar.extractfile(member)
                assert stream is not None
                with stream:
                    self.layout.put_blob(cast(BinaryIO, stream),
                                         BlobInfo(digest=digest, size=size))
                self.written.add(digest)
                new.append(digest)
        for digest in new:
            if digest in self.manifests:
                manifest = parse_manifest(self.layout.read_manifest(digest))
                self._name(manifest.referenced_manifests(), manifests=True)
                self._name(manifest.referenced_blobs(), manifests=False)
        return bool(new)


def unpack_layout(archive: Path, into: Path) -> None:
    """Unpack the OCI layout in *archive* into the folder *into* (see the module
    docstring); a blob the archive lacks is left out, to fail when it is read."""
    unpacker = _Unpacker(archive, into)
    try:
        unpacker.top_files()
        for _ in range(MAX_PASSES):
            if not unpacker.blobs_pass():
                break
    except FileNotFoundError as exc:
        if Path(exc.filename or "") == archive:
            raise HarnessError(f"oci-archive: {archive} does not exist") from None
        raise HarnessError(f"oci-archive: cannot extract {archive}: {exc}") from None
    except (tarfile.TarError, OSError) as exc:
        raise HarnessError(f"oci-archive: cannot extract {archive}: {exc}") from None
