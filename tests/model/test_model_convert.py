"""Each conversion rule of reference.md, one test per rule."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from harness.model import gojson, mediatype, schema1
from harness.model.compression import CompressionError
from harness.model.config import ConfigError, DockerConfig, OCIConfig
from harness.model.convert import (
    EMPTY_LAYER,
    convert_manifest,
    v1_id,
)
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.layertypes import layers_needing_recompression
from harness.model.manifest import (
    DockerManifest,
    ManifestError,
    OCIManifest,
    Schema1Manifest,
    manifest_digest,
    parse_manifest,
)
from tests._support.manifest_samples import (
    CONFIG,
    HISTORY,
    LAYERS,
    MANIFEST,
    OCI,
    S1,
    V2S2,
    config_bytes,
    digest,
    layer,
    oci_image,
    schema1_of,
)


def test_oci_to_v2s2_changes_only_media_types() -> None:
    layers = [layer(1), layer(2, mediatype.OCI_LAYER),
              layer(3, mediatype.OCI_LAYER_NONDISTRIBUTABLE_GZIP)]
    out = convert_manifest(oci_image(layers, CONFIG), OCI, V2S2)
    manifest = parse_manifest(out.manifest, out.media_type)
    assert isinstance(manifest, DockerManifest)
    assert out.config is None
    assert manifest.config.digest == Digest.from_bytes(CONFIG)
    assert manifest.config.media_type == mediatype.DOCKER_CONFIG
    assert [(d.digest, d.size) for d in manifest.layers] == [(d.digest, d.size) for d in layers]
    assert [d.media_type for d in manifest.layers] == [
        mediatype.DOCKER_LAYER_GZIP, mediatype.DOCKER_LAYER, mediatype.DOCKER_FOREIGN_LAYER_GZIP]


def test_zstd_layers_need_recompression_for_docker_formats() -> None:
    source = oci_image([layer(1), layer(2, mediatype.OCI_LAYER_ZSTD)], CONFIG)
    assert layers_needing_recompression(source, OCI, V2S2) == [1]
    assert layers_needing_recompression(source, OCI, S1) == [1]
    assert layers_needing_recompression(source, OCI, OCI) == []
    with pytest.raises(CompressionError, match=f"layer 1 \\({digest(2)}\\) must be recompressed"):
        convert_manifest(source, OCI, V2S2)
    recompressed = [layer(1), layer(7)]  # what the copy engine wrote instead
    out = convert_manifest(source, OCI, V2S2, layers=recompressed)
    assert [d.digest for d in parse_manifest(out.manifest).layers] == [digest(1), digest(7)]


def test_oci_artifacts_do_not_convert() -> None:
    artifact = OCIManifest(config=Descriptor("application/x.thing", digest(5), 2)).to_bytes()
    with pytest.raises(ManifestError, match="cannot convert an OCI artifact"):
        convert_manifest(artifact, OCI, V2S2)


def test_v2s2_to_oci_re_encodes_the_config() -> None:
    docker_config = gojson.dumps({
        **json.loads(CONFIG), "docker_version": "20.10", "container": "abc",
        "container_config": {"Cmd": ["x"]}, "config": {"Cmd": ["sh"], "Hostname": "h"}})
    source = convert_manifest(oci_image(LAYERS, docker_config), OCI, V2S2).manifest
    out = convert_manifest(source, V2S2, OCI, config=docker_config)
    assert out.config is not None
    manifest = parse_manifest(out.manifest)
    assert isinstance(manifest, OCIManifest)
    assert manifest.config.digest == Digest.from_bytes(out.config)
    assert manifest.config.size == len(out.config)
    assert [d.digest for d in manifest.layers] == [d.digest for d in LAYERS]
    converted = json.loads(out.config)
    assert "docker_version" not in converted and "container_config" not in converted
    assert converted["config"] == {"Cmd": ["sh"]}
    with pytest.raises(ManifestError, match="needs the image config"):
        convert_manifest(source, V2S2, OCI)


def test_schema1_has_one_entry_per_history_entry_newest_first() -> None:
    manifest, data = schema1_of()
    assert (manifest.name, manifest.tag, manifest.architecture) == ("lib/app", "v1", "arm64")
    assert manifest.fs_layers == [digest(2), EMPTY_LAYER.digest, digest(1)]
    compat = [json.loads(h) for h in manifest.history]
    assert compat[1]["throwaway"] is True and "throwaway" not in compat[2]
    assert compat[1]["container_config"] == {"Cmd": ["ENV x"]}
    assert compat[1]["created"] == "2024-01-02T00:00:00.5Z"  # Go's time format
    assert compat[2]["author"] == "me"
    assert schema1.verify(data) == manifest.payload()


def test_schema1_v1_ids_chain_through_parents() -> None:
    manifest, _ = schema1_of()
    compat = [json.loads(h) for h in manifest.history]
    assert "parent" not in compat[-1]
    assert compat[-1]["id"] == hashlib.sha256(f"{digest(1).hex} ".encode()).hexdigest()
    assert compat[1]["id"] == v1_id(EMPTY_LAYER.digest, compat[2]["id"])
    assert compat[1]["parent"] == compat[2]["id"]
    assert compat[0]["parent"] == compat[1]["id"]
    assert compat[0]["id"] == v1_id(digest(2), compat[1]["id"], CONFIG.decode())


def test_schema1_top_entry_is_the_config_minus_rootfs_and_history() -> None:
    manifest, _ = schema1_of()
    top = json.loads(manifest.history[0])
    expected = {k: v for k, v in json.loads(CONFIG).items() if k not in ("rootfs", "history")}
    assert {k: v for k, v in top.items() if k not in ("id", "parent")} == expected
    assert list(top) == sorted(top)


def test_schema1_empty_layer_blob_is_uploaded_only_when_used() -> None:
    out = convert_manifest(MANIFEST, OCI, S1, config=CONFIG)
    assert out.extra_blobs == ((EMPTY_LAYER, schema1.EMPTY_LAYER_GZIP),)
    no_empty = config_bytes([HISTORY[0], HISTORY[2]], 2)
    out = convert_manifest(oci_image(LAYERS, no_empty), OCI, S1, config=no_empty)
    assert out.extra_blobs == ()


def test_schema1_digest_is_independent_of_the_signature() -> None:
    _, first = schema1_of()
    _, second = schema1_of()
    assert first != second
    assert manifest_digest(first) == manifest_digest(second)


@pytest.mark.parametrize(
    ("history", "rule"),
    [([], "0 history entries"), (HISTORY[:1], "1 non-empty entries but the manifest has 2")],
)
def test_schema1_needs_history_matching_the_layers(history: list[dict[str, Any]],
                                                   rule: str) -> None:
    config = config_bytes(history, 2)
    with pytest.raises(ConfigError, match=rule):
        convert_manifest(oci_image(LAYERS, config), OCI, S1, config=config)


def copied_layers(manifest: Schema1Manifest) -> tuple[list[Descriptor], list[Digest]]:
    layers = [Descriptor(mediatype.DOCKER_LAYER_GZIP, d.digest, 10 + i)
              for i, d in enumerate(manifest.layers)]
    diff_ids = [Digest.from_bytes(d.digest.hex.encode()) for d in manifest.layers]
    return layers, diff_ids


def test_schema1_to_v2s2_skips_throwaway_entries() -> None:
    manifest, data = schema1_of()
    layers, diff_ids = copied_layers(manifest)
    out = convert_manifest(data, S1, V2S2, layers=layers, diff_ids=diff_ids)
    assert out.config is not None
    converted = parse_manifest(out.manifest)
    assert isinstance(converted, DockerManifest)
    assert [d.digest for d in converted.layers] == [digest(1), digest(2)]
    assert [d.size for d in converted.layers] == [10, 12]
    assert converted.config.digest == Digest.from_bytes(out.config)
    config = DockerConfig.from_bytes(out.config)
    assert config.diff_ids == [diff_ids[0], diff_ids[2]]
    assert [h.empty_layer for h in config.history] == [False, True, False]
    assert config.history[0].created_by == "ADD a"
    config.check_history()
    raw = json.loads(out.config)
    assert not {"id", "parent", "throwaway"} & set(raw)


def test_schema1_to_oci_goes_through_v2s2() -> None:
    manifest, data = schema1_of()
    layers, diff_ids = copied_layers(manifest)
    out = convert_manifest(data, S1, OCI, layers=layers, diff_ids=diff_ids)
    assert out.media_type == OCI and out.config is not None
    config = OCIConfig.from_bytes(out.config)
    assert config.diff_ids == [diff_ids[0], diff_ids[2]]
    assert [d.media_type for d in parse_manifest(out.manifest).layers] == [
        mediatype.OCI_LAYER_GZIP] * 2


def test_schema1_source_needs_layers_and_diff_ids() -> None:
    manifest, data = schema1_of()
    with pytest.raises(ManifestError, match="needs the copied layers"):
        convert_manifest(data, S1, V2S2)
    layers, diff_ids = copied_layers(manifest)
    with pytest.raises(ManifestError, match="has 3 fsLayers but 2 layers"):
        convert_manifest(data, S1, V2S2, layers=layers[:2], diff_ids=diff_ids)


def test_same_type_is_returned_unchanged_and_unknown_targets_fail() -> None:
    assert convert_manifest(MANIFEST, OCI, OCI).manifest == MANIFEST
    with pytest.raises(ManifestError, match="not an image manifest type"):
        convert_manifest(MANIFEST, OCI, mediatype.OCI_INDEX)
    index = b'{"schemaVersion":2,"mediaType":"%s","manifests":[]}' % OCI_INDEX_BYTES
    with pytest.raises(ManifestError, match="only image manifests convert"):
        convert_manifest(index, mediatype.OCI_INDEX, V2S2)


OCI_INDEX_BYTES = mediatype.OCI_INDEX.encode()


def test_schema1_repeated_ids_collapse_like_containers_image() -> None:
    manifest, data = schema1_of()
    layers, diff_ids = copied_layers(manifest)
    expected = convert_manifest(data, S1, V2S2, layers=layers, diff_ids=diff_ids)
    older = manifest.history[1:]
    repeated = Schema1Manifest(manifest.name, manifest.tag, manifest.architecture,
                               manifest.fs_layers[1:] * 2, older * 2, signed=False)
    with pytest.raises(ManifestError, match="appears more than once"):
        convert_manifest(repeated.to_bytes(), repeated.media_type, V2S2,
                         layers=layers[:2] * 2, diff_ids=diff_ids[:2] * 2)
    doubled = Schema1Manifest(manifest.name, manifest.tag, manifest.architecture,
                              [manifest.fs_layers[0], *manifest.fs_layers],
                              [manifest.history[0], *manifest.history], signed=False)
    out = convert_manifest(doubled.to_bytes(), doubled.media_type, V2S2,
                           layers=[*layers, layers[-1]], diff_ids=[*diff_ids, diff_ids[-1]])
    assert (out.manifest, out.config) == (expected.manifest, expected.config)


@pytest.mark.parametrize(
    ("index", "parent", "rule"),
    [(1, "f" * 64, r"history\[1\] has parent"), (2, "f" * 64, "base layer has a parent")],
)
def test_schema1_parent_chain_is_checked(index: int, parent: str, rule: str) -> None:
    manifest, _ = schema1_of()
    compat = json.loads(manifest.history[index])
    manifest.history[index] = json.dumps({**compat, "parent": parent})
    manifest.signed = False
    layers, diff_ids = copied_layers(manifest)
    with pytest.raises(ManifestError, match=rule):
        convert_manifest(manifest.to_bytes(), manifest.media_type, V2S2, layers=layers,
                         diff_ids=diff_ids)
