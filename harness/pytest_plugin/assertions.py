"""Assertions about images that say what differed, not just that something did.

Both read images through the transports, so they work on the fake, a real registry or a
local layout alike; blobs are streamed to check they are there and match their digests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
    """What an assertion read: raw manifest, its type and digest, and the parsed form."""

    location: str
    raw: bytes
    media_type: str
    digest: Digest
    manifest: Manifest

    @property
    def layers(self) -> list[Descriptor]:
        return self.manifest.layers

    @property
    def config_digest(self) -> Digest | None:
        config = self.manifest.config
        return config.digest if config is not None else None


def _read(image: Locatable, check_blobs: bool) -> FoundImage:
    location = str(image.reference)
    try:
        with image.reference.new_image_source(image.ctx) as source:
            raw, media_type = source.get_manifest()
            manifest = parse_manifest(raw, media_type)
            if check_blobs:
                for blob in manifest.referenced_blobs():
                    _check_blob(source, blob, location)
    except HarnessError as error:
        raise AssertionError(f"{location}: cannot read the image: {error}") from None
    return FoundImage(location, raw, media_type, manifest_digest(raw), manifest)


def _check_blob(source: ImageSource, blob: Descriptor, location: str) -> None:
    stream, _ = source.get_blob(BlobInfo(blob.digest, blob.size))
    with stream:
        reader = DigestingReader(stream, expected=blob.digest)
        while reader.read(_CHUNK):
            pass
    if reader.verify() and blob.size >= 0 and reader.size != blob.size:
        raise AssertionError(f"{location}: blob {blob.digest} has {reader.size} bytes, "
                             f"the manifest says {blob.size}")


def _layer_problems(found: Sequence[Descriptor],
                    expected: int | Sequence[Digest | str | Descriptor]) -> list[str]:
    if isinstance(expected, int):
        if len(found) != expected:
            return [f"{len(found)} layers, expected {expected}"]
        return []
    wanted = [e.digest if isinstance(e, Descriptor) else Digest.parse(str(e)) for e in expected]
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
    found = _read(registry.at(name), check_blobs=True)
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
    """Assert *a* and *b* are the same image: same config and layer blobs (in order), all
    present; with *same_manifest*, byte-identical manifests too. Schema1 images have no
    config, so only their layers are compared."""
    first, second = _read(locate(a), True), _read(locate(b), True)
    problems = []
    if same_manifest and first.raw != second.raw:
        problems.append(f"manifests differ: {first.media_type} {first.digest} vs "
                        f"{second.media_type} {second.digest}")
    if None not in (first.config_digest, second.config_digest) \
            and first.config_digest != second.config_digest:
        problems.append(f"config {first.config_digest} vs {second.config_digest}")
    problems += _layer_problems(second.layers, first.layers)
    if problems:
        raise AssertionError(f"{first.location} and {second.location} differ: "
                             + "; ".join(problems))
    return first, second
