"""The ``oci:DIR[:REF]`` transport: an OCI image layout folder (image-spec ``image-layout.md``).

The folder holds ``oci-layout``, ``index.json`` and ``blobs/<alg>/<hex>``; an image is
found through the ``org.opencontainers.image.ref.name`` annotation of its entry in
``index.json``. Writing a reference that already exists moves the name to the new image
(the old entry stays, unnamed), as containers/image and umoci do.

``index.json`` and ``oci-layout`` are written byte for byte as containers/image 5.23
(skopeo 1.9, buildah 1.28) writes them: Go's ``json.Marshal`` of image-spec's ``Index``,
whose ``mediaType`` is only kept from an existing file, and ``oci-layout`` rewritten, with
its space, at every commit (also over a layout umoci made).
"""

from __future__ import annotations

import io
import json
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from harness.model import gojson, mediatype
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.limits import MAX_MANIFEST_SIZE, read_limited
from harness.model.manifest import ManifestError, OCIIndex, detect_media_type, parse_manifest
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

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = b'{"imageLayoutVersion": "1.0.0"}'  # containers/image's spelling


@dataclass
class LayoutIndex:
    """``index.json`` as containers/image holds it: image-spec's ``Index`` struct, whose
    ``mediaType`` is empty (and left out) unless the file read had one; ``subject`` and
    ``artifactType`` are not in that struct, so they are not written back."""

    manifests: list[Descriptor] = field(default_factory=list)
    media_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        out: dict[str, object] = {"schemaVersion": 2}
        if self.media_type:
            out["mediaType"] = self.media_type
        out["manifests"] = [entry.to_json() for entry in self.manifests]
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))  # a Go map
        return gojson.dumps(out)

    def add(self, entry: Descriptor, ref: str) -> None:
        """Add *entry* named *ref* as containers/image's ``addManifest``: the first entry
        holding the name loses it (its other annotations stay); then the first unnamed
        entry for the same manifest is replaced in place, else *entry* is appended."""
        if ref:
            entry = replace(entry, annotations={REF_NAME: ref})
            for i, old in enumerate(self.manifests):
                if old.annotations.get(REF_NAME) == ref:
                    rest = {k: v for k, v in old.annotations.items() if k != REF_NAME}
                    self.manifests[i] = replace(old, annotations=rest)
                    break
        for i, old in enumerate(self.manifests):
            if old.digest == entry.digest and not old.annotations.get(REF_NAME):
                self.manifests[i] = entry
                return
        self.manifests.append(entry)


class OCILayout:
    """One layout folder: its blobs and its ``index.json``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def blob_path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.encoded

    def read_index(self) -> LayoutIndex:
        path = self.root / "index.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise HarnessError(f"{self.root} is not an OCI layout: no index.json") from None
        try:
            index = parse_manifest(data, mediatype.OCI_INDEX)
        except ManifestError as exc:
            raise HarnessError(f"{path}: {exc}") from None
        assert isinstance(index, OCIIndex)  # parse_manifest returns the class asked for
        declared = json.loads(data).get("mediaType")  # parsed above: an object
        return LayoutIndex(index.manifests, declared, index.annotations)

    def read_or_new_index(self) -> LayoutIndex:
        if (self.root / "index.json").exists():
            return self.read_index()
        return LayoutIndex()

    def write_top_file(self, name: str, data: bytes) -> None:
        """Replace ``index.json`` or ``oci-layout``; an existing file keeps its mode, as
        Go's ``os.WriteFile`` over it does (umoci makes ``index.json`` 0600)."""
        path = self.root / name
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            mode = 0o644
        atomic_write_bytes(path, data, mode)

    def create(self) -> None:
        """Make the folder a layout (idempotent); refuse a non-empty folder that is not one."""
        if self.root.exists() and not (self.root / "oci-layout").exists() \
                and any(self.root.iterdir()):
            raise HarnessError(f"{self.root} is not empty and is not an OCI layout")
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        if not (self.root / "oci-layout").exists():
            atomic_write_bytes(self.root / "oci-layout", LAYOUT_FILE)

    def resolve(self, ref: str) -> Descriptor:
        """The index entry named *ref*, or the only entry when *ref* is empty."""
        manifests = self.read_index().manifests
        if not ref:
            if len(manifests) != 1:
                raise HarnessError(
                    f"{self.root}: {len(manifests)} images in the layout; name one as oci:DIR:REF")
            return manifests[0]
        for entry in manifests:
            if entry.annotations.get(REF_NAME) == ref:
                return entry
        raise HarnessError(f"{self.root}: no image named {ref!r} in index.json")

    def put_blob(self, stream: BinaryIO, info: BlobInfo) -> BlobInfo:
        return blobfiles.store_blob(stream, info, self.blob_path, self.root / "blobs")

    def get_blob(self, digest: Digest) -> tuple[BinaryIO, int]:
        return blobfiles.open_blob(self.blob_path(digest), digest)

    def read_manifest(self, digest: Digest) -> bytes:
        """A manifest, whole and verified: another tool wrote the layout, so its size is
        capped and its bytes must hash to the digest that names them (skopeo 1.9 does
        not check; this project verifies every digest it reads)."""
        stream, _ = self.get_blob(digest)
        with stream:
            data = read_limited(stream, MAX_MANIFEST_SIZE, f"manifest {digest}")
        actual = Digest.from_bytes(data, digest.algorithm)
        if actual != digest:
            raise HarnessError(f"oci: manifest {digest} in {self.root} hashes to {actual}: "
                               "the layout is corrupt")
        return data


