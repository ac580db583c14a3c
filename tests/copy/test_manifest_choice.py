"""The copy plan: which manifest types a copy tries, in order (containers/image's rules),
and how each layer travels for each."""

from __future__ import annotations

import json
from typing import BinaryIO

import pytest

from harness.copy.plan import manifest_candidates, plan_image
from harness.model import mediatype as mt
from harness.model.compression import Algorithm
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.image import ImageManifest
from harness.model.manifest import OCIManifest, Schema1Manifest
from harness.transports.types import BlobInfo, ImageDestination, ImageReference, LayerCompression
from harness.util.errors import HarnessError

ALL = [mt.OCI_MANIFEST, mt.DOCKER_V2S2_MANIFEST, mt.DOCKER_V2S1_SIGNED_MANIFEST,
       mt.DOCKER_V2S1_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST]


def test_source_type_first_when_taken_then_v2s2_then_v2s1() -> None:
    assert manifest_candidates(mt.OCI_MANIFEST, ALL) == [
        mt.OCI_MANIFEST, mt.DOCKER_V2S2_MANIFEST, mt.DOCKER_V2S1_SIGNED_MANIFEST,
        mt.DOCKER_V2S1_MANIFEST]
    assert manifest_candidates(mt.DOCKER_V2S2_MANIFEST, ALL)[:3] == [
        mt.DOCKER_V2S2_MANIFEST, mt.DOCKER_V2S1_SIGNED_MANIFEST, mt.OCI_MANIFEST]


def test_conversion_when_the_destination_refuses_the_source_type() -> None:
    oci_only = [mt.OCI_MANIFEST, mt.OCI_INDEX]
    assert manifest_candidates(mt.DOCKER_V2S2_MANIFEST, oci_only) == [mt.OCI_MANIFEST]
    assert manifest_candidates(mt.OCI_MANIFEST, [mt.DOCKER_V2S2_MANIFEST]) == [
        mt.DOCKER_V2S2_MANIFEST]


def test_any_destination_keeps_the_source_type() -> None:
    assert manifest_candidates(mt.DOCKER_V2S1_SIGNED_MANIFEST, []) == [
        mt.DOCKER_V2S1_SIGNED_MANIFEST]


def test_forced_type_is_the_only_candidate() -> None:
    assert manifest_candidates(mt.OCI_MANIFEST, ALL, mt.DOCKER_V2S1_SIGNED_MANIFEST) == [
        mt.DOCKER_V2S1_SIGNED_MANIFEST]
    assert manifest_candidates(mt.OCI_MANIFEST, [], mt.DOCKER_V2S2_MANIFEST) == [
        mt.DOCKER_V2S2_MANIFEST]
    with pytest.raises(HarnessError, match="does not accept"):
        manifest_candidates(mt.OCI_MANIFEST, [mt.OCI_MANIFEST], mt.DOCKER_V2S2_MANIFEST)


def test_zstd_keeps_only_oci() -> None:
    assert manifest_candidates(mt.DOCKER_V2S2_MANIFEST, ALL, oci_only=True) == [mt.OCI_MANIFEST]
    assert manifest_candidates(mt.DOCKER_V2S2_MANIFEST, [], oci_only=True) == [mt.OCI_MANIFEST]
    with pytest.raises(HarnessError, match=r"no manifest type for zstd layers \(only OCI"):
        manifest_candidates(mt.DOCKER_V2S2_MANIFEST, [mt.DOCKER_V2S2_MANIFEST], oci_only=True)


class _Destination(ImageDestination):
    """Only what planning asks: the types taken and the compression wanted."""

    def __init__(self, supported: list[str],
                 compression: LayerCompression = LayerCompression.PRESERVE) -> None:
        self.supported = supported
        self.compression = compression

    @property
    def reference(self) -> ImageReference:
        raise AssertionError("planning needs no reference")

    def supported_manifest_mime_types(self) -> list[str]:
        return self.supported

    def desired_layer_compression(self) -> LayerCompression:
        return self.compression

    def put_blob(self, stream: BinaryIO, info: BlobInfo, is_config: bool) -> BlobInfo:
        raise AssertionError("planning writes nothing")

    def put_manifest(self, manifest: bytes, mime_type: str,
                     instance: Digest | None = None) -> None:
        raise AssertionError("planning writes nothing")

    def publish(self) -> None:
        raise AssertionError("planning writes nothing")


