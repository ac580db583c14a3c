"""Manifest lists in buildah's store (containers/storage), kept as buildah 1.28 keeps them.

``buildah manifest create/add`` and ``buildah commit --manifest`` (containers/common
0.50's ``libimage/manifests``) store a list as an image record with no layer and a
random ID, named like an image, whose big data holds the list itself (``manifest``) and
``instances.json``: a JSON map from each instance's digest to the containers-storage
reference of the image it came from. Each instance is an image of the same store, found
by that reference when the list is pushed.

The list is held in both of its forms (a Docker manifest list and an OCI index, as
``pkg/manifests`` does) and written in one of them: a new list as a Docker list, a list
saved again as an OCI index unless an entry has Docker-only data (``features``), each
in Go's field order, so the stored bytes are buildah's.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.builder.names import local_name, name_candidates
from harness.model import gojson, mediatype
from harness.model.config import parse_config
from harness.model.digest import Digest
from harness.model.image import ImageManifest
from harness.model.manifest import detect_media_type, manifest_digest
from harness.store.containers.lockfile import LockFile
from harness.store.containers.store import (
    MANIFEST_KEY,
    ContainersStore,
    ImageRecord,
    StorageError,
)
from harness.util.errors import HarnessError

INSTANCES_KEY = "instances.json"  # libimage/manifests' instancesData
_PLATFORM_KEYS = ("architecture", "os", "os.version", "os.features", "variant")


class NotAListError(HarnessError):
    """The name is an image, not a manifest list."""


def _omit_empty(pairs: list[tuple[str, Any]], keep: tuple[str, ...]) -> dict[str, Any]:
    """A Go struct's JSON: fields in order, ``omitempty`` ones dropped when empty."""
    return {k: v for k, v in pairs if k in keep or v not in (None, "", [], {}, 0)}


def _platform(raw: dict[str, Any] | None, docker: bool) -> dict[str, Any]:
    raw = raw or {}
    keys = (*_PLATFORM_KEYS, "features") if docker else _PLATFORM_KEYS
    return _omit_empty([(k, raw.get(k)) for k in keys], ("architecture", "os"))


def _docker_entry(media_type: str, size: int, digest: str, urls: list[str] | None,
                  platform: dict[str, Any]) -> dict[str, Any]:
    """manifest.Schema2ManifestDescriptor, in its field order."""
    return _omit_empty([("mediaType", media_type), ("size", size), ("digest", digest),
                        ("urls", urls), ("platform", _platform(platform, docker=True))],
                       ("mediaType", "size", "digest", "platform"))


def _oci_entry(media_type: str, size: int, digest: str, urls: list[str] | None, *,
               annotations: dict[str, str] | None,
               platform: dict[str, Any] | None) -> dict[str, Any]:
    """image-spec v1.Descriptor (as vendored by buildah 1.28), in its field order."""
    return _omit_empty([("mediaType", media_type), ("digest", digest), ("size", size),
                        ("urls", urls), ("annotations", annotations),
                        ("platform", None if platform is None
                         else _platform(platform, docker=False))],
                       ("digest", "size"))


