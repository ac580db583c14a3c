"""``copy_image``: move one image from any transport to any other (containers/image's
``copy.Image``), knowing none of them, and no manifest format, in particular.

Order of work, as in containers/image: check the signature policy on the source; read the
manifest (from an index, the instance for this platform); plan the copy up front
(:func:`harness.copy.plan.plan_image`: candidate manifest types, and how each layer
travels for each); copy the layers (:mod:`harness.copy.layerpool`: up to six at a time
when the source and the destination allow it, each announced as it starts); then for
each candidate ask the image for itself updated to that type
(:meth:`harness.model.image.ImageManifest.with_updates`), upload what it needs and write
it, moving to the next candidate when the destination raises
:class:`~harness.transports.types.ManifestTypeRejectedError`.
"""

from __future__ import annotations

import enum
import io
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from harness.copy.blobcopy import CopiedBlob, copy_blob
from harness.copy.layerpool import copy_layers
from harness.copy.plan import TargetPlan, index_oci_only, index_type, plan_image
from harness.copy.policy import load_policy
from harness.copy.report import (
    CHECKING_LIST_SIGNATURES,
    CHECKING_SIGNATURES,
    GETTING_LIST_SIGNATURES,
    GETTING_SIGNATURES,
    STORING_LIST_SIGNATURES,
    STORING_SIGNATURES,
    WRITING_LIST,
    WRITING_MANIFEST,
    Reporter,
)
from harness.model import mediatype
from harness.model.compression import Algorithm
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.image import ImageManifest, IndexManifest, ManifestUpdates, UpdatedManifest
from harness.model.manifest import manifest_digest
from harness.model.reference import Reference
from harness.transports.alltransports import TRANSPORTS
from harness.transports.types import (
    BlobInfo,
    ImageDestination,
    ImageReference,
    ImageSource,
    ManifestTypeRejectedError,
    SystemContext,
    read_config,
)
from harness.util.errors import HarnessError

MAX_PARALLEL_BLOBS = 6


class ImageListSelection(enum.Enum):
    """Which images of an index a copy takes (containers/image's ImageListSelection)."""

    SYSTEM = "system"  # the image for this machine, copied as a single image
    ALL = "all"  # every image, and the index naming them
    INDEX_ONLY = "index"  # the index alone (CopySpecificImages naming none of its images)


@dataclass
class CopyOptions:
    """What a copy may change (containers/image's ``copy.Options``, reduced).

    ``compression`` is the algorithm used where the destination compresses (None: gzip);
    ``manifest_type`` forces one manifest MIME type; ``source_layers_uncompressed``
    decides on each layer as on the uncompressed one containers/storage serves, whatever
    blob the source stores (buildah's push from its store).
    """

    source_ctx: SystemContext = field(default_factory=SystemContext)
    dest_ctx: SystemContext = field(default_factory=SystemContext)
    manifest_type: str | None = None
    compression: Algorithm | None = None
    compression_level: int | None = None
    source_layers_uncompressed: bool = False
    report_writer: TextIO | None = None
    signature_policy_path: Path | None = None
    remove_signatures: bool = False
    preserve_digests: bool = False  # every manifest as it is, whatever else was asked
    max_parallel: int = MAX_PARALLEL_BLOBS
    image_list_selection: ImageListSelection = ImageListSelection.SYSTEM


@dataclass(frozen=True)
class CopyResult:
    """The manifest written to the destination, its type and its digest."""

    manifest: bytes
    media_type: str
    digest: Digest

    def write_digest(self, path: Path) -> None:
        """Write the manifest digest to *path* (``--digestfile``)."""
        try:
            path.write_text(str(self.digest))
        except OSError as exc:
            raise HarnessError(f"digest file {path}: {exc.strerror}") from None


def copy_image(dest: ImageReference, src: ImageReference,
               options: CopyOptions | None = None) -> CopyResult:
    """Copy the image *src* names to *dest*; raise a HarnessError naming what failed."""
    options = options or CopyOptions()
    load_policy(options.signature_policy_path, TRANSPORTS).check(src)
    with Reporter(options.report_writer) as reporter, \
            src.new_image_source(options.source_ctx) as source, \
            dest.new_image_destination(options.dest_ctx) as destination:
        return _Copier(source, destination, options, reporter).run()


