"""``check``: verify that every record's references hold (containers/storage's Check).

Each problem is one line naming the record and what is wrong; an empty list means the
store is consistent. Blobs are re-hashed, so this reads every byte once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from harness.model.digest import Digest, digest_stream
from harness.model.manifest import parse_manifest
from harness.store.backend import BlobUnknownError
from harness.store.records import Image, Metadata
from harness.store.store import ROOTFS, TMP, Store
from harness.util.errors import HarnessError
from harness.util.scratch import leftovers


def _blob_problems(store: Store, digest_text: str, owner: str) -> Iterator[str]:
    digest = Digest.parse(digest_text)
    try:
        stream, _ = store.open_blob(digest)
    except BlobUnknownError:
        yield f"{owner}: blob {digest} is missing"
        return
    with stream:
        actual, _ = digest_stream(stream, digest.algorithm)
    if actual != digest:
        yield f"{owner}: blob {digest} hashes to {actual}"


def _missing(owner: str, what: str, key: str | None, known: dict[str, object]) -> Iterator[str]:
    if key is not None and key not in known:
        yield f"{owner}: {what} {key} is missing"


def _layer_problems(store: Store, metadata: Metadata) -> Iterator[str]:
    for layer in metadata.layers.values():
        owner = f"layer {layer.id}"
        yield from _missing(owner, "parent layer", layer.parent, dict(metadata.layers))
        blob_problems = list(_blob_problems(store, layer.blob_digest, owner))
        yield from blob_problems
        if layer.compression == "none" and layer.blob_digest != layer.diff_digest:
            yield (f"{owner}: uncompressed blob {layer.blob_digest} differs from its diff "
                   f"digest {layer.diff_digest}")
        elif layer.compression != "none" and not blob_problems:
            with store.open_layer_diff(layer) as diff:
                actual, _ = digest_stream(diff)
            if str(actual) != layer.diff_digest:
                yield f"{owner}: uncompressed content hashes to {actual}, not {layer.diff_digest}"


def _image_problems(store: Store, metadata: Metadata) -> Iterator[str]:
    seen: dict[str, str] = {}
    for image in metadata.images.values():
        owner = f"image {image.id}"
        yield from _missing(owner, "top layer", image.top_layer, dict(metadata.layers))
        if image.config_digest.removeprefix("sha256:") != image.id:
            yield f"{owner}: ID does not match its config {image.config_digest}"
        problems = [p for d in sorted({image.manifest_digest, image.config_digest})
                    for p in _blob_problems(store, d, owner)]
        yield from problems
        if not problems:
            yield from _manifest_problems(store, metadata, image, owner)
        for name in image.names:
            if name in seen:
                yield f"{owner}: name {name!r} also belongs to image {seen[name]}"
            seen[name] = image.id


def _manifest_problems(store: Store, metadata: Metadata, image: Image,
                       owner: str) -> Iterator[str]:
    """The manifest must name the config and, in order, the layer chain (each layer by
    its blob or, as a commit names parent layers, by its diff digest)."""
    try:
        manifest = parse_manifest(store.read_blob(image.digest), image.manifest_type)
    except HarnessError as exc:
        yield f"{owner}: manifest does not parse: {exc}"
        return
    if manifest.config is None or str(manifest.config.digest) != image.config_digest:
        yield f"{owner}: manifest does not name config {image.config_digest}"
    if image.top_layer not in metadata.layers and image.top_layer is not None:
        return  # already reported as a missing layer
    chain = store.layer_chain(image.top_layer, metadata)
    named = [str(x.digest) for x in manifest.layers]
    if len(named) != len(chain) or any(digest not in (x.blob_digest, x.diff_digest)
                                       for digest, x in zip(named, chain, strict=False)):
        yield f"{owner}: manifest layers differ from the layers recorded for the image"


def _container_problems(store: Store, metadata: Metadata) -> Iterator[str]:
    for container in metadata.containers.values():
        owner = f"container {container.id} ({container.name})"
        yield from _missing(owner, "image", container.image_id, dict(metadata.images))
        yield from _missing(owner, "layer", container.top_layer, dict(metadata.layers))
        if not (store.backend.container_dir(container.id) / ROOTFS).is_dir():
            yield f"{owner}: read-write directory is missing"


def check(store: Store) -> list[str]:
    """Every problem found, one line each."""
    metadata = store.read()
    return [*_layer_problems(store, metadata), *_image_problems(store, metadata),
            *_container_problems(store, metadata)]


def stale_files(store: Store, min_age_s: float = 600.0) -> list[Path]:
    """What interrupted writes left behind (temporary files, blobs no record names, the
    folders of killed ``from`` runs and commits) and nobody has touched for *min_age_s*;
    never a problem for consistency, only disk."""
    keep = {Digest.parse(d) for d in store.referenced_blobs(store.read())}
    found = store.backend.stale_files(keep, min_age_s)
    if store.root is not None:
        found += leftovers(store.root / TMP, min_age_s=min_age_s)
        # Unheld first, recorded second: a container is recorded before its creator
        # lets go of its folder, so one unrecorded after that is a killed creator's.
        unheld = leftovers(store.root / "containers", min_age_s=min_age_s)
        recorded = set(store.read().containers)
        found += [path for path in unheld if path.name not in recorded]
    return sorted(found)
