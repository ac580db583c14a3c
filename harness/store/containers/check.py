"""``check`` for a containers/storage store: do the records hold together?

Read under the store's locks (shared), so a concurrent buildah or podman never shows a
half-written state. Each problem is one line; an empty list means consistent. With
*contents*, every layer is rebuilt from its tar-split and files and hashed against its
recorded diffID and size, which reads every layer once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from harness.store.containers.store import (
    INCOMPLETE,
    MANIFEST_KEY,
    ContainersStore,
    ImageRecord,
    LayerRecord,
    big_data_file_name,
)
from harness.util.errors import HarnessError


def _layer_problems(store: ContainersStore, layer: LayerRecord, ids: set[str],
                    contents: bool) -> Iterator[str]:
    where = f"layer {layer.id}"
    if (layer.raw.get("flags") or {}).get(INCOMPLETE):
        yield f"{where}: flagged incomplete (a write that did not finish)"
    if layer.parent is not None and layer.parent not in ids:
        yield f"{where}: parent {layer.parent} is missing"
    if store.driver is not None and not store.driver.files(layer.id).is_dir():
        yield f"{where}: its files ({store.driver.files(layer.id)}) are missing"
        return
    if layer.diff_digest is None:  # a container's read-write layer: no tar-split
        return
    if not (store.layers_dir / f"{layer.id}.tar-split.gz").exists():
        yield f"{where}: its tar-split metadata is missing"
        return
    if contents:
        hasher, size = hashlib.sha256(), 0
        try:
            with store.open_layer(layer) as stream:
                while chunk := stream.read(1 << 20):
                    hasher.update(chunk)
                    size += len(chunk)
        except HarnessError as exc:
            yield f"{where}: {exc}"
            return
        if f"sha256:{hasher.hexdigest()}" != layer.diff_digest or size != layer.diff_size:
            yield (f"{where}: rebuilds to sha256:{hasher.hexdigest()} ({size} bytes), "
                   f"recorded {layer.diff_digest} ({layer.diff_size} bytes)")


def _image_problems(store: ContainersStore, image: ImageRecord,
                    ids: set[str]) -> Iterator[str]:
    where = f"image {image.id}"
    if image.top_layer is not None and image.top_layer not in ids:
        yield f"{where}: top layer {image.top_layer} is missing"
    sizes = image.raw.get("big-data-sizes") or {}
    for key in image.big_data_names:
        path = store.images_dir / image.id / big_data_file_name(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            yield f"{where}: big data {key!r} is missing"
            continue
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        if sizes.get(key, len(data)) != len(data) or \
                image.big_data_digests.get(key, digest) != digest:
            yield f"{where}: big data {key!r} does not match its recorded size or digest"
    manifest = image.big_data_digests.get(MANIFEST_KEY)
    if manifest is not None and image.digest != manifest:
        yield f"{where}: digest {image.digest} is not its manifest's {manifest}"


def check(store: ContainersStore, contents: bool = True) -> list[str]:
    """Every problem found, one line each."""
    with store.reading(store.layers_lock), store.reading(store.images_lock):
        layers = store.layers()
        images = store.images()
        ids = {layer.id for layer in layers}
        problems = [p for layer in layers for p in _layer_problems(store, layer, ids, contents)]
        problems += [p for image in images for p in _image_problems(store, image, ids)]
    owners: dict[str, str] = {}
    for image in images:
        for name in image.names:
            if name in owners:
                problems.append(f"name {name} belongs to images {owners[name]} and {image.id}")
            owners[name] = image.id
    return problems
