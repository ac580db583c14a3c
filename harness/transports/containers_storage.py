"""The ``containers-storage:[driver@root+runroot:options]REF`` transport: the stores of
buildah, podman and skopeo (containers/storage), as containers/image's ``storage``
transport reads them.

The store comes from the reference's ``[...]``, else storage.conf and the defaults
(:mod:`harness.store.containers.conf`). A name is normalised as containers/image does
(``app`` is ``docker.io/library/app:latest``; buildah names its commits
``localhost/NAME``); an image is found by that name, by ID (or a unique ID prefix), or by
a digest in the name. The manifest, config and signatures are the image's big data;
each layer is rebuilt byte for byte from its tar-split metadata and the driver's files,
so a copy keeps every diffID and, uncompressed, every digest. Reading takes the store's
locks shared and creates nothing. Writing stores layers and the image as
containers/image's storage destination does (same layer and image IDs, big-data keys,
metadata and names), each record file under its exclusive lock, with the tar-split that
lets buildah and podman push the layer again. The project's own store is
``harness-store:``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from harness.model import gojson, mediatype
from harness.model.compression import CHUNK_SIZE, MAGIC_LENGTH, decompress, detect
from harness.model.config import parse_config
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest, DigestMismatchError
from harness.model.image import ImageManifest, ManifestUpdates
from harness.model.manifest import detect_media_type, manifest_digest, parse_manifest
from harness.model.reference import Reference
from harness.model.transportref import (
    CONTAINERS_STORAGE,
    TransportReference,
    parse_transport_reference,
)
from harness.store.containers import conf
from harness.store.containers.store import (
    MANIFEST_KEY,
    ContainersStore,
    ImageRecord,
    LayerRecord,
    NewImage,
    NewLayer,
    StorageError,
    go_time,
    manifest_key,
)
from harness.transports.types import (
    BlobInfo,
    ImageDestination,
    ImageReference,
    ImageSource,
    LayerCompression,
    SystemContext,
    Transport,
)
from harness.util.errors import HarnessError

_ID_PREFIX = re.compile(r"[0-9a-f]{3,63}")  # containers/image's minimumTruncatedIDLength is 3


class ContainersStorageTransport(Transport):
    name = CONTAINERS_STORAGE

    def parse_reference(self, reference: str) -> ImageReference:
        parsed = parse_transport_reference(f"{self.name}:{reference}")
        image = reference.split("]", 1)[-1] if reference.startswith("[") else reference
        return ContainersStorageReference(
            parsed, _ID_PREFIX.fullmatch(image) is not None and parsed.image_id is None)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        """A scope is ``[driver@root]``, ``[root]`` or either followed by a name, as
        containers/image allows (the store part is required)."""
        if not scope.startswith("[") or "]" not in scope:
            raise HarnessError(f"invalid policy scope {scope!r} for {self.name}: it must "
                               "start with [driver@root] or [root]")
        text = f"{scope}x" if scope.endswith("]") else scope
        try:
            parse_transport_reference(f"{self.name}:{text}")
        except HarnessError as exc:
            raise HarnessError(f"invalid policy scope {scope!r} for {self.name}: {exc}") from None


class ContainersStorageReference(ImageReference):
    """A name (``:latest`` implied) and/or an image ID in a containers/storage store.

    *maybe_id_prefix*: the name is also a short hex string, which containers/image first
    tries as the start of an image ID.
    """

    def __init__(self, parsed: TransportReference, maybe_id_prefix: bool = False) -> None:
        self.parsed = parsed
        self.name = parsed.reference
        self.image_id = parsed.image_id
        self.maybe_id_prefix = maybe_id_prefix
        self.options = conf.resolve(parsed.storage)

    @property
    def transport(self) -> Transport:
        return TRANSPORT

    def string_within_transport(self) -> str:
        return str(self.parsed).removeprefix(f"{CONTAINERS_STORAGE}:")

    def docker_reference(self) -> Reference | None:
        return self.name

    def open_store(self) -> ContainersStore:
        return ContainersStore(self.options)

    def _store_spec(self, with_driver: bool) -> str:
        store = self.open_store()
        driver = f"{store.driver.name}@" if with_driver and store.driver else ""
        return f"[{driver}{self.options.graph_root}]"

    def policy_configuration_identity(self) -> str:
        identity = self._store_spec(with_driver=True) + (str(self.name) if self.name else "")
        return f"{identity}@{self.image_id}" if self.image_id else identity

    def policy_configuration_namespaces(self) -> list[str]:
        spec = self._store_spec(with_driver=True)
        scopes = []
        if self.name is not None:
            if self.image_id:
                scopes.append(spec + str(self.name))
            if self.name.tag is not None and self.name.digest is not None:
                scopes.append(f"{spec}{self.name.name}:{self.name.tag}")
            parts = self.name.name.split("/")
            scopes += [spec + "/".join(parts[:n]) for n in range(len(parts), 0, -1)]
        return [*scopes, spec, self._store_spec(with_driver=False)]

    def resolve(self, store: ContainersStore) -> ImageRecord:
        """The image this reference means, as containers/image's ``resolveImage`` finds it."""
        image = None
        if self.maybe_id_prefix and self.name is not None:
            prefix = self.name.name.rsplit("/", 1)[-1]
            image = store.find_image(prefix)
            if image is not None and image.id.startswith(prefix):
                return image
            image = None
        if self.image_id is not None:
            image = store.find_image(self.image_id)
        elif self.name is not None:
            image = store.find_image(str(self.name))
            if image is None and self.name.digest is not None:
                matches = [i for i in store.images_by_digest(str(self.name.digest))
                           if _matches_repository(i, self.name)]
                image = matches[-1] if matches else None
        if image is None or (self.name is not None and not _matches_repository(image, self.name)):
            wanted = " ".join(str(x) for x in (self.name, self.image_id) if x is not None)
            raise StorageError(f"containers-storage: no image {wanted} in the store {store}")
        return image

    def new_image_source(self, ctx: SystemContext) -> ImageSource:
        return ContainersStorageImageSource(self, self.open_store())

    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        return ContainersStorageImageDestination(self, self.open_store())


