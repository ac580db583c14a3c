"""``copy_image``: move one image from any transport to any other (containers/image's
``copy.Image``), knowing none of them in particular.

Order of work, as in containers/image: check the signature policy on the source; read the
manifest (from an index, the instance for this platform); copy the layers, up to six at a
time when the destination allows it, recompressing only where the destination or the
target manifest type needs it; then for each candidate manifest type (see
:mod:`harness.copy.plan`) convert, upload the config, and write the manifest, moving
to the next type when the destination rejects one with MANIFEST_INVALID or TAG_INVALID.
"""

from __future__ import annotations

import enum
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from harness.copy.blobcopy import CopiedBlob, compression_plan, copy_blob
from harness.copy.plan import index_type, is_fallback_error, manifest_candidates
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
from harness.model.compression import Algorithm, layer_media_type
from harness.model.convert import convert_manifest, layers_needing_recompression
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.indexconvert import rebuild_index
from harness.model.manifest import (
    DockerManifest,
    DockerManifestList,
    Manifest,
    OCIIndex,
    OCIManifest,
    Schema1Manifest,
    manifest_digest,
    parse_manifest,
    platform_instance,
)
from harness.model.reference import Reference
from harness.transports.alltransports import TRANSPORTS
from harness.transports.types import (
    BlobInfo,
    ImageDestination,
    ImageReference,
    ImageSource,
    LayerCompression,
    SystemContext,
    read_config,
)
from harness.util.errors import HarnessError

MAX_PARALLEL_BLOBS = 6


class ImageListSelection(enum.Enum):
    """Which images of an index a copy takes (containers/image's ImageListSelection)."""

    SYSTEM = "system"  # the image for this machine, copied as a single image
    ALL = "all"  # every image, and the index naming them


@dataclass
class CopyOptions:
    """What a copy may change (containers/image's ``copy.Options``, reduced).

    ``compression`` None keeps each layer as it is unless the destination or the target
    manifest type needs otherwise; ``manifest_type`` forces one manifest MIME type.
    """

    source_ctx: SystemContext = field(default_factory=SystemContext)
    dest_ctx: SystemContext = field(default_factory=SystemContext)
    manifest_type: str | None = None
    compression: Algorithm | None = None
    compression_level: int | None = None
    report_writer: TextIO | None = None
    signature_policy_path: Path | None = None
    remove_signatures: bool = False
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


def _desired_compression(options: CopyOptions,
                         destination: ImageDestination) -> Algorithm | None:
    if options.compression is not None:
        return options.compression
    wanted = destination.desired_layer_compression()
    if wanted is LayerCompression.COMPRESS:
        return Algorithm.GZIP
    if wanted is LayerCompression.DECOMPRESS:
        return Algorithm.NONE
    return None


def with_layers(manifest: Manifest, layers: dict[Digest, Descriptor]) -> Manifest:
    """*manifest* with each layer replaced by what it became at the destination."""
    if isinstance(manifest, OCIManifest | DockerManifest):
        return replace(manifest, layers=[layers.get(d.digest, d) for d in manifest.layers])
    if isinstance(manifest, Schema1Manifest):
        return replace(manifest, fs_layers=[layers[d].digest if d in layers else d
                                            for d in manifest.fs_layers])
    raise HarnessError(f"cannot copy layers of a {manifest.media_type}")


@dataclass(frozen=True)
class _SourceImage:
    """The source's manifest (as read and parsed) and its config blob."""

    raw: bytes
    media_type: str
    manifest: Manifest
    config: bytes | None


