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
import gzip
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from harness.model import gojson
from harness.model.digest import Digest
from harness.store.apply import apply_layer
from harness.store.containers import drivers, tarsplit
from harness.store.containers.conf import StoreOptions
from harness.store.containers.lockfile import LockFile
from harness.util.chunkstream import ChunkReader
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
        self._release = release

    def close(self) -> None:
        if not self.closed:
            try:
                super().close()  # closes the generator
            finally:
                self._release()


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
    def reading(self, lock: LockFile) -> Iterator[bool]:
        """Hold *lock* shared; yields False (nothing to read) when the store has no lock
        file there yet, which containers/storage would create: a reader must not."""
        if not lock.path.exists():
            yield False
            return
        with lock.shared():
            yield True

    def images(self) -> list[ImageRecord]:
        with self.reading(self.images_lock) as present:
            return _load(self.images_dir / IMAGES_FILE, ImageRecord.parse) if present else []

    def layers(self) -> list[LayerRecord]:
        with self.reading(self.layers_lock) as present:
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
        with self.reading(self.images_lock):
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

    def writer(self) -> _Writer:
        """The store's writing operations (which create what they need)."""
        return _Writer(self)

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


LAYER_FIELDS = ("id", "names", "parent", "metadata", "mountlabel", "created",
                "compressed-diff-digest", "compressed-size", "diff-digest", "diff-size",
                "compression", "uidset", "gidset", "flags", "uidmap", "gidmap",
                "big-data-names")
IMAGE_FIELDS = ("id", "digest", "names", "names-history", "layer", "mapped-layers",
                "metadata", "big-data-names", "big-data-sizes", "big-data-digests",
                "created", "flags")
INCOMPLETE = "incomplete"  # a layer flag: containers/storage deletes such layers on load
COMPRESSION_CODES = {"none": 0, "bzip2": 1, "gzip": 2, "xz": 3, "zstd": 4}  # archive.Compression


def go_time(ns: int | None = None) -> str:
    """A UTC time as Go's ``time.Time`` marshals it (RFC 3339, nanoseconds, no trailing
    zeros)."""
    ns = time.time_ns() if ns is None else ns
    seconds, fraction = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{text}.{digits}Z" if digits else f"{text}Z"


