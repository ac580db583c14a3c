"""Turn a container's changes into a stored layer blob in ONE streaming pass.

The diff tar is generated lazily, hashed as it goes by (the diffID), compressed on
demand and hashed again while it is written (the blob digest), as buildah's commit does:
no temporary uncompressed copy, no second read, constant memory whatever the layer size.
Producing (walk, read, tar, compress) runs in a read-ahead thread while the store hashes
and writes, so the two halves use two cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from harness.copy.readahead import ReadAhead
from harness.model.compression import Algorithm, compress, layer_media_type
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest, DigestingReader
from harness.store.diff import Snapshot, diff_stream
from harness.store.records import Layer, layer_id
from harness.store.store import Store
from harness.util.errors import HarnessError


@dataclass(frozen=True)
class LayerBlob:
    """A stored layer: the uncompressed diffID and the blob as stored."""

    diff_digest: Digest
    diff_size: int
    blob_digest: Digest
    blob_size: int
    compression: Algorithm

    def record(self, parent: str | None) -> Layer:
        """The store record for this blob on top of *parent*."""
        return Layer(layer_id(parent, self.blob_digest), parent, str(self.diff_digest),
                     self.diff_size, str(self.blob_digest), self.blob_size,
                     self.compression.value)


def write_layer(store: Store, rootfs: Path, snapshot: Snapshot | None, compression: Algorithm,
                timestamp: int | None, *, squash: bool = False) -> LayerBlob:
    """Diff *rootfs* against *snapshot*, compress, and store the result as a blob;
    *squash*: the whole tree, as buildah's squashed commit writes it."""
    layer_media_type(compression, oci=True)  # refuse bzip2/xz before any work
    try:
        return _write_layer(store, rootfs, None if squash else snapshot, compression,
                            timestamp, squash=squash)
    except OSError as exc:  # a file vanished mid-commit, disk full...: one line
        raise HarnessError(f"cannot write the layer of {rootfs}: {exc}") from exc


def _write_layer(store: Store, rootfs: Path, snapshot: Snapshot | None, compression: Algorithm,
                 timestamp: int | None, *, squash: bool) -> LayerBlob:
    with diff_stream(rootfs, snapshot, timestamp, copier=squash) as tar:
        if compression is Algorithm.NONE:
            # The blob is the diff: hashed once, by the store while it writes (on two
            # threads). No read-ahead thread: reading files is cheap next to hashing,
            # and its hand-over copy of every chunk cost more than it saved (measured
            # in docs/store.md).
            digest, size = store.put_blob(tar)
            return LayerBlob(digest, size, digest, size, compression)
        uncompressed = DigestingReader(tar)
        compressed = compress(cast(BinaryIO, uncompressed), compression)
        with ReadAhead(compressed) as ahead:
            blob_digest, blob_size = store.put_blob(cast(BinaryIO, ahead))
    return LayerBlob(uncompressed.digest(), uncompressed.size, blob_digest, blob_size,
                     compression)


def layer_descriptor(layer: Layer, oci: bool) -> Descriptor:
    """The manifest entry for a stored layer in an OCI or Docker schema2 manifest."""
    return Descriptor(layer_media_type(Algorithm(layer.compression), oci), layer.blob,
                      layer.blob_size)


def parent_layer_descriptor(layer: Layer, oci: bool) -> Descriptor:
    """A parent layer as a commit lists it: by its uncompressed digest and size, with the
    tar media type, however it was pulled (buildah reuses the diff ID as the blobsum)."""
    return Descriptor(layer_media_type(Algorithm.NONE, oci), Digest.parse(layer.diff_digest),
                      layer.diff_size)