class _Copier:
    """The state of one copy: source, destination, what was uploaded so far."""

    def __init__(self, source: ImageSource, destination: ImageDestination,
                 options: CopyOptions, reporter: Reporter) -> None:
        self.source = source
        self.destination = destination
        self.options = options
        self.reporter = reporter
        self.uploaded: set[Digest] = set()

    def run(self) -> CopyResult:
        raw, media_type = self.source.get_manifest()
        if media_type in mediatype.INDEXES and \
                self.options.image_list_selection is ImageListSelection.ALL:
            written, written_type = self._copy_index(raw, media_type)
        else:
            instance = None
            if media_type in mediatype.INDEXES:
                instance = platform_instance(parse_manifest(raw, media_type))
                raw, media_type = self.source.get_manifest(instance)
            written, written_type = self._copy_image(raw, media_type, instance)
        self.destination.publish()
        return CopyResult(written, written_type, manifest_digest(written))

    def _copy_index(self, raw: bytes, media_type: str) -> tuple[bytes, str]:
        """Copy every image of the index, then the index naming them as copied."""
        self.reporter.line(GETTING_LIST_SIGNATURES)
        signatures = self._signatures(None, CHECKING_LIST_SIGNATURES)
        index = parse_manifest(raw, media_type)
        if not isinstance(index, OCIIndex | DockerManifestList):
            raise HarnessError(f"{media_type} is not an index")
        list_type = index_type(media_type, self.destination.supported_manifest_mime_types(),
                               self.options.manifest_type,
                               oci_only=self._desired() is Algorithm.ZSTD)
        if signatures and list_type != media_type:
            raise _frozen_list(list_type)
        total = len(index.manifests)
        self.reporter.line(f"Copying {total} of {total} images in list")
        entries = []
        for number, entry in enumerate(index.manifests, start=1):
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
        out = rebuild_index(raw, index, entries, list_type)
        if signatures and out != raw:
            raise _frozen_list(list_type)
        self.reporter.line(WRITING_LIST)
        self.destination.put_manifest(out, list_type)
        self.reporter.line(STORING_LIST_SIGNATURES)
        self.destination.put_signatures(signatures)
        return out, list_type

    def _desired(self) -> Algorithm | None:
        return _desired_compression(self.options, self.destination)

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

    def _copy_image(self, raw: bytes, media_type: str, instance: Digest | None, *,
                    child: bool = False) -> tuple[bytes, str]:
        """Copy one image: layers, config, then its manifest (as an index's *child*,
        written by its own digest); returns the manifest written and its type."""
        self.reporter.line(GETTING_SIGNATURES)
        signatures = self._signatures(instance, CHECKING_SIGNATURES)
        manifest = parse_manifest(raw, media_type)
        if signatures:
            # As containers/image: a change would invalidate the signatures, so the
            # manifest and layers go as they are, whatever format or compression was
            # asked, and the destination takes them or refuses.
            desired, candidates = None, [media_type]
        else:
            desired = self._desired()
            candidates = manifest_candidates(
                media_type, self.destination.supported_manifest_mime_types(),
                self.options.manifest_type, oci_only=desired is Algorithm.ZSTD)
        if desired is not None:  # refuse zstd for a Docker format before any upload
            layer_media_type(desired, oci=candidates[0] == mediatype.OCI_MANIFEST)
        copied = self._copy_layers(raw, media_type, manifest, candidates[0], desired)
        image = _SourceImage(raw, media_type, manifest, self._read_config(manifest))
        for number, candidate in enumerate(candidates, start=1):
            if _needs_diff_ids(media_type, candidate) and \
                    any(c.diff_id is None for c in copied.values()):
                # A fallback away from schema1: learn the diffIDs by copying again.
                copied = self._copy_layers(raw, media_type, manifest, candidate, desired)
            try:
                written, written_type = self._write_manifest(image, copied, candidate, child)
                break
            except HarnessError as exc:
                if number < len(candidates) and is_fallback_error(exc):
                    continue
                raise
        self.reporter.line(STORING_SIGNATURES)
        self.destination.put_signatures(signatures, manifest_digest(written) if child else None)
        return written, written_type

    def _copy_layers(self, raw: bytes, media_type: str, manifest: Manifest,
                     target_type: str, desired: Algorithm | None
                     ) -> dict[Digest, CopiedBlob]:
        """Copy each distinct layer once; schema1 layers going to another type are
        recompressed so their diffIDs are learnt on the way."""
        learn_diff_ids = _needs_diff_ids(media_type, target_type)
        recompress = {manifest.layers[i].digest
                      for i in layers_needing_recompression(raw, media_type, target_type)}
        unique = list({d.digest: d for d in manifest.layers}.values())
        for layer in unique:
            self.reporter.blob(layer.digest)
        workers = self.options.max_parallel if self.destination.has_thread_safe_put_blob() else 1

        def one(layer: Descriptor) -> CopiedBlob:
            target = compression_plan(layer, desired, recompress=learn_diff_ids
                                      or layer.digest in recompress)
            with self.reporter.bar(layer.digest, layer.size) as progress:
                return copy_blob(self.source, self.destination, layer, target,
                                 level=self.options.compression_level, progress=progress,
                                 oci=target_type == mediatype.OCI_MANIFEST,
                                 diff_id=learn_diff_ids,
                                 retries=self.options.dest_ctx.retry_times)

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            done = list(pool.map(one, unique))
        return {old.digest: new for old, new in zip(unique, done, strict=True)}

    def _read_config(self, manifest: Manifest) -> bytes | None:
        return None if manifest.config is None else read_config(self.source, manifest.config)

    def _put_blob_bytes(self, descriptor: Descriptor, data: bytes, *, is_config: bool) -> None:
        if descriptor.digest in self.uploaded:
            return
        if is_config:
            self.reporter.blob(descriptor.digest, is_config=True)
        if self.destination.try_reusing_blob(BlobInfo.of(descriptor)) is None:
            self.destination.put_blob(io.BytesIO(data), BlobInfo.of(descriptor),
                                      is_config=is_config)
        self.uploaded.add(descriptor.digest)

    def _write_manifest(self, image: _SourceImage, copied: dict[Digest, CopiedBlob],
                        target: str, child: bool) -> tuple[bytes, str]:
        """Convert for *target* if needed, upload the config, write the manifest (by its
        own digest for an index's *child*)."""
        raw, media_type, manifest, config = (image.raw, image.media_type, image.manifest,
                                             image.config)
        changed = {d: c.descriptor for d, c in copied.items() if c.descriptor.digest != d
                   or c.descriptor.media_type != _layer_type(manifest, d)}
        if target == media_type:
            renamed = _schema1_renamed(manifest, self.destination.reference)
            if renamed is not None:
                out = with_layers(renamed, changed).to_bytes()
            else:
                out = with_layers(manifest, changed).to_bytes() if changed else raw
            if manifest.config is not None and config is not None:
                self._put_blob_bytes(manifest.config, config, is_config=True)
        else:
            name, tag = _schema1_name(self.destination.reference)
            diff_ids = [copied[d.digest].diff_id for d in manifest.layers]
            conversion = convert_manifest(
                raw, media_type, target, config=config, name=name, tag=tag,
                layers=[copied[d.digest].descriptor for d in manifest.layers],
                diff_ids=[d for d in diff_ids if d is not None] or None)
            for descriptor, data in conversion.extra_blobs:
                self._put_blob_bytes(descriptor, data, is_config=False)
            new_config = parse_manifest(conversion.manifest, conversion.media_type).config
            new_config_bytes = conversion.config or config
            if new_config is not None and new_config_bytes is not None:
                self._put_blob_bytes(new_config, new_config_bytes, is_config=True)
            out = conversion.manifest
            target = conversion.media_type
        self.reporter.line(WRITING_MANIFEST)
        self.destination.put_manifest(out, target, manifest_digest(out) if child else None)
        return out, target


