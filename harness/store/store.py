"""The local image store: layers, images, containers, names and blobs.

This plays the role containers/storage plays for buildah, reduced to what committing
and pushing need::

    store = Store.open(Path("/var/tmp/root"))          # or Store.memory() in tests
    ctr = store.create_container(image="localhost/base:latest", name="work")
    (store.rootfs(ctr.id) / "hello").write_text("hi")
    # ... the builder diffs the rootfs, stores the layer and records an image:
    store.add_image(image, new_layers=[layer])
    store.delete_image("localhost/base:latest")        # refused while "work" uses it

Rules kept here:

- an image's ID is the hex of its config digest; its ``top_layer`` chain and its
  manifest, config and layer blobs must all be in the store before it is recorded;
- a name belongs to one image: adding it to another moves it (as in containers/storage);
- removing an image a container uses is refused; removing an image drops the layers and
  blobs nothing else references;
- every change is one atomic metadata write under the writer lock, after the blobs it
  names are durable, so a crash (even ``kill -9``) never leaves a half image visible.

Names are stored as given; normalising ``foo`` to ``localhost/foo:latest`` is the
caller's business (see :mod:`harness.builder.names`).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from harness.model.compression import decompress
from harness.model.digest import Digest, DigestingReader
from harness.store.backend import CHUNK, Backend, DiskBackend, MemoryBackend
from harness.store.records import Container, Image, Layer, Metadata
from harness.util.errors import HarnessError

if TYPE_CHECKING:
    from harness.store.diff import Snapshot
    from harness.util.scratch import ScratchDir

ROOTFS = "rootfs"
TMP = "tmp"  # the store's temporary area
SNAPSHOT = "base.json"


class StoreError(HarnessError):
    """A store operation the records forbid (unknown name, image in use, ...)."""


class ImageUnknownError(StoreError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"image {ref!r} not known in the local store")


class ContainerUnknownError(StoreError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"container {ref!r} not known in the local store")


def now_utc() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


_Record = TypeVar("_Record", Image, Container)


def _by_ref(records: dict[str, _Record], ref: str, names: dict[str, str]) -> _Record | None:
    """Look *ref* up as a name, a full ID, ``sha256:ID`` or a unique ID prefix."""
    if ref in names:
        return records[names[ref]]
    key = ref.removeprefix("sha256:")
    if key in records:
        return records[key]
    matches = [r for i, r in records.items() if i.startswith(key)] if len(key) >= 3 else []
    return matches[0] if len(matches) == 1 else None


class Store:
    """The store over a :class:`Backend`; every public method is safe across processes."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def open(cls, root: Path) -> Store:
        return cls(DiskBackend(root))

    @classmethod
    def memory(cls) -> Store:
        return cls(MemoryBackend())

    @property
    def root(self) -> Path | None:
        """The directory of an on-disk store (None in memory): what ``harness-store:``
        references name."""
        return self.backend.root if isinstance(self.backend, DiskBackend) else None

    def scratch(self, prefix: str) -> ScratchDir:
        """A temporary folder in the store's own area (``<root>/tmp``, the system's for a
        memory store), where ``check`` finds it if the process is killed."""
        import tempfile  # noqa: PLC0415 - a push or a listing never stages files

        from harness.util.scratch import ScratchDir  # noqa: PLC0415

        parent = self.root / TMP if self.root is not None else Path(tempfile.gettempdir())
        return ScratchDir(parent, prefix if self.root is not None else f"oci-harness-{prefix}")

    # -- metadata ---------------------------------------------------------------------

    def read(self) -> Metadata:
        """A consistent snapshot of every record (no lock needed: writes are atomic)."""
        return Metadata.from_bytes(self.backend.read_metadata())

    @contextlib.contextmanager
    def edit(self) -> Iterator[Metadata]:
        """Read-modify-write the records under the writer lock; nothing is written if
        the block raises."""
        with self.backend.locked():
            metadata = self.read()
            yield metadata
            self.backend.write_metadata(metadata.to_bytes())

    # -- blobs ------------------------------------------------------------------------

    def put_blob(self, stream: BinaryIO) -> tuple[Digest, int]:
        """Store a stream's bytes (hashed while written); returns digest and size."""
        return self.backend.put_blob(stream)

    def put_bytes(self, data: bytes) -> Digest:
        digest = Digest.from_bytes(data)
        if not self.backend.has_blob(digest):
            self.backend.put_blob(BytesIO(data))
        return digest

    def open_blob(self, digest: Digest) -> tuple[BinaryIO, int]:
        return self.backend.open_blob(digest)

    def read_blob(self, digest: Digest) -> bytes:
        """A small blob (manifest, config) whole."""
        stream, _ = self.backend.open_blob(digest)
        with stream:
            return stream.read()

    def has_blob(self, digest: Digest) -> bool:
        return self.backend.has_blob(digest)

    # -- layers -----------------------------------------------------------------------

    def layer(self, layer_id: str) -> Layer:
        try:
            return self.read().layers[layer_id]
        except KeyError:
            raise StoreError(f"layer {layer_id} not known in the local store") from None

    def layer_chain(self, top: str | None, metadata: Metadata | None = None) -> list[Layer]:
        """The layers from the base up to *top*."""
        records = metadata or self.read()
        chain: list[Layer] = []
        while top is not None:
            if top not in records.layers:
                raise StoreError(f"layer {top} not known in the local store")
            chain.append(records.layers[top])
            top = records.layers[top].parent
        return chain[::-1]

    def open_layer_diff(self, layer: Layer) -> BinaryIO:
        """The layer's uncompressed tar as a stream."""
        stream, _ = self.backend.open_blob(layer.blob)
        return stream if layer.compression == "none" else decompress(stream)

    def measure_diff(self, blob: Digest, compression: str) -> tuple[Digest, int]:
        """The digest and size of a stored layer blob once uncompressed (read in one
        streaming pass)."""
        stream, _ = self.backend.open_blob(blob)
        with (stream if compression == "none" else decompress(stream)) as raw:
            reader = DigestingReader(raw)
            while reader.read(CHUNK):
                pass
        return reader.digest(), reader.size

    def open_image_blob(self, digest: Digest) -> tuple[BinaryIO, int] | None:
        """A blob an image's manifest names: a stored blob, or a layer's uncompressed tar
        named by its diff digest (a commit lists its parent layers so, as buildah does);
        None when neither is here."""
        if self.has_blob(digest):
            return self.open_blob(digest)
        text = str(digest)
        layer = next((x for x in self.read().layers.values() if x.diff_digest == text), None)
        return None if layer is None else (self.open_layer_diff(layer), layer.diff_size)

    # -- images -----------------------------------------------------------------------

    @staticmethod
    def _image_names(metadata: Metadata) -> dict[str, str]:
        return {n: i.id for i in metadata.images.values() for n in i.names}

    def images(self) -> list[Image]:
        return sorted(self.read().images.values(), key=lambda i: (i.created, i.id))

    def find_image(self, ref: str) -> Image | None:
        metadata = self.read()
        return _by_ref(metadata.images, ref, self._image_names(metadata))

    def image(self, ref: str) -> Image:
        found = self.find_image(ref)
        if found is None:
            raise ImageUnknownError(ref)
        return found

    def add_image(self, image: Image, new_layers: Sequence[Layer] = ()) -> Image:
        """Record *new_layers* and *image* in one atomic write; names move to it.

        An image with the same ID gains the names and takes the new manifest."""
        for digest in (image.manifest_digest, image.config_digest,
                       *(x.blob_digest for x in new_layers)):
            if not self.backend.has_blob(Digest.parse(digest)):
                raise StoreError(f"blob {digest} is not in the store; store blobs first")
        with self.edit() as metadata:
            for layer in new_layers:
                if layer.parent is not None and layer.parent not in metadata.layers:
                    raise StoreError(f"layer {layer.id}: parent {layer.parent} is gone")
                metadata.layers.setdefault(layer.id, layer)
            self.layer_chain(image.top_layer, metadata)
            existing = metadata.images.get(image.id)
            if existing is not None:
                image.names = existing.names + [n for n in image.names
                                                if n not in existing.names]
                image.created = existing.created or image.created
            metadata.images[image.id] = image
            self._move_names(metadata, image.id, image.names)
        return image

    @staticmethod
    def _move_names(metadata: Metadata, image_id: str, names: list[str]) -> None:
        for other in metadata.images.values():
            if other.id != image_id:
                other.names = [n for n in other.names if n not in names]

    def add_names(self, ref: str, names: list[str]) -> Image:
        """Give the image more names, taking them away from any other image."""
        with self.edit() as metadata:
            image = _by_ref(metadata.images, ref, self._image_names(metadata))
            if image is None:
                raise ImageUnknownError(ref)
            image.names += [n for n in names if n not in image.names]
            self._move_names(metadata, image.id, names)
            return image

    def remove_names(self, names: list[str]) -> None:
        """Take names off whichever image has them (``rmi`` of a name on a multi-named
        image); unknown names are an error."""
        with self.edit() as metadata:
            known = self._image_names(metadata)
            for name in names:
                if name not in known:
                    raise ImageUnknownError(name)
                image = metadata.images[known[name]]
                image.names.remove(name)

    def delete_image(self, ref: str) -> Image:
        """Remove the image and what only it used; refused while a container uses it."""
        with self.edit() as metadata:
            image = _by_ref(metadata.images, ref, self._image_names(metadata))
            if image is None:
                raise ImageUnknownError(ref)
            users = sorted(c.name for c in metadata.containers.values()
                           if c.image_id == image.id)
            if users:
                raise StoreError(f"image {ref!r} is in use by container(s) "
                                 f"{', '.join(users)}: remove them first")
            del metadata.images[image.id]
            removed = self._drop_unused_layers(metadata, image.top_layer)
            candidates = {image.manifest_digest, image.config_digest,
                          *(x for x in image.extra.values() if x.startswith("sha256:")),
                          *(x.blob_digest for x in removed)}
            doomed = sorted(candidates - self.referenced_blobs(metadata))
        for digest in doomed:  # only once the metadata no longer names them
            self.backend.delete_blob(Digest.parse(digest))
        return image

    @staticmethod
    def _drop_unused_layers(metadata: Metadata, top: str | None) -> list[Layer]:
        """Remove *top* and its ancestors while nothing else stands on them."""
        removed: list[Layer] = []
        while top is not None and top in metadata.layers:
            if any(i.top_layer == top for i in metadata.images.values()) \
                    or any(c.top_layer == top for c in metadata.containers.values()) \
                    or any(x.parent == top for x in metadata.layers.values()):
                break
            layer = metadata.layers.pop(top)
            removed.append(layer)
            top = layer.parent
        return removed

    @staticmethod
    def referenced_blobs(metadata: Metadata) -> set[str]:
        """Every blob digest some record names."""
        refs = {x.blob_digest for x in metadata.layers.values()}
        for image in metadata.images.values():
            refs |= {image.manifest_digest, image.config_digest}
            refs |= {x for x in image.extra.values() if x.startswith("sha256:")}
        return refs

    # -- containers -------------------------------------------------------------------

    def containers(self) -> list[Container]:
        return sorted(self.read().containers.values(), key=lambda c: (c.created, c.id))

    def find_container(self, ref: str) -> Container | None:
        metadata = self.read()
        names = {c.name: c.id for c in metadata.containers.values()}
        return _by_ref(metadata.containers, ref, names)

    def container(self, ref: str) -> Container:
        found = self.find_container(ref)
        if found is None:
            raise ContainerUnknownError(ref)
        return found

    def container_names(self) -> set[str]:
        return {c.name for c in self.read().containers.values()}

    def create_container(self, image: str | None, name: str, metadata: str = "", *,
                         container_id: str | None = None) -> Container:
        """A container over *image* (None = scratch): its rootfs holds the image's files
        and a snapshot of them, the base the commit diffs against. *container_id* (64
        hex digits) reproduces another tool's container: a Docker config names it."""
        # Only containers apply layers and take snapshots: a push or a listing skips tarfile.
        from harness.store.apply import apply_layer  # noqa: PLC0415
        from harness.store.diff import save_snapshot, take_snapshot  # noqa: PLC0415
        from harness.util.scratch import hold  # noqa: PLC0415

        base = self.image(image) if image is not None else None
        if container_id is None:
            container_id = os.urandom(32).hex()
        elif not re.fullmatch("[0-9a-f]{64}", container_id):
            raise StoreError(f"invalid container ID {container_id!r}: expected 64 hex digits")
        state = self.backend.container_dir(container_id)
        rootfs = state / ROOTFS
        if container_id in self.read().containers or rootfs.exists():
            raise StoreError(f"the container ID {container_id} is already in use")
        creating = hold(state)  # released once recorded: unheld and unrecorded = leftover
        rootfs.mkdir(mode=0o755)
        try:
            top = base.top_layer if base is not None else None
            for layer in self.layer_chain(top):
                with self.open_layer_diff(layer) as diff:
                    apply_layer(rootfs, diff)
            save_snapshot(take_snapshot(rootfs), state / SNAPSHOT)
            record = Container(container_id, name, base.id if base else None, top,
                               now_utc(), metadata)
            with self.edit() as records:
                if name in {c.name for c in records.containers.values()}:
                    raise StoreError(f"the container name {name!r} is already in use")
                if base is not None and base.id not in records.images:
                    raise ImageUnknownError(image or "")
                records.containers[container_id] = record
        except BaseException:
            shutil.rmtree(state, ignore_errors=True)
            raise
        finally:
            os.close(creating)
        return record

    def set_container_metadata(self, ref: str, metadata: str) -> None:
        with self.edit() as records:
            container = _by_ref(records.containers, ref,
                                {c.name: c.id for c in records.containers.values()})
            if container is None:
                raise ContainerUnknownError(ref)
            container.metadata = metadata

    def rootfs(self, container_id: str) -> Path:
        """The read-write directory the user writes into."""
        return self.backend.container_dir(container_id) / ROOTFS

    def snapshot(self, container_id: str) -> Snapshot | None:
        """The container's base state; None when it has no parent layer (its layer is
        then the whole tree, as containers/storage diffs such a layer)."""
        from harness.store.diff import load_snapshot  # noqa: PLC0415

        if self.container(container_id).top_layer is None:
            return None
        return load_snapshot(self.backend.container_dir(container_id) / SNAPSHOT)

    def delete_container(self, ref: str) -> Container:
        with self.edit() as records:
            container = _by_ref(records.containers, ref,
                                {c.name: c.id for c in records.containers.values()})
            if container is None:
                raise ContainerUnknownError(ref)
            del records.containers[container.id]
        shutil.rmtree(self.backend.container_dir(container.id), ignore_errors=True)
        return container
