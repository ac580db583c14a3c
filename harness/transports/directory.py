"""The ``dir:DIR`` transport: skopeo's plain folder format (containers/image ``directory``).

``DIR/version`` says ``Directory Transport Version: 1.1``; the manifest is
``manifest.json`` (a child of an index: ``<hex>.manifest.json``); each blob is a file
named by the hex of its sha256 digest (``<alg>-<hex>`` for other algorithms); signatures are
``signature-1``, ``signature-2``... The manifest's media type is read from its content.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import BinaryIO

from harness.model.digest import Digest
from harness.model.manifest import detect_media_type
from harness.model.transportref import parse_transport_reference
from harness.transports import blobfiles
from harness.transports.pathtransport import PathReference, PathTransport
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
from harness.util.fs import atomic_write_bytes

VERSION = b"Directory Transport Version: 1.1\n"


class DirTransport(PathTransport):
    name = "dir"

    def parse_reference(self, reference: str) -> ImageReference:
        parsed = parse_transport_reference(f"{self.name}:{reference}")
        return DirReference(parsed.path or "")


class DirReference(PathReference):
    @property
    def transport(self) -> Transport:
        return TRANSPORT

    def new_image_source(self, ctx: SystemContext) -> ImageSource:
        return DirImageSource(self)

    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        return DirImageDestination(self, _desired_layer_compression(ctx))

    def blob_path(self, digest: Digest) -> Path:
        if digest.algorithm == "sha256":
            return self.resolved / digest.encoded
        return self.resolved / f"{digest.algorithm}-{digest.encoded}"

    def manifest_path(self, instance: Digest | None) -> Path:
        if instance is None:
            return self.resolved / "manifest.json"
        return self.resolved / f"{instance.encoded}.manifest.json"

    def signature_path(self, number: int, instance: Digest | None) -> Path:
        prefix = f"{instance.encoded}." if instance is not None else ""
        return self.resolved / f"{prefix}signature-{number}"


def _desired_layer_compression(ctx: SystemContext) -> LayerCompression:
    """containers/image 5.23's ``dir:`` keeps layers as they come unless
    ``DirForceCompress`` or ``DirForceDecompress``; both at once are refused before
    anything is written."""
    if ctx.dir_force_compress and ctx.dir_force_decompress:
        raise HarnessError("dir: cannot compress and decompress at the same time "
                           "(--dest-compress and --dest-decompress)")
    if ctx.dir_force_compress:
        return LayerCompression.COMPRESS
    if ctx.dir_force_decompress:
        return LayerCompression.DECOMPRESS
    return LayerCompression.PRESERVE


class DirImageSource(ImageSource):
    def __init__(self, ref: DirReference) -> None:
        self._ref = ref
        if not ref.manifest_path(None).exists():
            raise HarnessError(f"dir: {ref.resolved} holds no manifest.json")

    @property
    def reference(self) -> ImageReference:
        return self._ref

    def get_manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        path = self._ref.manifest_path(instance)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise HarnessError(f"dir: manifest {path} not found") from None
        return data, detect_media_type(data)

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        if info.digest is None:
            raise HarnessError("dir: a blob can only be read by digest")
        return blobfiles.open_blob(self._ref.blob_path(info.digest), info.digest)

    def get_signatures(self, instance: Digest | None = None) -> list[bytes]:
        signatures = []
        number = 1
        while (path := self._ref.signature_path(number, instance)).exists():
            signatures.append(path.read_bytes())
            number += 1
        return signatures


class DirImageDestination(ImageDestination):
    """Empties a folder that already holds a dir image; refuses any other non-empty folder."""

    def __init__(self, ref: DirReference,
                 wanted: LayerCompression = LayerCompression.PRESERVE) -> None:
        self._ref = ref
        self._wanted = wanted
        root = ref.resolved
        if root.exists() and any(root.iterdir()):
            if not (root / "version").is_file():
                raise HarnessError(
                    f"dir: {root} is not empty and does not hold a dir image; not overwriting it")
            shutil.rmtree(root)
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(root / "version", VERSION)

    @property
    def reference(self) -> ImageReference:
        return self._ref

    def desired_layer_compression(self) -> LayerCompression:
        return self._wanted

    def put_blob(self, stream: BinaryIO, info: BlobInfo, is_config: bool) -> BlobInfo:
        return blobfiles.store_blob(stream, info, self._ref.blob_path, self._ref.resolved)

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        return blobfiles.existing_blob(self._ref.blob_path, info)

    def put_manifest(self, manifest: bytes, mime_type: str,
                     instance: Digest | None = None) -> None:
        atomic_write_bytes(self._ref.manifest_path(instance), manifest)

    def supports_signatures(self) -> bool:
        return True

    def put_signatures(self, signatures: list[bytes], instance: Digest | None = None) -> None:
        for number, signature in enumerate(signatures, start=1):
            atomic_write_bytes(self._ref.signature_path(number, instance), signature)

    def publish(self) -> None:
        """Every file is already in place: a dir image is complete once its manifest is."""


TRANSPORT = DirTransport()
