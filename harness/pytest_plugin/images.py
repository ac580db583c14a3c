"""Deterministic test images: layer trees rendered as tar streams, whole images written
through any ``ImageDestination``.

A file's content is pseudo-random bytes drawn from its own seed, so a tree is a handful of
numbers rather than data: hypothesis can shrink it, two runs build the same bytes, and a
large layer is generated as it is read instead of being held in memory.
"""

from __future__ import annotations

import io
import posixpath
import random
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Literal, cast

from harness.model import mediatype
from harness.model.compression import Algorithm, compress, layer_media_type
from harness.model.config import DockerConfig, HistoryEntry, OCIConfig
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest, DigestingReader
from harness.model.manifest import DockerManifest, OCIManifest
from harness.store import gotar
from harness.store.diff import WHITEOUT_PREFIX
from harness.store.gotar import BLOCK
from harness.store.tarstream import CHUNK, chunk_stream, end_of_archive
from harness.transports.types import BlobInfo, ImageDestination, ImageReference, SystemContext
from harness.util.errors import HarnessError

if TYPE_CHECKING:
    from harness.copy.engine import CopyResult
    from harness.pytest_plugin.locations import Locatable

EntryKind = Literal["file", "dir", "symlink", "whiteout"]
CREATED = "2024-01-01T00:00:00Z"
BUILDABLE_TYPES = (mediatype.OCI_MANIFEST, mediatype.DOCKER_V2S2_MANIFEST)
PUSHABLE_TYPES = (*BUILDABLE_TYPES, mediatype.DOCKER_V2S1_SIGNED_MANIFEST)


