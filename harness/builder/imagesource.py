"""An ImageSource over a freshly built image (buildah's ``containerImageRef``).

The copy engine pushes it anywhere: the manifest and config are generated, the new
layer is read from a staging store, the parent layers from the local store, all as
streams. The reference reports the ``containers-storage`` transport, as buildah's does,
so signature policy scopes for local images apply to what is committed.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from harness.model.digest import Digest
from harness.store.store import Store
from harness.transports.types import (
    BlobInfo,
    ImageDestination,
    ImageReference,
    ImageSource,
    SystemContext,
    Transport,
)
from harness.util.errors import HarnessError

TRANSPORT_NAME = "containers-storage"


class _BuiltTransport(Transport):
    name = TRANSPORT_NAME

    def parse_reference(self, reference: str) -> ImageReference:
        raise HarnessError("an image being committed cannot be named by a reference")


_TRANSPORT = _BuiltTransport()


class BuiltImageReference(ImageReference):
    """The image a commit is producing: manifest, config and where its blobs are."""

    def __init__(self, container: str, manifest: bytes, media_type: str, config: bytes,
                 stores: tuple[Store, ...]) -> None:
        self.container = container
        self.manifest = manifest
        self.media_type = media_type
        self.config = config
        self.config_digest = Digest.from_bytes(config)
        self.stores = stores

    @property
    def transport(self) -> Transport:
        return _TRANSPORT

    def string_within_transport(self) -> str:
        return f"[built from container {self.container}]"

    def policy_configuration_identity(self) -> str:
        return ""

    def new_image_source(self, ctx: SystemContext) -> ImageSource:
        return BuiltImageSource(self)

    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        raise HarnessError("an image being committed cannot be written to")


class BuiltImageSource(ImageSource):
    def __init__(self, ref: BuiltImageReference) -> None:
        self._ref = ref

    @property
    def reference(self) -> ImageReference:
        return self._ref

    def get_manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        return self._ref.manifest, self._ref.media_type

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        if info.digest == self._ref.config_digest:
            return io.BytesIO(self._ref.config), len(self._ref.config)
        for store in self._ref.stores:
            found = None if info.digest is None else store.open_image_blob(info.digest)
            if found is not None:
                return found
        raise HarnessError(f"blob {info.digest} is not part of the image being committed")
