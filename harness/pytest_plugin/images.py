"""Deterministic test images written through any ``ImageDestination``, and read back.

An image is described by an :class:`ImageSpec` (layer trees from
:mod:`harness.pytest_plugin.trees`, manifest type, compression, what the config says) and
written by :func:`write_image` to any :class:`ImageReference` (``oci:``, ``dir:``,
``docker://``, ``containers-storage:``...) as OCI or Docker schema2; :func:`write_index`
writes an OCI index or a Docker manifest list of one image per platform. Layers are
generated, compressed and hashed as they are stored, never held whole in memory.
:func:`read_image` and :func:`plain_layers` read a (small) image back to compare it.
"""

from __future__ import annotations

import io
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, NamedTuple, cast

from harness.model import mediatype
from harness.model.compression import Algorithm, compress, decompress, layer_media_type
from harness.model.config import DockerConfig, HistoryEntry, OCIConfig
from harness.model.descriptor import Descriptor, Platform
from harness.model.digest import Digest, DigestingReader
from harness.model.manifest import (
    DockerManifest,
    DockerManifestList,
    OCIIndex,
    OCIManifest,
    parse_manifest,
)
from harness.pytest_plugin.trees import (
    ImageSpecError,
    LayerTree,
    TreeEntry,
    files_tree,
    layer_stream,
    layer_tar,
)
from harness.transports.types import BlobInfo, ImageDestination, ImageReference, SystemContext
from harness.util.errors import HarnessError

if TYPE_CHECKING:
    from harness.copy.engine import CopyResult
    from harness.pytest_plugin.locations import Locatable

CREATED = "2024-01-01T00:00:00Z"
BUILDABLE_TYPES = (mediatype.OCI_MANIFEST, mediatype.DOCKER_V2S2_MANIFEST)
PUSHABLE_TYPES = (*BUILDABLE_TYPES, mediatype.DOCKER_V2S1_SIGNED_MANIFEST)
PLATFORMS = (Platform("amd64", "linux"), Platform("arm64", "linux"))


def _default_run() -> dict[str, Any]:
    return {"Cmd": ["/bin/sh"]}


@dataclass(frozen=True)
class ImageSpec:
    """What :func:`write_image` builds: layers, manifest type, layer compression, and what
    the config says: *architecture*, *run* (its ``config`` object: ``Cmd``, ``Env``,
    ``Labels``...), *created* and *history* (empty: one ``layer N`` step per layer;
    ``empty_layer`` steps, which add no layer, may be among them)."""

    layers: tuple[LayerTree, ...]
    manifest_type: str = mediatype.OCI_MANIFEST
    compression: Algorithm = Algorithm.GZIP
    architecture: str = "amd64"
    run: Mapping[str, Any] = field(default_factory=_default_run, hash=False)
    created: str = CREATED
    history: tuple[HistoryEntry, ...] = ()

    def __post_init__(self) -> None:
        if self.manifest_type not in PUSHABLE_TYPES:
            raise ImageSpecError(f"cannot build a {self.manifest_type} image; use one of "
                                 f"{', '.join(PUSHABLE_TYPES)}")
        steps = sum(not h.empty_layer for h in self.history)
        if self.history and steps != len(self.layers):
            raise ImageSpecError(f"the history has {steps} steps that add a layer, the image "
                                 f"{len(self.layers)} layers")

    @property
    def stored_type(self) -> str:
        """What is written locally: schema1 images are stored as schema2 and signed when
        pushed, as only a registry reference can name them."""
        if self.manifest_type == mediatype.DOCKER_V2S1_SIGNED_MANIFEST:
            return mediatype.DOCKER_V2S2_MANIFEST
        return self.manifest_type


