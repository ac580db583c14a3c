"""Assertions about images that say what differed, not just that something did.

Both read images through the transports, so they work on the fake, a real registry or a
local layout alike; blobs are streamed to check they are there and match their digests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, cast

from harness.model.compression import decompress
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest, DigestingReader
from harness.model.manifest import Manifest, manifest_digest, parse_manifest
from harness.pytest_plugin.locations import Locatable, locate
from harness.pytest_plugin.registries import RegistryUnderTest
from harness.transports.types import BlobInfo, ImageReference, ImageSource
from harness.util.errors import HarnessError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FoundImage:
    """What an assertion read: raw manifest, its type and digest, the parsed form, and
    (when asked for) each layer's uncompressed digest."""

    location: str
    raw: bytes
    media_type: str
    digest: Digest
    manifest: Manifest
    diff_ids: tuple[Digest, ...] = ()

    @property
    def layers(self) -> list[Descriptor]:
        return self.manifest.layers

    @property
    def config_digest(self) -> Digest | None:
        config = self.manifest.config
        return config.digest if config is not None else None


def _read(image: Locatable, diff_ids: bool = False) -> FoundImage:
    """Read the manifest and stream every blob, verifying its digest (and decompressing
    layers to hash their content when *diff_ids* is asked for)."""
    location = str(image.reference)
    try:
        with image.reference.new_image_source(image.ctx) as source:
            raw, media_type = source.get_manifest()
            manifest = parse_manifest(raw, media_type)
            layer_digests = {layer.digest for layer in manifest.layers}
            contents = {blob.digest: _read_blob(source, blob, location,
                                                diff_ids and blob.digest in layer_digests)
                        for blob in manifest.referenced_blobs()}
    except HarnessError as error:
        raise AssertionError(f"{location}: cannot read the image: {error}") from None
    found_diff_ids = tuple(d for d in (contents[layer.digest] for layer in manifest.layers)
                           if d is not None)
    return FoundImage(location, raw, media_type, manifest_digest(raw), manifest,
                      found_diff_ids)


def _read_blob(source: ImageSource, blob: Descriptor, location: str,
               uncompressed: bool) -> Digest | None:
    stream, _ = source.get_blob(BlobInfo(blob.digest, blob.size))
    with stream:
        reader = DigestingReader(stream, expected=blob.digest)
        content = DigestingReader(decompress(cast(BinaryIO, reader))) if uncompressed else reader
        while content.read(_CHUNK):
            pass
        while reader.read(_CHUNK):  # what a decompressor left unread still counts
            pass
    reader.verify()
    if blob.size >= 0 and reader.size != blob.size:
        raise AssertionError(f"{location}: blob {blob.digest} has {reader.size} bytes, "
                             f"the manifest says {blob.size}")
    return content.digest() if uncompressed else None


def _layer_problems(found: Sequence[Descriptor],
                    expected: int | Sequence[Digest | str | Descriptor]) -> list[str]:
    if isinstance(expected, int):
        if len(found) != expected:
            return [f"{len(found)} layers, expected {expected}"]
        return []
    wanted = [Digest.parse(str(getattr(e, "digest", e))) for e in expected]
    got = [d.digest for d in found]
    if got == wanted:
        return []
    problems = [] if len(got) == len(wanted) else [f"{len(got)} layers, expected {len(wanted)}"]
    for index, (have, want) in enumerate(zip(got, wanted, strict=False)):
        if have != want:
            problems.append(f"layer {index} is {have}, expected {want}")
    problems += [f"unexpected layer {i}: {d}" for i, d in enumerate(got[len(wanted):],
                                                                  len(wanted))]
    problems += [f"missing layer {i}: {d}" for i, d in enumerate(wanted[len(got):], len(got))]
    return problems


def assert_pushed(registry: RegistryUnderTest, name: str, *, manifest_type: str | None = None,
                  layers: int | Sequence[Digest | str | Descriptor] | None = None,
                  digest: Digest | str | None = None) -> FoundImage:
    """Assert *name* (``app:v1``) is on *registry* with all its blobs, and optionally of
    *manifest_type*, with *layers* (a count or the blob digests in order), as *digest*."""
    found = _read(registry.at(name))
    problems = []
    if manifest_type is not None and found.media_type != manifest_type:
        problems.append(f"manifest type is {found.media_type}, expected {manifest_type}")
    if digest is not None and str(found.digest) != str(digest):
        problems.append(f"manifest digest is {found.digest}, expected {digest}")
    if layers is not None:
        problems += _layer_problems(found.layers, layers)
    if problems:
        raise AssertionError(f"{found.location}: " + "; ".join(problems))
    return found


def assert_same_image(a: Locatable | ImageReference | str, b: Locatable | ImageReference | str,
                      *, same_manifest: bool = False) -> tuple[FoundImage, FoundImage]:
    """Assert *a* and *b* hold the same image: the same layer contents in order (compared
    uncompressed, so a recompressed copy is the same image) and, when both have one, the
    same config; with *same_manifest*, byte-identical manifests too. All blobs must be
    present and match their digests."""
    first, second = _read(locate(a), diff_ids=True), _read(locate(b), diff_ids=True)
    problems = []
    if same_manifest and first.raw != second.raw:
        problems.append(f"manifests differ: {first.media_type} {first.digest} vs "
                        f"{second.media_type} {second.digest}")
    if None not in (first.config_digest, second.config_digest) \
            and first.config_digest != second.config_digest:
        problems.append(f"config {first.config_digest} vs {second.config_digest}")
    if len(first.diff_ids) != len(second.diff_ids):
        problems.append(f"{len(first.diff_ids)} layers vs {len(second.diff_ids)}")
    problems += [f"layer {index} content {x} vs {y}" for index, (x, y)
                 in enumerate(zip(first.diff_ids, second.diff_ids, strict=False)) if x != y]
    if problems:
        raise AssertionError(f"{first.location} and {second.location} differ: "
                             + "; ".join(problems))
    return first, second