class OCITransport(PathTransport):
    name = "oci"

    def parse_reference(self, reference: str) -> ImageReference:
        parsed = parse_transport_reference(f"{self.name}:{reference}")
        return OCIReference(parsed.path or "", parsed.image_name or "")


class OCIReference(PathReference):
    @property
    def transport(self) -> Transport:
        return TRANSPORT

    def new_image_source(self, ctx: SystemContext) -> ImageSource:
        return OCIImageSource(self, OCILayout(self.resolved), self.image)

    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        return OCIImageDestination(self, OCILayout(self.resolved), self.image,
                                   accept_uncompressed=ctx.oci_accept_uncompressed_layers)


class OCIImageSource(ImageSource):
    """Reads the image named *image* in a layout (also used on extracted oci-archives)."""

    def __init__(self, ref: ImageReference, layout: OCILayout, image: str) -> None:
        self._ref = ref
        self.layout = layout
        self._entry = layout.resolve(image)

    @property
    def reference(self) -> ImageReference:
        return self._ref

    def get_manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        if instance is not None:
            data = self.layout.read_manifest(instance)
            return data, detect_media_type(data)
        return self.layout.read_manifest(self._entry.digest), self._entry.media_type

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        if info.digest is None:
            raise HarnessError("oci: a blob can only be read by digest")
        return self.layout.get_blob(info.digest)


class OCIImageDestination(ImageDestination):
    """Writes blobs straight into the layout; ``index.json`` changes only at publish."""

    def __init__(self, ref: ImageReference, layout: OCILayout, image: str, *,
                 accept_uncompressed: bool) -> None:
        self._ref = ref
        self.layout = layout
        self.image = image
        self._accept_uncompressed = accept_uncompressed
        layout.create()
        self._entry: Descriptor | None = None

    @property
    def reference(self) -> ImageReference:
        return self._ref

    def supported_manifest_mime_types(self) -> list[str]:
        return [mediatype.OCI_MANIFEST, mediatype.OCI_INDEX]

    def desired_layer_compression(self) -> LayerCompression:
        """containers/image compresses layers for an OCI layout unless told to accept
        them uncompressed (``OCIAcceptUncompressedLayers``)."""
        if self._accept_uncompressed:
            return LayerCompression.PRESERVE
        return LayerCompression.COMPRESS

    def has_thread_safe_put_blob(self) -> bool:
        return True

    def put_blob(self, stream: BinaryIO, info: BlobInfo, is_config: bool) -> BlobInfo:
        return self.layout.put_blob(stream, info)

    def try_reusing_blob(self, info: BlobInfo) -> BlobInfo | None:
        return blobfiles.existing_blob(self.layout.blob_path, info)

    def put_manifest(self, manifest: bytes, mime_type: str,
                     instance: Digest | None = None) -> None:
        digest = Digest.from_bytes(manifest)
        self.layout.put_blob(io.BytesIO(manifest), BlobInfo(digest=digest))
        if instance is None:
            self._entry = Descriptor(mime_type, digest, len(manifest))

    def publish(self) -> None:
        if self._entry is None:
            raise HarnessError("oci: publish without a manifest")
        index = self.layout.read_or_new_index()
        index.add(self._entry, self.image)
        self.layout.write_top_file("oci-layout", LAYOUT_FILE)
        self.layout.write_top_file("index.json", index.to_bytes())


TRANSPORT = OCITransport()