def _matches_repository(image: ImageRecord, name: Reference) -> bool:
    for stored in image.names:
        try:
            if Reference.parse(stored).name == name.name:
                return True
        except HarnessError:
            continue
    return False


class ContainersStorageImageSource(ImageSource):
    """One image; its layer chain is read once, when the source opens."""

    def __init__(self, ref: ContainersStorageReference, store: ContainersStore) -> None:
        self._ref = ref
        self.store = store
        self.image = ref.resolve(store)
        self.layers = store.layer_chain(self.image.top_layer)
        self._metadata = _metadata(self.image)

    @property
    def reference(self) -> ImageReference:
        return self._ref

    def get_manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        if instance is not None:
            raw = self.store.big_data(self.image, manifest_key(instance))
            return raw, detect_media_type(raw)
        name = self._ref.name
        if name is not None and name.digest is not None \
                and manifest_key(name.digest) in self.image.big_data_names:
            raw = self.store.big_data(self.image, manifest_key(name.digest))
        else:
            raw = self.store.big_data(self.image, MANIFEST_KEY)
        media_type = detect_media_type(raw)
        return self._as_stored(raw, media_type), media_type

    def _as_stored(self, raw: bytes, media_type: str) -> bytes:
        """The manifest as containers/image's ``LayerInfosForCopy`` presents it: the
        store keeps layers only uncompressed, so a manifest that names them otherwise
        (an image pulled with compressed layers) is rewritten to name each by its diffID,
        size and uncompressed type; one that already does comes back byte for byte."""
        image = ImageManifest.parse(raw, media_type)
        if len(image.layers) != len(self.layers):
            raise StorageError(f"containers-storage: image {self.image.id}: its manifest "
                               f"lists {len(image.layers)} layers, the store "
                               f"{len(self.layers)}")
        uncompressed = (mediatype.OCI_LAYER if media_type == mediatype.OCI_MANIFEST
                        else mediatype.DOCKER_LAYER)
        layers = []
        for listed, stored in zip(image.layers, self.layers, strict=True):
            if stored.diff_digest is None or stored.diff_size < 0:
                raise StorageError(f"containers-storage: layer {stored.id} has no recorded "
                                   "uncompressed digest and size")
            if str(listed.digest) == stored.diff_digest:
                layers.append(listed)
            else:
                layers.append(Descriptor(uncompressed, Digest.parse(stored.diff_digest),
                                         stored.diff_size))
        return image.with_updates(ManifestUpdates(layers=layers)).manifest

    def has_thread_safe_get_blob(self) -> bool:
        return True

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        if info.digest is None:
            raise HarnessError("containers-storage: a blob can only be read by digest")
        layer = self._layer(str(info.digest))
        if layer is not None:
            return self.store.open_layer(layer), layer.diff_size
        if str(info.digest) not in self.image.big_data_names:
            raise StorageError(f"containers-storage: image {self.image.id} has no blob "
                               f"{info.digest}")
        data = self.store.big_data(self.image, str(info.digest))
        return io.BytesIO(data), len(data)

    def _layer(self, digest: str) -> LayerRecord | None:
        for layer in self.layers:
            if layer.diff_digest == digest:
                return layer
        return None

    def get_signatures(self, instance: Digest | None = None) -> list[bytes]:
        """Signatures as containers/image stores them: one big-data item of concatenated
        signatures and their sizes in the image's metadata."""
        if instance is None:
            sizes, key = self._metadata.get("signature-sizes") or [], "signatures"
        else:
            by_instance = self._metadata.get("signatures-sizes") or {}
            sizes = by_instance.get(str(instance)) or [] if isinstance(by_instance, dict) else []
            key = f"signature-{instance.encoded}"
        if not isinstance(sizes, list) or not all(isinstance(n, int) for n in sizes):
            raise StorageError(f"containers-storage: image {self.image.id}: signature sizes "
                               "in its metadata are not a list of numbers")
        if not sizes:
            return []
        data = self.store.big_data(self.image, key)
        if sum(sizes) != len(data):
            raise StorageError(f"containers-storage: image {self.image.id}: signature data "
                               f"{key!r} has {len(data)} bytes, its sizes add up to {sum(sizes)}")
        out, offset = [], 0
        for size in sizes:
            out.append(data[offset:offset + size])
            offset += size
        return out

    def repository_tags(self) -> list[str]:
        if self._ref.name is None:
            return []
        tags = []
        for image in self.store.images():
            for stored in image.names:
                ref = Reference.parse(stored)
                if ref.name == self._ref.name.name and ref.tag is not None:
                    tags.append(ref.tag)
        return sorted(set(tags))