def _ordered(raw: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """*raw* in Go struct field order, empty values dropped (``omitempty``); fields this
    project does not know keep their place after the known ones."""
    out = {k: raw[k] for k in fields if k in raw and (k == "id" or raw[k] not in
                                                       (None, "", [], {}, 0))}
    out.update({k: v for k, v in raw.items() if k not in fields})
    return out


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace *path* whole, as containers/storage's ``AtomicWriteFile``: a ``.tmp-``
    file in the same directory, synced, then renamed over it."""
    fd, temp = tempfile.mkstemp(prefix=f".tmp-{path.name}", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        Path(temp).chmod(mode)
        Path(temp).replace(path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class NewLayer:
    """What :meth:`ContainersStore.put_layer` needs: the ID, the parent, and the blob
    (as transferred, maybe compressed) with its digest, size and compression."""

    id: str
    parent: str | None
    diff_id: str
    blob: Path
    blob_digest: str
    compression: str


@dataclass(frozen=True)
class NewImage:
    """What :meth:`ContainersStore.put_image` records: the ID (the config digest), the
    top layer, the big-data items in the order containers/image sets them, the metadata
    JSON, the name (if any) and the creation time."""

    id: str
    top_layer: str | None
    big_data: list[tuple[str, bytes]]
    metadata: str
    name: str | None
    created: str


class _Writer:
    """The writing half of :class:`ContainersStore` (kept apart so reading code never
    reaches it): layers and images, each saved whole under its exclusive lock, and the
    lock touched so buildah and podman reload."""

    def __init__(self, store: ContainersStore) -> None:
        if store.driver is None:
            raise StorageError(f"containers-storage: no driver for {store.graph_root}: name "
                               f"one as [vfs@{store.graph_root}] or in storage.conf")
        self.store = store
        self.driver = store.driver

    def _save(self, path: Path, records: list[dict[str, Any]], lock: LockFile) -> None:
        atomic_write(path, gojson.dumps(records))
        lock.touch()

    def _prepare(self) -> None:
        for directory in (self.store.graph_root, self.store.layers_dir, self.store.images_dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def put_layer(self, new: NewLayer, open_blob: Callable[[Path], BinaryIO]) -> None:
        """Store one layer unless a layer with its ID exists: the record first, flagged
        incomplete as containers/storage does (so a crash leaves something its next
        writer removes), then the driver's directories, the files and the tar-split,
        then the finished record. Any failure removes all of it."""
        self._prepare()
        store = self.store
        path = store.layers_dir / LAYERS_FILE
        with store.layers_lock.exclusive():
            layers = _load(path, dict)
            ids = {layer["id"] for layer in layers}
            if new.id in ids:
                return
            if new.parent is not None and new.parent not in ids:
                raise StorageError(f"containers-storage: parent layer {new.parent} of "
                                   f"{new.id} is not in the store")
            record = _ordered({"id": new.id, "parent": new.parent, "created": go_time(),
                               "flags": {INCOMPLETE: True}}, LAYER_FIELDS)
            self._save(path, [*layers, record], store.layers_lock)
            metadata = store.layers_dir / f"{new.id}.tar-split.gz"
            try:
                done = self._fill(new, open_blob, metadata)
            except BaseException:
                self.driver.remove(new.id)
                metadata.unlink(missing_ok=True)
                self._save(path, layers, store.layers_lock)
                raise
            self._save(path, [*layers, _ordered({**record, **done, "flags": {}},
                                                LAYER_FIELDS)], store.layers_lock)

    def _fill(self, new: NewLayer, open_blob: Callable[[Path], BinaryIO],
              metadata: Path) -> dict[str, Any]:
        files = self.driver.create(new.id, new.parent)
        temp = metadata.with_name(f".tmp-{metadata.name}")
        with open_blob(new.blob) as stream, gzip.open(temp, "wb") as packed:
            recorder = tarsplit.TarRecorder(stream, tarsplit.Packer(cast(BinaryIO, packed)))
            apply_layer(files, cast(BinaryIO, recorder))
            recorder.finish()
        self.driver.mark_whiteouts(files, recorder.whiteouts)
        diff_id = f"sha256:{recorder.sha256.hexdigest()}"
        if diff_id != new.diff_id:
            temp.unlink()
            raise StorageError(f"containers-storage: layer {new.blob_digest} unpacks to "
                               f"{diff_id}, but the image config says {new.diff_id}")
        temp.chmod(0o600)
        temp.replace(metadata)
        return {"compressed-diff-digest": new.blob_digest,
                "compressed-size": new.blob.stat().st_size,
                "diff-digest": diff_id, "diff-size": recorder.size,
                "compression": COMPRESSION_CODES[new.compression],
                "uidset": sorted(recorder.uids), "gidset": sorted(recorder.gids)}

    def put_image(self, new: NewImage) -> None:
        """Create or update the image as containers/image's storage destination does
        (CreateImage, SetImageBigData for each item, SetMetadata, AddNames), in one save."""
        self._prepare()
        store = self.store
        path = store.images_dir / IMAGES_FILE
        with store.layers_lock.shared(), store.images_lock.exclusive():
            if new.top_layer is not None and new.top_layer not in {
                    layer.id for layer in _load(store.layers_dir / LAYERS_FILE,
                                                LayerRecord.parse)}:
                raise StorageError(f"containers-storage: layer {new.top_layer} is not in "
                                   "the store")
            images = _load(path, dict)
            image = next((i for i in images if i["id"] == new.id), None)
            if image is None:
                image = {"id": new.id, "layer": new.top_layer, "created": new.created}
                images.append(image)
            elif image.get("layer") != new.top_layer:
                raise StorageError(f"containers-storage: image {new.id} exists with "
                                   "another top layer")
            self._put_big_data(image, new.big_data)
            image["metadata"] = new.metadata
            if new.name is not None:
                _move_name(images, image, new.name)
            images[images.index(image)] = _ordered(image, IMAGE_FIELDS)
            self._save(path, images, store.images_lock)

    def _put_big_data(self, image: dict[str, Any], items: list[tuple[str, bytes]]) -> None:
        directory = self.store.images_dir / image["id"]
        directory.mkdir(mode=0o700, exist_ok=True)
        names = list(image.get("big-data-names") or [])
        sizes = dict(image.get("big-data-sizes") or {})
        digests = dict(image.get("big-data-digests") or {})
        for key, data in items:
            atomic_write(directory / big_data_file_name(key), data)
            if key not in names:
                names.append(key)
            sizes[key] = len(data)
            digests[key] = f"sha256:{hashlib.sha256(data).hexdigest()}"
        image["big-data-names"] = names
        image["big-data-sizes"] = dict(sorted(sizes.items()))
        image["big-data-digests"] = dict(sorted(digests.items()))
        image["digest"] = digests.get(MANIFEST_KEY) or image.get("digest")


    def put_list_image(self, image_id: str | None, names: list[str],
                       items: list[tuple[str, bytes]]) -> str:
        """Create (*image_id* None: a random ID, *names* as given, no names history) or
        update the image of a manifest list: no layer, only big data, as buildah keeps
        lists (containers/storage's CreateImage then SetImageBigData); the
        ``digest`` field is set once, by the first manifest, as containers/storage sets
        it. Returns the image's ID."""
        self._prepare()
        store = self.store
        path = store.images_dir / IMAGES_FILE
        with store.images_lock.exclusive():
            images = _load(path, dict)
            if image_id is None:
                image_id = secrets.token_hex(32)
                for other in images:  # a name belongs to one image
                    taken = [n for n in other.get("names") or [] if n in names]
                    if taken:
                        raise StorageError(f'creating image to hold manifest list: image '
                                           f'name "{taken[0]}" is already associated with '
                                           f'image "{other["id"]}": that name is already '
                                           "in use")
                image: dict[str, Any] = {"id": image_id, "names": names,
                                         "created": go_time()}
                images.append(image)
            else:
                found = next((i for i in images if i["id"] == image_id), None)
                if found is None:
                    raise StorageError(f"containers-storage: no image {image_id}")
                image = found
            first = image.get("digest")
            self._put_big_data(image, items)
            image["digest"] = first or image.get("digest")
            images[images.index(image)] = _ordered(image, IMAGE_FIELDS)
            self._save(path, images, store.images_lock)
        return image_id

    def delete_image(self, image_id: str) -> None:
        """Remove an image with no layer (a manifest list) and its big data, as
        containers/storage's DeleteImage: the record goes first, then the directory."""
        store = self.store
        path = store.images_dir / IMAGES_FILE
        with store.images_lock.exclusive():
            images = _load(path, dict)
            image = next((i for i in images if i["id"] == image_id), None)
            if image is None:
                raise StorageError(f"containers-storage: no image {image_id}")
            if image.get("layer"):
                raise StorageError(f"containers-storage: image {image_id} has layers; only "
                                   "manifest lists are removed here")
            images.remove(image)
            self._save(path, images, store.images_lock)
            shutil.rmtree(store.images_dir / image_id, ignore_errors=True)


def _move_name(images: list[dict[str, Any]], image: dict[str, Any], name: str) -> None:
    """containers/storage's AddNames: a name belongs to one image; it joins this one's
    names and leads its names-history."""
    for other in images:
        if other is not image and name in (other.get("names") or []):
            other["names"] = [n for n in other["names"] if n != name]
            images[images.index(other)] = _ordered(other, IMAGE_FIELDS)
    names = list(image.get("names") or [])
    if name not in names:
        names.append(name)
    image["names"] = names
    history = [name, *(image.get("names-history") or [])]
    image["names-history"] = list(dict.fromkeys(history))
