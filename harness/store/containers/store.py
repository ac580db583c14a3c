"""A containers/storage store: images, layers and their big data, read under its locks.

Layout under the graph root (``<d>`` is the driver): ``<d>-images/images.json`` and
``images.lock``, one directory per image holding its big-data items (file name: the key,
or ``=`` and its base64 when the key has characters other than ``[0-9a-z.]``);
``<d>-layers/layers.json`` and ``layers.lock``, ``<d>-layers/<id>.tar-split.gz``; the
driver's own directory (:mod:`.drivers`). Readers take the lock files shared, as
containers/storage's ``startReading`` does, and never create anything: a store that
does not exist reads as empty.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from harness.model.digest import Digest
from harness.store.containers import drivers, tarsplit
from harness.store.containers.conf import StoreOptions
from harness.store.containers.lockfile import LockFile
from harness.store.tarstream import ChunkReader
from harness.util.errors import HarnessError

IMAGES_FILE = "images.json"
LAYERS_FILE = "layers.json"
MANIFEST_KEY = "manifest"  # containers/storage's ImageDigestBigDataKey


class StorageError(HarnessError):
    """The store's records are unreadable or point at something missing."""


def manifest_key(digest: Digest | str) -> str:
    """The big-data key of the manifest with *digest* (containers/image's manifestBigDataKey)."""
    return f"manifest-{digest}"


def big_data_file_name(key: str) -> str:
    """containers/storage's ``makeBigDataBaseName``: the key itself when it has only
    ``[0-9a-z.]``, else ``=`` and its standard base64."""
    if key and all(c == "." or c.isdigit() or "a" <= c <= "z" for c in key):
        return key
    return "=" + base64.b64encode(key.encode()).decode()


@dataclass(frozen=True)
class LayerRecord:
    """One entry of layers.json; *raw* keeps every field, known here or not."""

    id: str
    parent: str | None
    diff_digest: str | None
    diff_size: int  # -1 when unknown
    compressed_digest: str | None
    raw: dict[str, Any] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> LayerRecord:
        return cls(id=str(raw["id"]), parent=raw.get("parent") or None,
                   diff_digest=raw.get("diff-digest") or None,
                   diff_size=int(raw.get("diff-size", -1) if raw.get("diff-digest") else -1),
                   compressed_digest=raw.get("compressed-diff-digest") or None, raw=raw)


@dataclass(frozen=True)
class ImageRecord:
    """One entry of images.json; *raw* keeps every field, known here or not."""

    id: str
    names: tuple[str, ...]
    top_layer: str | None
    digest: str | None
    metadata: str
    big_data_names: tuple[str, ...]
    big_data_digests: dict[str, str]
    raw: dict[str, Any] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> ImageRecord:
        return cls(id=str(raw["id"]), names=tuple(raw.get("names") or ()),
                   top_layer=raw.get("layer") or None, digest=raw.get("digest") or None,
                   metadata=str(raw.get("metadata", "")),
                   big_data_names=tuple(raw.get("big-data-names") or ()),
                   big_data_digests=dict(raw.get("big-data-digests") or {}), raw=raw)


class _LockedStream(ChunkReader):
    """A layer's bytes; closing it releases the layer lock it was opened under."""

    def __init__(self, chunks: Iterator[bytes], release: Callable[[], None]) -> None:
        super().__init__(chunks)
        self._gen = chunks
        self._release = release

    def close(self) -> None:
        if not self.closed:
            try:
                cast(Any, self._gen).close()
            finally:
                self._release()
        super().close()


def _load(path: Path, parse: Callable[[dict[str, Any]], Any]) -> list[Any]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    try:
        return [parse(raw) for raw in json.loads(data or b"[]")]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StorageError(f"containers-storage: {path} is not a valid record file: "
                           f"{exc}") from None


class ContainersStore:
    """One store; every read takes the lock of what it reads, shared."""

    def __init__(self, options: StoreOptions, lock_wait: float | None = None) -> None:
        self.options = options
        self.graph_root = options.graph_root
        name = options.driver or drivers.detect(options.graph_root) or ""
        self.driver = drivers.Driver(drivers.canonical(name), self.graph_root) if name else None
        prefix = f"{self.driver.name}-" if self.driver else "none-"
        self.images_dir = self.graph_root / f"{prefix}images"
        self.layers_dir = self.graph_root / f"{prefix}layers"
        self.images_lock = LockFile(self.images_dir / "images.lock", lock_wait)
        self.layers_lock = LockFile(self.layers_dir / "layers.lock", lock_wait)

    def __str__(self) -> str:
        driver = self.driver.name if self.driver else "?"
        return f"[{driver}@{self.graph_root}+{self.options.run_root}]"

    @contextlib.contextmanager
    def _reading(self, lock: LockFile) -> Iterator[bool]:
        """Hold *lock* shared; yields False (nothing to read) when the store has no lock
        file there yet, which containers/storage would create: a reader must not."""
        if not lock.path.exists():
            yield False
            return
        with lock.shared():
            yield True

    def images(self) -> list[ImageRecord]:
        with self._reading(self.images_lock) as present:
            return _load(self.images_dir / IMAGES_FILE, ImageRecord.parse) if present else []

    def layers(self) -> list[LayerRecord]:
        with self._reading(self.layers_lock) as present:
            return _load(self.layers_dir / LAYERS_FILE, LayerRecord.parse) if present else []

    def find_image(self, key: str) -> ImageRecord | None:
        """The image with ID or name *key*, else the one whose ID starts with it."""
        images = self.images()
        for image in images:
            if image.id == key or key in image.names:
                return image
        prefixed = [i for i in images if i.id.startswith(key)]
        return prefixed[0] if len(prefixed) == 1 else None

    def images_by_digest(self, digest: str) -> list[ImageRecord]:
        """Images one of whose manifests has *digest* (containers/storage's ImagesByDigest)."""
        return [i for i in self.images()
                if i.digest == digest or digest in i.big_data_digests.values()]

    def big_data(self, image: ImageRecord, key: str) -> bytes:
        path = self.images_dir / image.id / big_data_file_name(key)
        with self._reading(self.images_lock):
            try:
                return path.read_bytes()
            except FileNotFoundError:
                raise StorageError(f"containers-storage: image {image.id} has no {key!r} "
                                   "data") from None

    def layer_chain(self, top: str | None) -> list[LayerRecord]:
        """The layers from the bottom to *top*, as one consistent read of layers.json."""
        by_id = {layer.id: layer for layer in self.layers()}
        chain: list[LayerRecord] = []
        while top is not None:
            layer = by_id.get(top)
            if layer is None or len(chain) > len(by_id):
                raise StorageError(f"containers-storage: layer {top} is missing from "
                                   f"{self.layers_dir / LAYERS_FILE}")
            chain.append(layer)
            top = layer.parent
        return chain[::-1]

    def open_layer(self, layer: LayerRecord) -> BinaryIO:
        """The layer's uncompressed tar, rebuilt from its tar-split metadata and files;
        the layers lock stays held (shared) until the stream is closed."""
        if self.driver is None:
            raise StorageError(f"containers-storage: {self.graph_root} has no layers")
        stack = contextlib.ExitStack()
        stack.enter_context(self.layers_lock.shared())
        metadata = self.layers_dir / f"{layer.id}.tar-split.gz"
        chunks = tarsplit.assemble(metadata, self.driver.files(layer.id))
        return cast(BinaryIO, _LockedStream(chunks, stack.close))