def _metadata(image: ImageRecord) -> dict[str, Any]:
    if not image.metadata:
        return {}
    try:
        value = json.loads(image.metadata)
    except ValueError:
        raise StorageError(f"containers-storage: image {image.id} has unreadable metadata") \
            from None
    return value if isinstance(value, dict) else {}


TRANSPORT = ContainersStorageTransport()


class ContainersStorageImageDestination(ImageDestination):
    """Writes an image as containers/image's storage destination does: blobs wait in a
    temporary directory; publishing stores each layer not yet in the store (ID: the
    diffID, or sha256 of ``PARENT+DIFFID`` above another layer), then the image (ID: the
    config digest) with its config, manifest and signatures as big data and its name."""

    def __init__(self, ref: ContainersStorageReference, store: ContainersStore) -> None:
        if ref.name is None and ref.image_id is None:
            raise HarnessError("containers-storage: writing needs an image name or ID")
        self._ref = ref
        self.store = store
        self._writer = store.writer()
        self._dir = Path(tempfile.mkdtemp(prefix="containers-storage-"))
        self._blobs: dict[Digest, Path] = {}
        self._guard = threading.Lock()
        self._manifest: tuple[bytes, str] | None = None
        self._signatures: tuple[bytes, list[int]] = (b"", [])
        self._instance_signatures: dict[Digest, tuple[bytes, list[int]]] = {}

    @property
    def reference(self) -> ImageReference:
        return self._ref

    def supported_manifest_mime_types(self) -> list[str]:
        return [mediatype.OCI_MANIFEST, mediatype.DOCKER_V2S2_MANIFEST]

    def desired_layer_compression(self) -> LayerCompression:
        return LayerCompression.PRESERVE

    def has_thread_safe_put_blob(self) -> bool:
        return True

    def put_blob(self, stream: BinaryIO, info: BlobInfo, is_config: bool) -> BlobInfo:
        fd, name = tempfile.mkstemp(dir=self._dir)
        hasher, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK_SIZE):
                hasher.update(chunk)
                out.write(chunk)
                size += len(chunk)
        digest = Digest.parse(f"sha256:{hasher.hexdigest()}")
        if info.digest is not None and digest != info.digest:
            Path(name).unlink()
            raise DigestMismatchError(info.digest, digest)
        with self._guard:
            self._blobs[digest] = Path(name)
        return BlobInfo(digest=digest, size=size, media_type=info.media_type)

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        if info.digest is None:
            return None
        with self._guard:
            if info.digest in self._blobs:
                return info
        wanted = str(info.digest)
        for layer in self.store.layers():
            if layer.diff_digest == wanted:
                return replace(info, size=layer.diff_size)
            if layer.compressed_digest == wanted:
                return replace(info, size=int(layer.raw.get("compressed-size", -1)))
        return None

    def put_manifest(self, manifest: bytes, mime_type: str,
                     instance: Digest | None = None) -> None:
        if instance is not None:
            raise HarnessError("containers-storage: cannot store manifest lists")
        self._manifest = (manifest, mime_type)

    def supports_signatures(self) -> bool:
        return True

    def put_signatures(self, signatures: list[bytes], instance: Digest | None = None) -> None:
        """As containers/image 5.23: the default instance's signatures are also filed
        under the manifest's digest."""
        value = (b"".join(signatures), [len(s) for s in signatures])
        if instance is None:
            self._signatures = value
            if self._manifest is not None:
                instance = manifest_digest(self._manifest[0])
        if instance is not None:
            self._instance_signatures[instance] = value

    def publish(self) -> None:
        if self._manifest is None:
            raise HarnessError("containers-storage: publish without a manifest")
        raw, mime_type = self._manifest
        manifest = parse_manifest(raw, mime_type)
        if manifest.config is None:
            raise HarnessError(f"containers-storage: cannot store a {mime_type} image")
        config_blob = self._blobs.get(manifest.config.digest)
        if config_blob is None:
            raise HarnessError(f"containers-storage: config {manifest.config.digest} was "
                               "never written")
        config_bytes = config_blob.read_bytes()
        config = parse_config(config_bytes, manifest.config.media_type)
        if len(config.diff_ids) != len(manifest.layers):
            raise HarnessError(f"containers-storage: {len(manifest.layers)} layers but "
                               f"{len(config.diff_ids)} diff_ids in the config")
        parent: str | None = None
        existing = {layer.id for layer in self.store.layers()}
        for descriptor, diff_id in zip(manifest.layers, config.diff_ids, strict=True):
            layer_id = diff_id.encoded if parent is None else hashlib.sha256(
                f"{parent}+{diff_id.encoded}".encode()).hexdigest()
            if layer_id not in existing:
                blob = self._blob(descriptor.digest, diff_id)
                with blob.open("rb") as head:
                    algorithm = detect(head.read(MAGIC_LENGTH))
                self._writer.put_layer(NewLayer(
                    id=layer_id, parent=parent, diff_id=str(diff_id), blob=blob,
                    blob_digest=str(descriptor.digest), compression=algorithm.value),
                    _open_decompressed)
            parent = layer_id
        digest = manifest_digest(raw)
        big_data = [(str(manifest.config.digest), config_bytes), (manifest_key(digest), raw),
                    (MANIFEST_KEY, raw)]
        if self._signatures[0]:
            big_data.append(("signatures", self._signatures[0]))
        big_data += [(f"signature-{d.encoded}", blob)
                     for d, (blob, _) in self._instance_signatures.items()]
        metadata: dict[str, Any] = {}
        if self._signatures[1]:
            metadata["signature-sizes"] = self._signatures[1]
        if self._instance_signatures:
            metadata["signatures-sizes"] = {str(d): sizes for d, (_, sizes)
                                            in sorted(self._instance_signatures.items())}
        self._writer.put_image(NewImage(
            id=self._ref.image_id or manifest.config.digest.encoded, top_layer=parent,
            big_data=big_data, metadata=gojson.dumps(metadata).decode(),
            name=str(self._ref.name) if self._ref.name is not None else None,
            created=config.created or go_time()))

    def _blob(self, digest: Digest, diff_id: Digest) -> Path:
        """The layer blob as written, else (a reused blob) the same content read back,
        uncompressed, from a layer of the store that has it."""
        blob = self._blobs.get(digest)
        if blob is not None:
            return blob
        source = next((layer for layer in self.store.layers()
                       if layer.diff_digest == str(diff_id)), None)
        if source is None:
            raise HarnessError(f"containers-storage: layer {digest} was never written and "
                               "is not in the store")
        blob = self._dir / f"reused-{source.id}"
        with self.store.open_layer(source) as stream, blob.open("wb") as out:
            shutil.copyfileobj(stream, out, CHUNK_SIZE)
        return blob

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


def _open_decompressed(path: Path) -> BinaryIO:
    return decompress(path.open("rb"))