def random_spec(seed: int = 0, layers: int = 1, size: int = 1024,
                manifest_type: str = mediatype.OCI_MANIFEST,
                compression: Algorithm = Algorithm.GZIP) -> ImageSpec:
    """An image of *layers* layers holding *size* content bytes in total, split into
    one to three files per layer; everything follows from *seed*."""
    if layers < 0 or size < 0:
        raise ImageSpecError(f"layers ({layers}) and size ({size}) must not be negative")
    rng = random.Random(seed)
    trees = []
    for index in range(layers):
        share = size // layers + (1 if index < size % layers else 0)
        count = rng.randint(1, 3)
        cuts = sorted(rng.randint(0, share) for _ in range(count - 1))
        sizes = [b - a for a, b in zip([0, *cuts], [*cuts, share], strict=True)]
        trees.append(tuple(TreeEntry(f"layer{index}/file{n}", size=s, seed=rng.getrandbits(32))
                           for n, s in enumerate(sizes)))
    return ImageSpec(tuple(trees), manifest_type, compression)


@dataclass(frozen=True)
class BuiltImage:
    """An image written by :func:`write_image` (or one of :func:`write_index`'s, whose
    *reference* is then the index's), with everything a test compares against."""

    reference: ImageReference
    spec: ImageSpec
    manifest: bytes
    config: bytes
    layers: tuple[Descriptor, ...]
    diff_ids: tuple[Digest, ...]
    ctx: SystemContext = field(default_factory=SystemContext)

    @property
    def media_type(self) -> str:
        return self.spec.stored_type

    @property
    def digest(self) -> Digest:
        return Digest.from_bytes(self.manifest)

    def layer_tars(self) -> list[bytes]:
        """The uncompressed layers, in order (generated again from the spec)."""
        return [layer_tar(tree) for tree in self.spec.layers]

    def push(self, dest: Locatable, manifest_type: str | None = None) -> CopyResult:
        """Copy the image to *dest* (``registry.at("app:v1")``) with the copy engine, as the
        spec's manifest type unless *manifest_type* says otherwise."""
        from harness.copy.engine import CopyOptions, copy_image  # noqa: PLC0415

        options = CopyOptions(source_ctx=self.ctx, dest_ctx=dest.ctx,
                              manifest_type=manifest_type or self.spec.manifest_type)
        return copy_image(dest.reference, self.reference, options)


@dataclass(frozen=True)
class BuiltIndex:
    """An index or manifest list written by :func:`write_index`, and its images."""

    reference: ImageReference
    manifest: bytes
    media_type: str
    images: tuple[BuiltImage, ...]

    @property
    def digest(self) -> Digest:
        return Digest.from_bytes(self.manifest)


def _put_layer(destination: ImageDestination, tree: LayerTree, compression: Algorithm,
               oci: bool) -> tuple[Descriptor, Digest]:
    """Stream one layer: tar generated, hashed for its diffID, compressed, stored."""
    media_type = layer_media_type(compression, oci)
    uncompressed = DigestingReader(layer_stream(tree))
    info = destination.put_blob(compress(cast(BinaryIO, uncompressed), compression),
                                BlobInfo(), False)
    if info.digest is None:
        raise HarnessError(f"{destination.reference} stored a layer without a digest")
    return Descriptor(media_type, info.digest, info.size), uncompressed.digest()


def _put_image(destination: ImageDestination, spec: ImageSpec, dest: ImageReference,
               ctx: SystemContext, *, instance: bool = False) -> BuiltImage:
    """Store *spec*'s blobs and manifest (as an index's child with *instance*)."""
    oci = spec.stored_type == mediatype.OCI_MANIFEST
    written = [_put_layer(destination, tree, spec.compression, oci) for tree in spec.layers]
    descriptors = tuple(d for d, _ in written)
    diff_ids = tuple(d for _, d in written)
    config_type = OCIConfig if oci else DockerConfig
    config = config_type(
        architecture=spec.architecture, os="linux", created=spec.created,
        config=dict(spec.run), diff_ids=list(diff_ids),
        history=list(spec.history) or [HistoryEntry(created=CREATED, created_by=f"layer {n}")
                                       for n in range(len(diff_ids))],
    ).to_bytes()
    config_desc = Descriptor(config_type.media_type, Digest.from_bytes(config), len(config))
    destination.put_blob(io.BytesIO(config), BlobInfo(config_desc.digest, len(config)), True)
    manifest_type = OCIManifest if oci else DockerManifest
    manifest = manifest_type(config=config_desc, layers=list(descriptors)).to_bytes()
    destination.put_manifest(manifest, spec.stored_type,
                             Digest.from_bytes(manifest) if instance else None)
    return BuiltImage(dest, spec, manifest, config, descriptors, diff_ids, ctx)


