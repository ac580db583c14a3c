"""The manifest protocol the copy engine uses: blobs listed, and the manifest updated
for a destination (edits, renaming, conversions behind one method)."""

from __future__ import annotations

import json

import pytest

from harness.model import mediatype
from harness.model.convert import EMPTY_LAYER, convert_manifest
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.image import ImageManifest, IndexManifest, ManifestUpdates
from harness.model.manifest import OCIIndex, Schema1Manifest, manifest_digest, parse_manifest
from harness.model.reference import Reference
from harness.util.errors import HarnessError
from tests._support.manifest_samples import (
    CONFIG,
    LAYERS,
    MANIFEST,
    OCI,
    S1,
    V2S2,
    digest,
    layer,
    oci_image,
    schema1_of,
)

DEST = Reference.parse("registry.example/other/app:v2")


def test_an_unchanged_manifest_is_written_byte_for_byte() -> None:
    spaced = json.dumps(json.loads(MANIFEST), indent=3).encode()  # not canonical on purpose
    image = ImageManifest.parse(spaced, OCI)
    updated = image.with_updates(ManifestUpdates(media_type=OCI, layers=list(LAYERS),
                                                 destination=DEST, config=CONFIG))
    assert updated.manifest == spaced
    assert updated.media_type == OCI
    assert updated.config == (image.config, CONFIG)
    assert updated.extra_blobs == ()


def test_a_copied_layer_replaces_only_its_own_entries() -> None:
    image = ImageManifest.parse(MANIFEST, OCI)
    zstd = Descriptor(mediatype.OCI_LAYER_ZSTD, digest(7), 77)
    resized = Descriptor(LAYERS[0].media_type, LAYERS[0].digest, 999)  # same blob: kept
    updated = image.with_updates(ManifestUpdates(layers=[resized, zstd]))
    written = parse_manifest(updated.manifest, updated.media_type)
    assert written.layers == [LAYERS[0], zstd]


def test_schema1_takes_the_destination_name_and_other_types_do_not_record_one() -> None:
    manifest, data = schema1_of()
    image = ImageManifest.parse(data, S1)
    renamed = parse_manifest(image.with_updates(ManifestUpdates(destination=DEST)).manifest)
    assert isinstance(renamed, Schema1Manifest)
    assert (renamed.name, renamed.tag) == ("other/app", "v2")
    assert renamed.fs_layers == manifest.fs_layers
    assert image.with_updates(ManifestUpdates()).manifest == data  # nowhere: unchanged


def test_conversion_returns_the_new_config_and_the_blobs_to_upload_first() -> None:
    image = ImageManifest.parse(MANIFEST, OCI)
    to_v2s2 = image.with_updates(ManifestUpdates(media_type=V2S2, config=CONFIG))
    assert to_v2s2.media_type == V2S2
    assert to_v2s2.manifest == convert_manifest(MANIFEST, OCI, V2S2).manifest
    assert to_v2s2.config is not None
    assert to_v2s2.config[1] == CONFIG  # OCI -> v2s2 reuses the config blob
    to_s1 = image.with_updates(ManifestUpdates(media_type=S1, destination=DEST, config=CONFIG))
    assert (to_s1.config, to_s1.extra_blobs) == (None, ((EMPTY_LAYER, to_s1.extra_blobs[0][1]),))
    written = parse_manifest(to_s1.manifest)
    assert isinstance(written, Schema1Manifest) and written.name == "other/app"


def test_schema1_source_needs_diff_ids_to_convert_and_gets_a_config() -> None:
    _, data = schema1_of()
    image = ImageManifest.parse(data, S1)
    assert image.needs_diff_ids(V2S2) and image.needs_diff_ids(OCI)
    assert not image.needs_diff_ids(S1)
    assert image.config is None
    layers = [Descriptor(mediatype.DOCKER_LAYER_GZIP, d.digest, 10) for d in image.layers]
    diff_ids: list[Digest | None] = [Digest.from_bytes(bytes([i])) for i in range(len(layers))]
    updated = image.with_updates(ManifestUpdates(media_type=V2S2, layers=layers,
                                                 diff_ids=diff_ids))
    assert updated.config is not None
    assert json.loads(updated.config[1])["rootfs"]["diff_ids"] == [
        str(diff_ids[0]), str(diff_ids[2])]  # the throwaway entry's blob is no layer


def test_layers_to_recompress_are_those_the_target_cannot_describe() -> None:
    zstd = layer(3, mediatype.OCI_LAYER_ZSTD)
    image = ImageManifest.parse(oci_image([LAYERS[0], zstd], CONFIG), OCI)
    assert image.layers_to_recompress(V2S2) == frozenset({zstd.digest})
    assert image.layers_to_recompress(OCI) == frozenset()
    assert not image.needs_diff_ids(V2S2)


def test_an_artifact_layer_is_no_compression_matter_its_conversion_fails_instead() -> None:
    odd = Descriptor("application/x.thing", digest(8), 3)
    image = ImageManifest.parse(oci_image([odd], CONFIG), OCI)
    assert image.layers_to_recompress(V2S2) == frozenset()
    with pytest.raises(HarnessError, match="not a layer type that can be converted"):
        image.with_updates(ManifestUpdates(media_type=V2S2, config=CONFIG))


def test_index_lists_its_images_and_is_rebuilt_naming_them_as_copied() -> None:
    entry = Descriptor(OCI, manifest_digest(MANIFEST), len(MANIFEST))
    raw = OCIIndex([entry]).to_bytes()
    index = IndexManifest.parse(raw, mediatype.OCI_INDEX)
    assert index.instances == [entry]
    assert index.platform_instance() == entry.digest
    assert index.with_updates([entry], mediatype.OCI_INDEX) == raw
    moved = Descriptor(V2S2, digest(9), 5)
    rebuilt = parse_manifest(index.with_updates([moved], mediatype.OCI_INDEX))
    assert rebuilt.manifests == [moved]
    with pytest.raises(HarnessError, match="is not an index"):
        IndexManifest.parse(MANIFEST, OCI)