class ImageSpecError(HarnessError, ValueError):
    """A tree or image description that cannot be built (bad path, unknown manifest type)."""


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a layer: a file of *size* seeded bytes, a directory, a symlink to
    *target*, or a whiteout deleting *path* from the layers below."""

    path: str
    kind: EntryKind = "file"
    size: int = 0
    seed: int = 0
    target: str = ""
    mode: int = 0o644

    def __post_init__(self) -> None:
        parts = self.path.split("/")
        if self.path.startswith("/") or any(p in {"", ".", ".."} for p in parts):
            raise ImageSpecError(f"tree path {self.path!r} must be relative and normalised")


LayerTree = tuple[TreeEntry, ...]


def random_content(seed: int, size: int) -> Iterator[bytes]:
    """*size* pseudo-random bytes determined by *seed*, in chunks."""
    rng = random.Random(seed)
    remaining = size
    while remaining:
        piece = min(CHUNK, remaining)
        remaining -= piece
        yield rng.randbytes(piece)


def _header(entry: TreeEntry) -> gotar.GoHeader:
    """The entry as containers/storage writes it (Go's tar header, mode with type bits)."""
    if entry.kind == "whiteout":
        parent, base = posixpath.split(entry.path)
        return gotar.GoHeader(posixpath.join(parent, WHITEOUT_PREFIX + base))
    if entry.kind == "dir":
        return gotar.GoHeader(f"{entry.path}/", gotar.DIR, stat.S_IFDIR | 0o755)
    if entry.kind == "symlink":
        return gotar.GoHeader(entry.path, gotar.SYMLINK, stat.S_IFLNK | entry.mode,
                              linkname=entry.target)
    return gotar.GoHeader(entry.path, gotar.REG, stat.S_IFREG | entry.mode, size=entry.size)


def tree_paths(tree: LayerTree) -> list[TreeEntry]:
    """The entries in tar order, with every missing parent directory added before its
    children (as real layer tars list them)."""
    implied = {p for e in tree for p in parent_paths(e.path)} - {e.path for e in tree}
    entries = [*tree, *(TreeEntry(p, "dir") for p in implied)]
    return sorted(entries, key=lambda e: e.path.split("/"))


def parent_paths(path: str) -> list[str]:
    """``a/b/c`` -> ``["a", "a/b"]``."""
    parts = path.split("/")
    return ["/".join(parts[:n]) for n in range(1, len(parts))]


def apply_tree(state: dict[str, TreeEntry], tree: LayerTree) -> dict[str, TreeEntry]:
    """What a root holds after *tree* is applied over *state* (path -> entry; implied
    directories included): the model a layer applier is checked against."""
    result = dict(state)
    for entry in tree_paths(tree):
        if entry.kind == "dir" and result.get(entry.path, entry).kind == "dir":
            result.setdefault(entry.path, entry)
            continue
        for path in [p for p in result if p == entry.path or p.startswith(entry.path + "/")]:
            del result[path]
        if entry.kind != "whiteout":
            result[entry.path] = entry
    return result


def tar_chunks(tree: LayerTree) -> Iterator[bytes]:
    """The uncompressed layer tar of *tree*, block by block."""
    for entry in tree_paths(tree):
        yield gotar.encode(_header(entry))
        if entry.kind == "file" and entry.size:
            yield from random_content(entry.seed, entry.size)
            if entry.size % BLOCK:
                yield bytes(BLOCK - entry.size % BLOCK)
    yield end_of_archive()


def layer_stream(tree: LayerTree) -> BinaryIO:
    return chunk_stream(tar_chunks(tree))


@dataclass(frozen=True)
class ImageSpec:
    """What :func:`write_image` builds: layers, manifest type, layer compression."""

    layers: tuple[LayerTree, ...]
    manifest_type: str = mediatype.OCI_MANIFEST
    compression: Algorithm = Algorithm.GZIP
    architecture: str = "amd64"

    def __post_init__(self) -> None:
        if self.manifest_type not in PUSHABLE_TYPES:
            raise ImageSpecError(f"cannot build a {self.manifest_type} image; use one of "
                                 f"{', '.join(PUSHABLE_TYPES)}")

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
    """An image written by :func:`write_image`, with everything a test compares against."""

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

    def push(self, dest: Locatable, manifest_type: str | None = None) -> CopyResult:
        """Copy the image to *dest* (``registry.at("app:v1")``) with the copy engine, as the
        spec's manifest type unless *manifest_type* says otherwise."""
        from harness.copy.engine import CopyOptions, copy_image  # noqa: PLC0415

        options = CopyOptions(source_ctx=self.ctx, dest_ctx=dest.ctx,
                              manifest_type=manifest_type or self.spec.manifest_type)
        return copy_image(dest.reference, self.reference, options)


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


def write_image(spec: ImageSpec, dest: ImageReference,
                ctx: SystemContext | None = None) -> BuiltImage:
    """Build *spec* into *dest* (any transport that stores schema2 or OCI manifests)."""
    ctx = ctx or SystemContext()
    oci = spec.stored_type == mediatype.OCI_MANIFEST
    with dest.new_image_destination(ctx) as destination:
        written = [_put_layer(destination, tree, spec.compression, oci) for tree in spec.layers]
        descriptors = tuple(d for d, _ in written)
        diff_ids = tuple(d for _, d in written)
        config_type = OCIConfig if oci else DockerConfig
        config = config_type(
            architecture=spec.architecture, os="linux", created=CREATED,
            config={"Cmd": ["/bin/sh"]}, diff_ids=list(diff_ids),
            history=[HistoryEntry(created=CREATED, created_by=f"layer {n}")
                     for n in range(len(diff_ids))],
        ).to_bytes()
        config_desc = Descriptor(config_type.media_type, Digest.from_bytes(config), len(config))
        destination.put_blob(io.BytesIO(config), BlobInfo(config_desc.digest, len(config)),
                             True)
        manifest_type = OCIManifest if oci else DockerManifest
        manifest = manifest_type(config=config_desc, layers=list(descriptors)).to_bytes()
        destination.put_manifest(manifest, spec.stored_type)
        destination.publish()
    return BuiltImage(dest, spec, manifest, config, descriptors, diff_ids, ctx)

