"""The ``harness-store:[ROOT]REF`` transport over the project's own store (:mod:`harness.store`).

The project's store is the storage fake its tests use and what ``--root`` manages; it is
not containers/storage, so it has a transport name of its own. buildah's and podman's
stores are ``containers-storage:`` (:mod:`harness.transports.containers_storage`).

An image is found by its full normalised name (as stored), by ID or by ``sha256:ID``.
The store keeps each image's manifest, config and layer blobs as they were committed, so
reading serves them unchanged (the manifest digest survives a push). Writing stores the
blobs, records one layer per manifest layer (diffIDs from the config) and names the image
at publish, in one atomic store update. The store root comes from the reference's
``[root]``, else ``SystemContext.store_root``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from harness.model import mediatype, transportref
from harness.model.compression import algorithm_for_media_type
from harness.model.digest import Digest, DigestMismatchError
from harness.model.manifest import parse_manifest
from harness.model.reference import Reference
from harness.model.transportref import TransportReference, parse_transport_reference
from harness.store.records import Image, Layer, layer_id
from harness.store.store import ImageUnknownError, Store
from harness.transports.types import (
    BlobInfo,
    ImageDestination,
    ImageReference,
    ImageSource,
    SystemContext,
    Transport,
)
from harness.util.errors import HarnessError


class HarnessStoreTransport(Transport):
    name = transportref.HARNESS_STORE

    def parse_reference(self, reference: str) -> ImageReference:
        return HarnessStoreReference(parse_transport_reference(f"{self.name}:{reference}"))

    def validate_policy_configuration_scope(self, scope: str) -> None:
        """A scope is ``[root]``, ``[root]name`` or a name, as containers/image allows."""
        # A store alone gets a placeholder name so the reference grammar can check it.
        text = f"{scope}x" if scope.endswith("]") else scope
        try:
            parse_transport_reference(f"{self.name}:{text}")
        except HarnessError as exc:
            raise HarnessError(f"invalid policy scope {scope!r} for {self.name}: {exc}") from None


class HarnessStoreReference(ImageReference):
    """A name (``:latest`` implied) and/or an image ID in a store.

    *store* binds the reference to an already open store (an in-memory one in tests, or
    the store a caller already holds) instead of opening one by root.
    """

    def __init__(self, parsed: TransportReference, store: Store | None = None) -> None:
        self.parsed = parsed
        name = parsed.reference
        if name is not None and name.tag is None and name.digest is None:
            name = name.with_tag("latest")
        self.name = name
        self.image_id = parsed.image_id
        self.root = Path(parsed.storage.root) if parsed.storage and parsed.storage.root else None
        self.store = store

    @property
    def transport(self) -> Transport:
        return TRANSPORT

    def string_within_transport(self) -> str:
        parsed = replace(self.parsed, reference=self.name)
        return str(parsed).removeprefix(f"{TRANSPORT.name}:")

    def docker_reference(self) -> Reference | None:
        return self.name

    def _store_prefix(self) -> str:
        return f"[{self.root}]" if self.root else ""

    def policy_configuration_identity(self) -> str:
        return self._store_prefix() + (str(self.name) if self.name else "")

    def policy_configuration_namespaces(self) -> list[str]:
        if self.name is None:
            return []
        scopes = [f"{self._store_prefix()}{self.name.name}"]
        parts = self.name.name.split("/")
        scopes += [self._store_prefix() + "/".join(parts[:n]) for n in range(len(parts) - 1, 0, -1)]
        return [*scopes, f"[{self.root}]"] if self.root else scopes

    def open_store(self, ctx: SystemContext) -> Store:
        if self.store is not None:
            return self.store
        root = self.root or ctx.store_root
        if root is None:
            raise HarnessError(f"harness-store: no store root for {self}: name one as "
                               "harness-store:[/root]NAME or pass --root")
        return Store.open(root)

    def find(self, store: Store) -> Image:
        for key in (self.image_id, str(self.name) if self.name else None):
            if key is not None and (image := store.find_image(key)) is not None:
                return image
        raise ImageUnknownError(self.string_within_transport())

    def new_image_source(self, ctx: SystemContext) -> ImageSource:
        return HarnessStoreImageSource(self, self.open_store(ctx))

    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        if self.name is None:
            raise HarnessError("harness-store: writing needs an image name")
        return HarnessStoreImageDestination(self, self.open_store(ctx))


class HarnessStoreImageSource(ImageSource):
    def __init__(self, ref: HarnessStoreReference, store: Store) -> None:
        self._ref = ref
        self.store = store
        self.image = ref.find(store)

    @property
    def reference(self) -> ImageReference:
        return self._ref

    def get_manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        if instance is not None:
            raise HarnessError("harness-store: images hold no manifest lists")
        return self.store.read_blob(self.image.digest), self.image.manifest_type

    def has_thread_safe_get_blob(self) -> bool:
        return True

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        if info.digest is None:
            raise HarnessError("harness-store: a blob can only be read by digest")
        found = self.store.open_image_blob(info.digest)
        return self.store.open_blob(info.digest) if found is None else found


class HarnessStoreImageDestination(ImageDestination):
    def __init__(self, ref: HarnessStoreReference, store: Store) -> None:
        self._ref = ref
        self.store = store
        self._manifest: tuple[bytes, str] | None = None

    @property
    def reference(self) -> ImageReference:
        return self._ref

    def supported_manifest_mime_types(self) -> list[str]:
        return [mediatype.OCI_MANIFEST, mediatype.DOCKER_V2S2_MANIFEST]

    def has_thread_safe_put_blob(self) -> bool:
        return True

    def put_blob(self, stream: BinaryIO, info: BlobInfo, is_config: bool) -> BlobInfo:
        digest, size = self.store.put_blob(stream)
        if info.digest is not None and digest != info.digest:
            raise DigestMismatchError(info.digest, digest)
        return BlobInfo(digest=digest, size=size, media_type=info.media_type)

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        if info.digest is not None and self.store.has_blob(info.digest):
            return info
        return None

    def put_manifest(self, manifest: bytes, mime_type: str,
                     instance: Digest | None = None) -> None:
        if instance is not None:
            raise HarnessError("harness-store: cannot store manifest lists")
        self._manifest = (manifest, mime_type)

    def publish(self) -> None:
        if self._manifest is None:
            raise HarnessError("harness-store: publish without a manifest")
        # Only storing an image reads its config: a push from the store never loads this.
        from harness.model.config import parse_config  # noqa: PLC0415

        raw, mime_type = self._manifest
        manifest = parse_manifest(raw, mime_type)
        if manifest.config is None:
            raise HarnessError(f"harness-store: cannot store a {mime_type} image")
        config = parse_config(self.store.read_blob(manifest.config.digest),
                              manifest.config.media_type)
        diff_ids = config.diff_ids
        if len(diff_ids) != len(manifest.layers):
            raise HarnessError(f"harness-store: {len(manifest.layers)} layers but "
                               f"{len(diff_ids)} diff_ids in the config")
        layers, parent = [], None
        for descriptor, diff_id in zip(manifest.layers, diff_ids, strict=True):
            algorithm = algorithm_for_media_type(descriptor.media_type)
            compression = algorithm.value if algorithm else "none"
            # Measured (and checked against the config) as containers/storage does when
            # it applies a pulled layer: a commit on top lists it by these.
            actual, diff_size = self.store.measure_diff(descriptor.digest, compression)
            if actual != diff_id:
                raise DigestMismatchError(diff_id, actual)
            layer = Layer(layer_id(parent, descriptor.digest), parent, str(diff_id),
                          diff_size, str(descriptor.digest), descriptor.size, compression)
            layers.append(layer)
            parent = layer.id
        digest = self.store.put_bytes(raw)
        self.store.add_image(Image(
            id=manifest.config.digest.encoded,
            names=[str(self._ref.name)],
            top_layer=parent,
            manifest_digest=str(digest),
            manifest_type=mime_type,
            config_digest=str(manifest.config.digest),
            created=config.created or "",
        ), layers)


TRANSPORT = HarnessStoreTransport()
