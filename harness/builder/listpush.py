"""Pushing from buildah's store (containers/storage): an image, or a manifest list.

``buildah push NAME`` of a list pushes one image: libimage resolves the list's name to
its instance for this platform, found in the store by digest. Only when that push fails
for another reason than an unknown image does buildah 1.28 try the list itself
(``manifestPush``), with ``--all`` and ``--rm``. ``buildah manifest push`` pushes the
list: with ``--all`` every instance first (containers/image's CopyAllImages), without it
the list alone (CopySpecificImages naming none); ``--rm`` then removes the list.

The list's source is containers/image's "supplemented" reference: the list from the
list's record, each instance's manifest, blobs and signatures from the image its
``instances.json`` entry names.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

from harness.builder.manifests import StoredList, find_list, is_list, store_spec
from harness.builder.names import name_candidates
from harness.copy.engine import CopyOptions, CopyResult, ImageListSelection, copy_image
from harness.model import mediatype
from harness.model.digest import Digest
from harness.model.image import IndexManifest
from harness.model.manifest import detect_media_type
from harness.model.transportref import CONTAINERS_STORAGE, parse_storage_spec
from harness.store.containers import conf
from harness.store.containers.store import ContainersStore, StorageError
from harness.transports.alltransports import parse_image_name
from harness.transports.containers_storage import (
    TRANSPORT,
    ContainersStorageReference,
)
from harness.transports.types import BlobInfo, ImageReference, ImageSource, SystemContext
from harness.util.errors import HarnessError


class ImageNotKnownError(StorageError):
    """The name (or a list's instance for this platform) is not in the store: buildah
    then does not try a list push."""


@dataclass(frozen=True)
class StoreName:
    """``containers-storage:[driver@root+runroot]NAME`` split as typed: the store and
    the name (any spelling buildah takes, or an ID)."""

    store: ContainersStore
    name: str

    @classmethod
    def parse(cls, text: str) -> StoreName:
        details = text.removeprefix(f"{CONTAINERS_STORAGE}:")
        spec, name = "", details
        if details.startswith("["):
            spec, _, name = details.partition("]")
            spec += "]"
        if not name:
            raise HarnessError(f"{text}: no image name after the store")
        store = ContainersStore(conf.resolve(parse_storage_spec(spec)))
        return cls(store, name)

    def reference(self, image_id: str) -> ContainersStorageReference:
        """A reference to the image with *image_id* in this store."""
        return self.store_reference(self.store, image_id)

    @staticmethod
    def store_reference(store: ContainersStore, image_id: str) -> ContainersStorageReference:
        ref = TRANSPORT.parse_reference(f"{store_spec(store)}@{image_id}")
        assert isinstance(ref, ContainersStorageReference)
        return ref

    def find_list(self) -> StoredList:
        """The list this name means (libimage's LookupManifestList)."""
        found = find_list(self.store, name_candidates(self.name))
        if found is None:
            raise ImageNotKnownError(f"{self.name}: image not known")
        return found


def image_to_push(source: StoreName, ctx: SystemContext) -> tuple[ImageReference, bool]:
    """The image ``buildah push`` sends for *source*, and whether the name is a list:
    an image as it is; a list's instance for this platform (or *ctx*'s overrides), an
    image of the store with that digest."""
    store = source.store
    image = next((i for i in map(store.find_image, name_candidates(source.name))
                  if i is not None), None)
    if image is None:
        raise ImageNotKnownError(f"{source.name}: image not known")
    if not is_list(store, image):
        return source.reference(image.id), False
    stored = source.find_list()
    index = IndexManifest.parse(stored.manifest, detect_media_type(stored.manifest))
    try:
        wanted = index.platform_instance(ctx.platform_choice)
    except HarnessError as exc:
        raise ImageNotKnownError(f"{exc}: image not known") from None
    matches = store.images_by_digest(str(wanted))
    if not matches:
        raise ImageNotKnownError(f"could not find image instance {wanted} of manifest "
                                 f"list {image.id} in local containers storage: image "
                                 "not known")
    return source.reference(matches[0].id), True


class ListReference(ContainersStorageReference):
    """The list image of a store, read as a whole: the list and every instance."""

    def __init__(self, stored: StoredList) -> None:
        base = StoreName.store_reference(stored.store, stored.image.id)
        super().__init__(base.parsed)
        self.stored = stored

    def new_image_source(self, ctx: SystemContext) -> ImageSource:
        return ListSource(self, ctx)


class ListSource(ImageSource):
    """The list from its record; an instance's manifest, blobs and signatures from the
    image ``instances.json`` names for it, opened when first needed."""

    def __init__(self, ref: ListReference, ctx: SystemContext) -> None:
        self._ref = ref
        self._ctx = ctx
        self._sources: dict[str, ImageSource] = {}
        self._stack = contextlib.ExitStack()

    @property
    def reference(self) -> ImageReference:
        return self._ref

    def _instance(self, digest: Digest) -> ImageSource:
        key = str(digest)
        if key not in self._sources:
            where = self._ref.stored.instances.get(key)
            if where is None:
                raise HarnessError(f"manifest list {self._ref.stored.image.id}: no location "
                                   f"recorded for instance {digest}")
            self._sources[key] = self._stack.enter_context(
                parse_image_name(where).new_image_source(self._ctx))
        return self._sources[key]

    def get_manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        if instance is None:
            raw = self._ref.stored.manifest
            return raw, detect_media_type(raw)
        return self._instance(instance).get_manifest()

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        for source in self._sources.values():
            with contextlib.suppress(StorageError):
                return source.get_blob(info)
        raise StorageError(f"manifest list {self._ref.stored.image.id}: no instance has "
                           f"blob {info.digest}")

    def get_signatures(self, instance: Digest | None = None) -> list[bytes]:
        return [] if instance is None else self._instance(instance).get_signatures(instance)

    def close(self) -> None:
        self._stack.close()


LIST_FORMATS = {"oci": mediatype.OCI_MANIFEST, "v2s2": mediatype.DOCKER_V2S2_MANIFEST,
                "docker": mediatype.DOCKER_V2S2_MANIFEST}


@dataclass(frozen=True)
class ListPushOptions:
    """``buildah manifest push``'s options: every instance too (``--all``), remove the
    list once pushed (``--rm``), the images' manifest type (``oci``, ``v2s2``)."""

    all_images: bool = False
    remove: bool = False
    manifest_type: str | None = None
    remove_signatures: bool = False
    signature_policy_path: Path | None = None
    report_writer: TextIO | None = None
    system_context: SystemContext = field(default_factory=SystemContext)


def push_list(source: StoreName, dest: ImageReference, options: ListPushOptions
              ) -> CopyResult:
    """Push the list *source* names (and with ``all_images`` every instance) to *dest*,
    as buildah 1.28's ``manifestPush``; ``remove`` deletes the list after success."""
    stored = source.find_list()
    if options.manifest_type is not None and options.manifest_type not in LIST_FORMATS:
        raise HarnessError(f"unknown format {options.manifest_type!r}. Choose on of the "
                           "supported formats: 'oci' or 'v2s2'")
    ctx = options.system_context
    selection = ImageListSelection.ALL if options.all_images \
        else ImageListSelection.INDEX_ONLY
    result = copy_image(dest, ListReference(stored), CopyOptions(
        source_ctx=ctx, dest_ctx=ctx,
        manifest_type=LIST_FORMATS[options.manifest_type] if options.manifest_type else None,
        report_writer=options.report_writer, remove_signatures=options.remove_signatures,
        signature_policy_path=options.signature_policy_path or ctx.signature_policy_path,
        image_list_selection=selection))
    if options.remove:
        source.store.writer().delete_image(stored.image.id)
    return result