def _frozen_list(list_type: str) -> HarnessError:
    return HarnessError(f'Manifest list must be converted to type "{list_type}" to be written '
                        'to destination, but we cannot modify it: "Would invalidate signatures"')


def _needs_diff_ids(source_type: str, target_type: str) -> bool:
    """Converting schema1 to another type needs the diffIDs schema1 does not record."""
    return source_type in mediatype.SCHEMA1 and target_type not in mediatype.SCHEMA1


def _layer_type(manifest: Manifest, digest: Digest) -> str:
    return next(d.media_type for d in manifest.layers if d.digest == digest)


def _schema1_renamed(manifest: Manifest, ref: ImageReference) -> Schema1Manifest | None:
    """A schema1 manifest names its repository and tag: copied elsewhere, it takes the
    destination's (and a new signature), as containers/image does; None if unchanged."""
    docker = ref.docker_reference()
    if not isinstance(manifest, Schema1Manifest) or not isinstance(docker, Reference):
        return None
    name, tag = _schema1_name(ref)
    if (manifest.name, manifest.tag) == (name, tag):
        return None
    return replace(manifest, name=name, tag=tag)


def _schema1_name(ref: ImageReference) -> tuple[str, str]:
    """The repository path and tag a schema1 manifest records for *ref*."""
    docker = ref.docker_reference()
    if isinstance(docker, Reference):
        return docker.path, docker.tag_or_latest
    return "", "latest"