@dataclass
class ManifestList:
    """A list as containers/common's ``pkg/manifests`` holds it: both forms side by side
    (each keeps what only it can say), and where each instance's image is."""

    docker: list[dict[str, Any]] = field(default_factory=list)
    oci: list[dict[str, Any]] = field(default_factory=list)
    oci_annotations: dict[str, str] | None = None
    instances: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_blob(cls, raw: bytes) -> ManifestList:
        """pkg/manifests.FromBlob: the stored form fills its own side and the other."""
        media_type = detect_media_type(raw)
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise HarnessError(f"unable to load manifest list: {exc}") from None
        entries = [m for m in data.get("manifests") or [] if isinstance(m, dict)]
        out = cls()
        if media_type == mediatype.DOCKER_MANIFEST_LIST:
            for m in entries:
                platform = m.get("platform") or {}
                out.docker.append(_docker_entry(m.get("mediaType", ""), m.get("size", 0),
                                                m.get("digest", ""), m.get("urls"), platform))
                out.oci.append(_oci_entry(m.get("mediaType", ""), m.get("size", 0),
                                          m.get("digest", ""), None, annotations=None,
                                          platform={k: platform.get(k)
                                                    for k in _PLATFORM_KEYS}))
        elif media_type == mediatype.OCI_INDEX:
            for m in entries:
                out.oci.append(_oci_entry(m.get("mediaType", ""), m.get("size", 0),
                                          m.get("digest", ""), m.get("urls"),
                                          annotations=m.get("annotations"),
                                          platform=m.get("platform")))
                platform = {k: (m.get("platform") or {}).get(k) for k in _PLATFORM_KEYS}
                out.docker.append(_docker_entry(m.get("mediaType", ""), m.get("size", 0),
                                                m.get("digest", ""), None, platform))
            out.oci_annotations = data.get("annotations")
        else:
            raise NotAListError(f"unable to load manifest list: unsupported format "
                                f"{media_type!r}")
        return out

    def add_instance(self, digest: Digest, size: int, media_type: str,
                     platform: dict[str, Any], location: str) -> None:
        """pkg/manifests AddInstance (an entry with this digest moves to the end) and
        the instance's location, kept if one was recorded before."""
        self.docker = [m for m in self.docker if m["digest"] != str(digest)]
        self.oci = [m for m in self.oci if m["digest"] != str(digest)]
        self.docker.append(_docker_entry(media_type, size, str(digest), None, platform))
        self.oci.append(_oci_entry(media_type, size, str(digest), None, annotations=None,
                                   platform=platform))
        self.instances.setdefault(str(digest), location)

    def _prefer_oci(self) -> bool:
        if any(m.get("urls") or m.get("annotations") for m in self.oci):
            return True
        if any(m["platform"].get("features") for m in self.docker):
            return False
        return bool(self.docker)

    def serialize(self, media_type: str | None) -> bytes:
        """The list as *media_type*; None: the form ``Serialize("")`` picks."""
        if media_type is None:
            media_type = mediatype.OCI_INDEX if self._prefer_oci() \
                else mediatype.DOCKER_MANIFEST_LIST
        if media_type == mediatype.OCI_INDEX:
            return gojson.dumps(_omit_empty([
                ("schemaVersion", 2), ("mediaType", media_type), ("manifests", self.oci),
                ("annotations", self.oci_annotations)], ("schemaVersion", "manifests")))
        return gojson.dumps({"schemaVersion": 2, "mediaType": media_type,
                             "manifests": self.docker})


def _go_map(mapping: dict[str, str]) -> bytes:
    return gojson.dumps_sorted(mapping)


@dataclass
class StoredList:
    """A manifest list saved in a store: its image record and its contents."""

    store: ContainersStore
    image: ImageRecord
    manifest: bytes
    instances: dict[str, str]

    @property
    def digest(self) -> Digest:
        return manifest_digest(self.manifest)

    def load(self) -> ManifestList:
        """The list to change (LoadFromImage: the instances gain ``""``: the list's ID)."""
        out = ManifestList.from_blob(self.manifest)
        out.instances = {**self.instances, "": self.image.id}
        return out


def is_list(store: ContainersStore, image: ImageRecord) -> bool:
    """Whether *image* holds a manifest list (libimage's IsManifestList)."""
    if MANIFEST_KEY not in image.big_data_names:
        return False
    return detect_media_type(store.big_data(image, MANIFEST_KEY)) in mediatype.INDEXES


