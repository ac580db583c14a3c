"""An image's manifest as a copy sees it: the blobs it lists, and itself updated for a
destination (containers/image's ``genericManifest`` and ``UpdatedImage``).

The copy engine knows no manifest format. It reads an :class:`ImageManifest` and asks it

- ``layers`` and ``config``: the blobs to copy;
- ``needs_diff_ids(target)`` and ``layers_to_recompress(target)``: what writing it as
  *target* needs from the layer copy (schema1 records no diffIDs; Docker formats cannot
  describe zstd layers);
- ``with_updates(ManifestUpdates(...))``: the manifest to write, with the layers as copied,
  the destination's name where the format records one, converted when another type is
  asked, and the blobs that must be uploaded before it (config, schema1's empty layer).

An unchanged manifest is written as it was read, byte for byte, so its digest holds; the
conversions (:mod:`harness.model.convert`) are imported only by a copy that converts. An
index is an :class:`IndexManifest`: the images it lists, and the same index naming them
as copied, in its own type or the other one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from harness.model import mediatype
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.indexconvert import rebuild_index
from harness.model.layertypes import layers_needing_recompression
from harness.model.manifest import (
    DockerManifest,
    DockerManifestList,
    Manifest,
    OCIIndex,
    OCIManifest,
    Schema1Manifest,
    parse_manifest,
    platform_instance,
)
from harness.model.platforms import PlatformChoice
from harness.model.reference import Reference
from harness.util.errors import HarnessError


@dataclass(frozen=True)
class ManifestUpdates:
    """What a copy changes in a manifest (containers/image's ``ManifestUpdateOptions``).

    ``layers`` are the source's layers as copied, one per entry of ``layers`` (new digest,
    size, media type where the copy recompressed); ``diff_ids`` their uncompressed
    digests where the copy learnt them. ``config`` is the source's config blob as read:
    information a conversion re-encodes, not a change.
    """

    media_type: str | None = None  # None keeps the manifest's own type
    layers: Sequence[Descriptor] | None = None
    diff_ids: Sequence[Digest | None] | None = None
    destination: Reference | None = None  # recorded by formats that embed a name
    config: bytes | None = None


@dataclass(frozen=True)
class UpdatedManifest:
    """The manifest to write and the blobs to upload before it (extra blobs, then config)."""

    manifest: bytes
    media_type: str
    config: tuple[Descriptor, bytes] | None = None
    extra_blobs: tuple[tuple[Descriptor, bytes], ...] = ()


@dataclass(frozen=True)
class ImageManifest:
    """One image's manifest as read: the raw bytes (kept for an unchanged copy) and parsed."""

    raw: bytes
    media_type: str
    parsed: Manifest

    @classmethod
    def parse(cls, raw: bytes, media_type: str) -> ImageManifest:
        return cls(raw, media_type, parse_manifest(raw, media_type))

    @property
    def config(self) -> Descriptor | None:
        """The config blob, for formats that have one."""
        return self.parsed.config

    @property
    def layers(self) -> list[Descriptor]:
        """The layer blobs, oldest first, repeats included."""
        return self.parsed.layers

    def needs_diff_ids(self, target: str) -> bool:
        """Whether writing this image as *target* needs the layers' uncompressed digests,
        which schema1 does not record: the layer copy must learn them."""
        return self.media_type in mediatype.SCHEMA1 and target not in mediatype.SCHEMA1

    def layers_to_recompress(self, target: str) -> frozenset[Digest]:
        """The layers whose compression *target* cannot describe (zstd in Docker formats)."""
        indexes = layers_needing_recompression(self.raw, self.media_type, target)
        return frozenset(self.layers[i].digest for i in indexes)

    def with_updates(self, updates: ManifestUpdates) -> UpdatedManifest:
        """This manifest with *updates* applied, converted if they ask for another type."""
        target = updates.media_type or self.media_type
        if target == self.media_type:
            return self._edited(updates)
        return self._converted(target, updates)

    def _edited(self, updates: ManifestUpdates) -> UpdatedManifest:
        """The same type: changed layers swapped in, schema1 renamed for its destination."""
        changed: dict[Digest, Descriptor] = {}
        for old, new in zip(self.layers, updates.layers or self.layers, strict=True):
            if old.digest not in changed and (new.digest, new.media_type) != (
                    old.digest, old.media_type):
                changed[old.digest] = new
        renamed = _schema1_renamed(self.parsed, updates.destination)
        if renamed is not None:
            out = _with_layers(renamed, changed).to_bytes()
        else:
            out = _with_layers(self.parsed, changed).to_bytes() if changed else self.raw
        config = None
        if self.config is not None and updates.config is not None:
            config = (self.config, updates.config)
        return UpdatedManifest(out, self.media_type, config)

    def _converted(self, target: str, updates: ManifestUpdates) -> UpdatedManifest:
        from harness.model.convert import convert_manifest  # noqa: PLC0415  (converting only)

        name, tag = _schema1_name(updates.destination)
        diff_ids = [d for d in updates.diff_ids or () if d is not None] or None
        conversion = convert_manifest(
            self.raw, self.media_type, target, config=updates.config, name=name, tag=tag,
            layers=list(updates.layers) if updates.layers is not None else None,
            diff_ids=diff_ids)
        descriptor = parse_manifest(conversion.manifest, conversion.media_type).config
        blob = conversion.config or updates.config
        config = (descriptor, blob) if descriptor is not None and blob is not None else None
        return UpdatedManifest(conversion.manifest, conversion.media_type, config,
                               conversion.extra_blobs)