class _Copier:
    """The state of one copy: source, destination, what was uploaded so far."""

    def __init__(self, source: ImageSource, destination: ImageDestination,
                 options: CopyOptions, reporter: Reporter) -> None:
        self.source = source
        self.destination = destination
        self.options = options
        self.reporter = reporter
        self.uploaded: set[Digest] = set()
        docker = destination.reference.docker_reference()
        self.name = docker if isinstance(docker, Reference) else None

    def run(self) -> CopyResult:
        raw, media_type = self.source.get_manifest()
        if media_type in mediatype.INDEXES and \
                self.options.image_list_selection is not ImageListSelection.SYSTEM:
            written, written_type = self._copy_index(IndexManifest.parse(raw, media_type))
        else:
            instance = None
            if media_type in mediatype.INDEXES:
                instance = self._chosen_instance(IndexManifest.parse(raw, media_type))
                raw, media_type = self.source.get_manifest(instance)
            written, written_type = self._copy_image(raw, media_type, instance)
        self.destination.publish()
        return CopyResult(written, written_type, manifest_digest(written))

    def _chosen_instance(self, index: IndexManifest) -> Digest:
        """The image of *index* the source context's platform choice takes."""
        try:
            return index.platform_instance(self.options.source_ctx.platform_choice)
        except HarnessError as exc:
            raise HarnessError(f"choosing an image from manifest list "
                               f"{self.source.reference}: {exc}") from None

    def _copy_index(self, index: IndexManifest) -> tuple[bytes, str]:
        """Copy every image of the index, then the index naming them as copied."""
        self.reporter.line(GETTING_LIST_SIGNATURES)
        signatures = self._signatures(None, CHECKING_LIST_SIGNATURES)
        list_type = index_type(index.media_type,
                               self.destination.supported_manifest_mime_types(),
                               self.options.manifest_type,
                               oci_only=index_oci_only(self.options.compression,
                                                       self.destination))
        frozen = self._frozen_reason(signatures)
        if frozen and list_type != index.media_type:
            raise _frozen_list(list_type, frozen)
        total = len(index.instances)
        if self.options.image_list_selection is ImageListSelection.INDEX_ONLY:
            self.reporter.line(f"Copying 0 of {total} images in list")
            return self._write_index(index.with_updates(index.instances, list_type),
                                     list_type, signatures)
        self.reporter.line(f"Copying {total} of {total} images in list")
        entries = []
        for number, entry in enumerate(index.instances, start=1):
            if entry.media_type in mediatype.INDEXES:
                raise HarnessError(f"image {number} of the index ({entry.digest}) is itself "
                                   "an index; nested indexes are not copied")
            self.reporter.line(f"Copying image {entry.digest} ({number}/{total})")
            child, child_type = self.source.get_manifest(entry.digest)
            if manifest_digest(child, entry.digest.algorithm) != entry.digest:
                raise HarnessError(f"image {number} of the index: its manifest does not "
                                   f"match the digest {entry.digest}")
            written, written_type = self._copy_image(child, child_type, entry.digest,
                                                     child=True)
            entries.append(replace(entry, media_type=written_type, size=len(written),
                                   digest=manifest_digest(written)))
        out = index.with_updates(entries, list_type)
        if frozen and out != index.raw:
            raise _frozen_list(list_type, frozen)
        return self._write_index(out, list_type, signatures)

    def _write_index(self, out: bytes, list_type: str, signatures: list[bytes]
                     ) -> tuple[bytes, str]:
        self.reporter.line(WRITING_LIST)
        self.destination.put_manifest(out, list_type)
        self.reporter.line(STORING_LIST_SIGNATURES)
        self.destination.put_signatures(signatures)
        return out, list_type

    def _signatures(self, instance: Digest | None, checking: str) -> list[bytes]:
        """The signatures to copy; refused before anything is written when the
        destination cannot keep them."""
        if self.options.remove_signatures:
            return []
        signatures = self.source.get_signatures(instance)
        if signatures:
            self.reporter.line(checking)
            if not self.destination.supports_signatures():
                raise HarnessError(f"{self.destination.reference} cannot store the source's "
                                   f"{len(signatures)} signature(s); copy with "
                                   "--remove-signatures")
        return signatures

    def _frozen_reason(self, signatures: list[bytes]) -> str | None:
        """Why the manifest must be written as it is (containers/image's
        ``cannotModifyManifestReason``, the last reason winning), or None."""
        if self.options.preserve_digests:
            return "Instructed to preserve digests"
        return "Would invalidate signatures" if signatures else None

    def _copy_image(self, raw: bytes, media_type: str, instance: Digest | None, *,
                    child: bool = False) -> tuple[bytes, str]:
        """Copy one image: layers, config, then its manifest (as an index's *child*,
        written by its own digest); returns the manifest written and its type."""
        self.reporter.line(GETTING_SIGNATURES)
        signatures = self._signatures(instance, CHECKING_SIGNATURES)
        image = ImageManifest.parse(raw, media_type)
        plan = plan_image(image, self.destination, forced_type=self.options.manifest_type,
                          compression=self.options.compression,
                          frozen=self._frozen_reason(signatures) is not None,
                          served_uncompressed=self.options.source_layers_uncompressed)
        copied = self._copy_layers(image, plan.targets[0])
        config = None if image.config is None else read_config(self.source, image.config)
        for number, target in enumerate(plan.targets, start=1):
            if target.diff_ids and any(c.diff_id is None for c in copied.values()):
                # This type needs diffIDs the first copy did not learn: copy again.
                copied = self._copy_layers(image, target)
            updated = image.with_updates(ManifestUpdates(
                media_type=target.media_type,
                layers=[copied[d.digest].descriptor for d in image.layers],
                diff_ids=[copied[d.digest].diff_id for d in image.layers],
                destination=self.name, config=config))
            try:
                written = self._write_manifest(updated, child)
                break
            except ManifestTypeRejectedError:
                if number == len(plan.targets):
                    raise
        self.reporter.line(STORING_SIGNATURES)
        self.destination.put_signatures(signatures, manifest_digest(written) if child else None)
        return written, updated.media_type

    def _copy_layers(self, image: ImageManifest, target: TargetPlan
                     ) -> dict[Digest, CopiedBlob]:
        """Copy each distinct layer once, as *target* plans it, scheduled and announced as
        containers/image does (:mod:`harness.copy.layerpool`): in parallel only when the
        source and the destination both allow it."""
        parallel = self.source.has_thread_safe_get_blob() and \
            self.destination.has_thread_safe_put_blob()

        def one(source: ImageSource, layer: Descriptor) -> CopiedBlob:
            with self.reporter.bar(layer.digest, layer.size) as progress:
                return copy_blob(source, self.destination, layer,
                                 target.compression[layer.digest],
                                 level=self.options.compression_level, progress=progress,
                                 oci=target.oci, diff_id=target.diff_ids,
                                 retries=self.options.dest_ctx.retry_times)

        return copy_layers(self.source, image.layers, one,
                           workers=self.options.max_parallel if parallel else 1,
                           announce=lambda layer: self.reporter.blob(layer.digest))

    def _put_blob_bytes(self, descriptor: Descriptor, data: bytes, *, is_config: bool) -> None:
        if descriptor.digest in self.uploaded:
            return
        if is_config:
            self.reporter.blob(descriptor.digest, is_config=True)
        if self.destination.try_reusing_blob(BlobInfo.of(descriptor)) is None:
            self.destination.put_blob(io.BytesIO(data), BlobInfo.of(descriptor),
                                      is_config=is_config)
        self.uploaded.add(descriptor.digest)

    def _write_manifest(self, updated: UpdatedManifest, child: bool) -> bytes:
        """Upload the blobs *updated* needs, then write it (by its own digest for an
        index's *child*)."""
        for descriptor, data in updated.extra_blobs:
            self._put_blob_bytes(descriptor, data, is_config=False)
        if updated.config is not None:
            self._put_blob_bytes(*updated.config, is_config=True)
        self.reporter.line(WRITING_MANIFEST)
        self.destination.put_manifest(updated.manifest, updated.media_type,
                                      manifest_digest(updated.manifest) if child else None)
        return updated.manifest


def _frozen_list(list_type: str, reason: str) -> HarnessError:
    return HarnessError(f'Manifest list must be converted to type "{list_type}" to be written '
                        f'to destination, but we cannot modify it: "{reason}"')