GZ = Descriptor(mt.OCI_LAYER_GZIP, Digest.from_bytes(b"gz"), 2)
ZS = Descriptor(mt.OCI_LAYER_ZSTD, Digest.from_bytes(b"zs"), 2)
CONFIG = Descriptor(mt.OCI_CONFIG, Digest.from_bytes(b"{}"), 2)


def _image(*layers: Descriptor) -> ImageManifest:
    return ImageManifest.parse(OCIManifest(CONFIG, list(layers)).to_bytes(), mt.OCI_MANIFEST)


def test_plan_lists_every_candidate_with_how_each_layer_travels() -> None:
    plan = plan_image(_image(GZ, ZS, GZ), _Destination(ALL), forced_type=None,
                      compression=None, signed=False)
    assert [t.media_type for t in plan.targets] == manifest_candidates(mt.OCI_MANIFEST, ALL)
    oci, v2s2 = plan.targets[:2]
    assert (oci.oci, oci.diff_ids, dict(oci.compression)) == (
        True, False, {GZ.digest: None, ZS.digest: None})  # kept as they are
    assert (v2s2.oci, dict(v2s2.compression)) == (
        False, {GZ.digest: None, ZS.digest: Algorithm.GZIP})  # zstd: Docker cannot say it


def test_plan_follows_what_the_destination_wants_unless_asked() -> None:
    wants_plain = _Destination([], LayerCompression.DECOMPRESS)
    plan = plan_image(_image(GZ), wants_plain, forced_type=None, compression=None,
                      signed=False)
    assert dict(plan.targets[0].compression) == {GZ.digest: Algorithm.NONE}
    asked = plan_image(_image(GZ), wants_plain, forced_type=None, compression=Algorithm.GZIP,
                       signed=False)
    assert dict(asked.targets[0].compression) == {GZ.digest: None}  # already gzip


def test_plan_of_a_signed_image_changes_nothing() -> None:
    plan = plan_image(_image(GZ), _Destination(ALL), forced_type=mt.DOCKER_V2S2_MANIFEST,
                      compression=Algorithm.ZSTD, signed=True)
    assert [(t.media_type, dict(t.compression)) for t in plan.targets] == [
        (mt.OCI_MANIFEST, {GZ.digest: None})]


def test_plan_refuses_zstd_for_a_docker_type_before_anything_moves() -> None:
    with pytest.raises(HarnessError, match="zstd"):
        plan_image(_image(GZ), _Destination([]), forced_type=mt.DOCKER_V2S2_MANIFEST,
                   compression=Algorithm.ZSTD, signed=False)


def test_plan_from_schema1_learns_diff_ids_for_every_other_type() -> None:
    history = json.dumps({"id": "a" * 64})
    schema1 = Schema1Manifest("lib/app", "v1", "amd64", [GZ.digest], [history], signed=False)
    image = ImageManifest.parse(schema1.to_bytes(), mt.DOCKER_V2S1_MANIFEST)
    plan = plan_image(image, _Destination(ALL), forced_type=None, compression=None,
                      signed=False)
    by_type = {t.media_type: t for t in plan.targets}
    assert not by_type[mt.DOCKER_V2S1_MANIFEST].diff_ids
    assert dict(by_type[mt.DOCKER_V2S1_MANIFEST].compression) == {GZ.digest: None}
    assert by_type[mt.DOCKER_V2S2_MANIFEST].diff_ids
    # Learnt on the way; the blob is kept as it is, as containers/image keeps it.
    assert dict(by_type[mt.DOCKER_V2S2_MANIFEST].compression) == {GZ.digest: None}