@dataclass(frozen=True)
class IndexManifest:
    """An index as read: the images it lists, and itself rebuilt naming them as copied."""

    raw: bytes
    media_type: str
    parsed: OCIIndex | DockerManifestList

    @classmethod
    def parse(cls, raw: bytes, media_type: str) -> IndexManifest:
        parsed = parse_manifest(raw, media_type)
        if not isinstance(parsed, OCIIndex | DockerManifestList):
            raise HarnessError(f"{media_type} is not an index")
        return cls(raw, media_type, parsed)

    @property
    def instances(self) -> list[Descriptor]:
        return self.parsed.manifests

    def platform_instance(self, choice: PlatformChoice | None = None) -> Digest:
        """The image for *choice*, this machine by default (see
        :func:`~harness.model.manifest.platform_instance`)."""
        return platform_instance(self.parsed, choice)

    def with_updates(self, instances: Sequence[Descriptor], media_type: str) -> bytes:
        """The index naming *instances* instead of its own entries, as *media_type*."""
        return rebuild_index(self.raw, self.parsed, instances, media_type)


def _with_layers(manifest: Manifest, layers: dict[Digest, Descriptor]) -> Manifest:
    """*manifest* with each layer replaced by what it became at the destination."""
    if isinstance(manifest, OCIManifest | DockerManifest):
        return replace(manifest, layers=[layers.get(d.digest, d) for d in manifest.layers])
    if isinstance(manifest, Schema1Manifest):
        return replace(manifest, fs_layers=[layers[d].digest if d in layers else d
                                            for d in manifest.fs_layers])
    raise HarnessError(f"cannot copy layers of a {manifest.media_type}")


def _schema1_renamed(manifest: Manifest, destination: Reference | None
                     ) -> Schema1Manifest | None:
    """A schema1 manifest names its repository and tag: copied elsewhere, it takes the
    destination's (and a new signature), as containers/image does; None if unchanged."""
    if not isinstance(manifest, Schema1Manifest) or destination is None:
        return None
    name, tag = _schema1_name(destination)
    if (manifest.name, manifest.tag) == (name, tag):
        return None
    return replace(manifest, name=name, tag=tag)


def _schema1_name(destination: Reference | None) -> tuple[str, str]:
    """The repository path and tag a schema1 manifest records for *destination*."""
    if destination is not None:
        return destination.path, destination.tag_or_latest
    return "", "latest"