def find_list(store: ContainersStore, names: list[str]) -> StoredList | None:
    """The list the first of *names* (spellings of one name, or an ID) that is in the
    store names; None when none is; NotAListError when that image is no list."""
    for name in names:
        image = store.find_image(name)
        if image is not None:
            break
    else:
        return None
    if not is_list(store, image):
        raise NotAListError(f"{name}: image is not a manifest list")
    manifest = store.big_data(image, MANIFEST_KEY)
    try:
        instances = json.loads(store.big_data(image, INSTANCES_KEY))
    except ValueError as exc:
        raise StorageError(f"decoding instance list for image {image.id}: {exc}") from None
    if not isinstance(instances, dict):
        raise StorageError(f"decoding instance list for image {image.id}: not a JSON map")
    return StoredList(store, image, manifest, {str(k): str(v) for k, v in instances.items()})


def save_new(store: ContainersStore, listed: ManifestList, name: str) -> str:
    """SaveToImage of a new list: a random ID, *name*, the list as a Docker list (what
    buildah's commit --manifest asks for) and the instances without the list's own
    entry (it is recorded after the save). Returns the ID."""
    return store.writer().put_list_image(None, [name], [
        (MANIFEST_KEY, listed.serialize(mediatype.DOCKER_MANIFEST_LIST)),
        (INSTANCES_KEY, _go_map(listed.instances))])


def save_again(stored: StoredList, listed: ManifestList) -> None:
    """SaveToImage of a loaded list into its own record, in the form Serialize("") picks."""
    stored.store.writer().put_list_image(stored.image.id, [], [
        (MANIFEST_KEY, listed.serialize(None)),
        (INSTANCES_KEY, _go_map(listed.instances))])


def store_spec(store: ContainersStore) -> str:
    """``[driver@root+runroot]``, as containers/image names a store in a reference."""
    driver = store.driver.name if store.driver else ""
    return f"[{driver}@{store.graph_root}+{store.options.run_root}]"


def add_image(store: ContainersStore, list_name: str, image_id: str) -> str:
    """Add the store's image *image_id* to the list *list_name*, creating the list (named
    as buildah names a commit) when no image has that name: buildah 1.28's
    ``addManifest`` after ``commit --manifest``; ``instances.json`` records the image as
    ``containers-storage:[driver@root+runroot]@ID``. Returns the list's ID."""
    try:
        stored = find_list(store, name_candidates(list_name))
    except NotAListError:  # as buildah: then creating the list fails on the taken name
        stored = None
    image = store.find_image(image_id)
    if image is None:
        raise StorageError(f"containers-storage: no image {image_id}")
    raw = store.big_data(image, MANIFEST_KEY)
    media_type = detect_media_type(raw)
    described = ImageManifest.parse(raw, media_type).config
    if described is None:
        raise StorageError(f"containers-storage: image {image_id} has no config")
    config = parse_config(store.big_data(image, str(described.digest)), described.media_type)
    platform = {"architecture": config.architecture, "os": config.os,
                "os.version": config.os_version, "os.features": config.os_features,
                "variant": config.variant}
    location = f"containers-storage:{store_spec(store)}@{image_id}"
    if stored is None:
        listed = ManifestList()
        listed.add_instance(manifest_digest(raw), len(raw), media_type, platform, location)
        return save_new(store, listed, local_name(list_name))
    with digest_lock(store, stored.image.id):  # LockerForImage, as buildah takes it
        stored = find_list(store, [stored.image.id]) or stored
        listed = stored.load()
        listed.add_instance(manifest_digest(raw), len(raw), media_type, platform, location)
        save_again(stored, listed)
    return stored.image.id


@contextlib.contextmanager
def digest_lock(store: ContainersStore, image_id: str) -> Iterator[None]:
    """containers/storage's GetDigestLock for a list's ID, held exclusive: the lock
    buildah takes while it loads, changes and saves a list
    (``RUNROOT/DRIVER-locks/sha256:ID``)."""
    driver = store.driver.name if store.driver else ""
    directory = store.options.run_root / f"{driver}-locks"
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with LockFile(directory / f"sha256:{image_id}").exclusive():
        yield
