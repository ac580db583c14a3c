"""The copy plan: which manifest types a copy tries, in order (containers/image's rules),
and how each layer travels for each."""

from __future__ import annotations

import json
from typing import BinaryIO

import pytest

from harness.copy.plan import manifest_candidates, plan_image, written_compression
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
                      compression=None, frozen=False)
    assert [t.media_type for t in plan.targets] == manifest_candidates(mt.OCI_MANIFEST, ALL)
    oci, v2s2 = plan.targets[:2]
    assert (oci.oci, oci.diff_ids, dict(oci.compression)) == (
        True, False, {GZ.digest: None, ZS.digest: None})  # kept as they are
    assert (v2s2.oci, dict(v2s2.compression)) == (
        False, {GZ.digest: None, ZS.digest: Algorithm.GZIP})  # zstd: Docker cannot say it


PLAIN = Descriptor(mt.OCI_LAYER, Digest.from_bytes(b"tar"), 3)
OTHER = Descriptor("application/vnd.example.data", Digest.from_bytes(b"data"), 4)
C, D, P = LayerCompression.COMPRESS, LayerCompression.DECOMPRESS, LayerCompression.PRESERVE
N, G, Z = Algorithm.NONE, Algorithm.GZIP, Algorithm.ZSTD


# containers/image 5.23's copy/compression.go: a destination that compresses gets an
# uncompressed layer compressed (the asked algorithm, else gzip) and a compressed one
# recompressed only to another asked algorithm; one that decompresses gets layers
# uncompressed; any other keeps each as it is.
@pytest.mark.parametrize(("served", "wanted", "asked", "expected"), [
    (N, C, None, G), (N, C, G, G), (N, C, Z, Z), (N, C, N, N),
    (G, C, None, G), (G, C, G, G), (G, C, Z, Z), (G, C, N, N), (Z, C, None, Z), (Z, C, G, G),
    (G, D, None, N), (G, D, Z, N), (Z, D, G, N), (N, D, Z, N),
    (N, P, G, N), (G, P, Z, G), (Z, P, N, Z), (N, P, None, N),
])
def test_written_compression_follows_the_destination(
        served: Algorithm, wanted: LayerCompression, asked: Algorithm | None,
        expected: Algorithm) -> None:
    assert written_compression(served, wanted, asked) is expected


def test_plan_follows_what_the_destination_wants() -> None:
    wants_plain = _Destination([], LayerCompression.DECOMPRESS)
    plan = plan_image(_image(GZ), wants_plain, forced_type=None, compression=Algorithm.ZSTD,
                      frozen=False)
    assert dict(plan.targets[0].compression) == {GZ.digest: Algorithm.NONE}
    keeps = _Destination([], LayerCompression.PRESERVE)
    plan = plan_image(_image(GZ, PLAIN, OTHER), keeps, forced_type=None,
                      compression=Algorithm.ZSTD, frozen=False)
    assert dict(plan.targets[0].compression) == dict.fromkeys(
        [GZ.digest, PLAIN.digest, OTHER.digest])
    compresses = _Destination([], LayerCompression.COMPRESS)
    plan = plan_image(_image(GZ, PLAIN, OTHER), compresses, forced_type=None,
                      compression=Algorithm.ZSTD, frozen=False)
    # A blob that is no known layer is never changed (CanChangeLayerCompression).
    assert dict(plan.targets[0].compression) == {
        GZ.digest: Algorithm.ZSTD, PLAIN.digest: Algorithm.ZSTD, OTHER.digest: None}


def test_a_store_is_planned_as_serving_uncompressed_layers() -> None:
    """As containers/storage serves them: a stored gzip blob is decompressed where the
    destination keeps or decompresses layers, copied as it is where it gets gzip."""
    for wanted, expected in ((LayerCompression.PRESERVE, Algorithm.NONE),
                             (LayerCompression.DECOMPRESS, Algorithm.NONE),
                             (LayerCompression.COMPRESS, None)):
        plan = plan_image(_image(GZ), _Destination([], wanted), forced_type=None,
                          compression=None, frozen=False, served_uncompressed=True)
        assert dict(plan.targets[0].compression) == {GZ.digest: expected}, wanted


def test_plan_of_a_signed_image_changes_nothing() -> None:
    plan = plan_image(_image(GZ), _Destination(ALL), forced_type=mt.DOCKER_V2S2_MANIFEST,
                      compression=Algorithm.ZSTD, frozen=True)
    assert [(t.media_type, dict(t.compression)) for t in plan.targets] == [
        (mt.OCI_MANIFEST, {GZ.digest: None})]


def test_plan_refuses_zstd_for_a_docker_type_before_anything_moves() -> None:
    with pytest.raises(HarnessError, match="zstd"):
        plan_image(_image(GZ), _Destination([], LayerCompression.COMPRESS),
                   forced_type=mt.DOCKER_V2S2_MANIFEST, compression=Algorithm.ZSTD,
                   frozen=False)
    # Where the layers are kept as they are, zstd is never used: nothing to refuse.
    plan = plan_image(_image(GZ), _Destination([]), forced_type=mt.DOCKER_V2S2_MANIFEST,
                      compression=Algorithm.ZSTD, frozen=False)
    assert [(t.media_type, dict(t.compression)) for t in plan.targets] == [
        (mt.DOCKER_V2S2_MANIFEST, {GZ.digest: None})]


def test_plan_from_schema1_learns_diff_ids_for_every_other_type() -> None:
    history = json.dumps({"id": "a" * 64})
    schema1 = Schema1Manifest("lib/app", "v1", "amd64", [GZ.digest], [history], signed=False)
    image = ImageManifest.parse(schema1.to_bytes(), mt.DOCKER_V2S1_MANIFEST)
    plan = plan_image(image, _Destination(ALL), forced_type=None, compression=None,
                      frozen=False)
    by_type = {t.media_type: t for t in plan.targets}
    assert not by_type[mt.DOCKER_V2S1_MANIFEST].diff_ids
    assert dict(by_type[mt.DOCKER_V2S1_MANIFEST].compression) == {GZ.digest: None}
    assert by_type[mt.DOCKER_V2S2_MANIFEST].diff_ids
    # Learnt on the way; the blob is kept as it is, as containers/image keeps it.
    assert dict(by_type[mt.DOCKER_V2S2_MANIFEST].compression) == {GZ.digest: None}