def write_image(spec: ImageSpec, dest: ImageReference,
                ctx: SystemContext | None = None) -> BuiltImage:
    """Build *spec* into *dest* (any transport that stores schema2 or OCI manifests)."""
    ctx = ctx or SystemContext()
    with dest.new_image_destination(ctx) as destination:
        built = _put_image(destination, spec, dest, ctx)
        destination.publish()
    return built


def _platform_name(p: Platform) -> str:
    """``arch`` for linux without a variant, else ``os/arch/variant``."""
    if p.os == "linux" and not p.variant:
        return p.architecture
    return "/".join(filter(None, (p.os, p.architecture, p.variant)))


def write_index(dest: ImageReference, platforms: Sequence[Platform] = PLATFORMS, *,
                docker: bool = False, ctx: SystemContext | None = None) -> BuiltIndex:
    """An OCI index (a Docker manifest list with *docker*) of one small image per platform,
    in the order given: each has a layer shared by all and one of its own (``/arch``
    naming the platform), and its platform's architecture in its config."""
    ctx = ctx or SystemContext()
    shared = files_tree({"etc/motd": b"shared by every platform\n"})
    image_type = mediatype.DOCKER_V2S2_MANIFEST if docker else mediatype.OCI_MANIFEST
    with dest.new_image_destination(ctx) as destination:
        images = tuple(
            _put_image(destination, ImageSpec(
                (shared, files_tree({"arch": _platform_name(p).encode()})), image_type,
                architecture=p.architecture), dest, ctx, instance=True)
            for p in platforms)
        entries = [Descriptor(image.media_type, image.digest, len(image.manifest), platform=p)
                   for image, p in zip(images, platforms, strict=True)]
        index, media_type = ((DockerManifestList(entries), mediatype.DOCKER_MANIFEST_LIST)
                             if docker else (OCIIndex(entries), mediatype.OCI_INDEX))
        raw = index.to_bytes()
        destination.put_manifest(raw, media_type)
        destination.publish()
    return BuiltIndex(dest, raw, media_type, images)


class ReadImage(NamedTuple):
    """An image read back: its manifest, the manifest's type, and every blob it names."""

    raw: bytes
    media_type: str
    blobs: dict[Digest, bytes]


def read_image(ref: ImageReference, ctx: SystemContext | None = None) -> ReadImage:
    """Read the image at *ref* back, every blob in memory: for small test images only."""
    with ref.new_image_source(ctx or SystemContext()) as source:
        raw, media_type = source.get_manifest()
        blobs = {}
        for desc in parse_manifest(raw, media_type).referenced_blobs():
            stream, _ = source.get_blob(BlobInfo(desc.digest, desc.size))
            with stream:
                blobs[desc.digest] = stream.read()
    return ReadImage(raw, media_type, blobs)


def plain_layers(ref: ImageReference, ctx: SystemContext | None = None) -> list[bytes]:
    """The image's layers uncompressed, in order: what a container would see (compare
    with :meth:`BuiltImage.layer_tars` or :func:`~harness.pytest_plugin.trees.layer_tar`)."""
    raw, media_type, blobs = read_image(ref, ctx)
    return [decompress(io.BytesIO(blobs[d.digest])).read()
            for d in parse_manifest(raw, media_type).layers]
