"""Manifest parsing, validation, canonical serialisation and type detection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.model import mediatype
from harness.model.descriptor import Descriptor, Platform
from harness.model.digest import Digest
from harness.model.jsonfields import FieldError
from harness.model.manifest import (
    DockerManifest,
    DockerManifestList,
    ManifestError,
    OCIIndex,
    OCIManifest,
    Schema1Manifest,
    detect_media_type,
    manifest_digest,
    parse_manifest,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64
V1 = json.dumps({"id": "4" * 64, "created": "2024-01-01T00:00:00Z"})


def oci_manifest(**extra: Any) -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": mediatype.OCI_MANIFEST,
        "config": {"mediaType": mediatype.OCI_CONFIG, "digest": D1, "size": 10},
        "layers": [{"mediaType": mediatype.OCI_LAYER_GZIP, "digest": D2, "size": 20}],
        **extra,
    }


def docker_manifest() -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": mediatype.DOCKER_V2S2_MANIFEST,
        "config": {"mediaType": mediatype.DOCKER_CONFIG, "size": 10, "digest": D1},
        "layers": [{"mediaType": mediatype.DOCKER_LAYER_GZIP, "size": 20, "digest": D2}],
    }


def schema1_manifest() -> dict[str, Any]:
    return {
        "name": "library/x", "tag": "latest", "architecture": "amd64",
        "fsLayers": [{"blobSum": D2}], "history": [{"v1Compatibility": V1}],
        "schemaVersion": 1,
    }


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def test_oci_manifest_round_trip_is_byte_exact() -> None:
    data = compact(oci_manifest(annotations={"a": "b"}))
    manifest = parse_manifest(data)
    assert isinstance(manifest, OCIManifest)
    assert manifest.config.digest == Digest.parse(D1)
    assert [layer.size for layer in manifest.layers] == [20]
    assert manifest.to_bytes() == data
    assert [d.digest for d in manifest.referenced_blobs()] == [Digest.parse(D1), Digest.parse(D2)]
    assert manifest.referenced_manifests() == []


def test_docker_manifest_uses_docker_key_order() -> None:
    data = compact(docker_manifest())
    manifest = parse_manifest(data)
    assert isinstance(manifest, DockerManifest)
    assert manifest.to_bytes() == data
    assert manifest.subject is None and manifest.manifests == []


def test_index_and_list() -> None:
    entry = {"mediaType": mediatype.OCI_MANIFEST, "digest": D3, "size": 5,
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}
    index = parse_manifest(compact({"schemaVersion": 2, "mediaType": mediatype.OCI_INDEX,
                                    "manifests": [entry]}))
    assert isinstance(index, OCIIndex)
    assert index.manifests[0].platform == Platform("arm64", "linux", variant="v8")
    assert [d.digest for d in index.referenced_manifests()] == [Digest.parse(D3)]
    assert index.referenced_blobs() == [] and index.config is None
    listing = {"schemaVersion": 2, "mediaType": mediatype.DOCKER_MANIFEST_LIST, "manifests": [
        {"mediaType": mediatype.DOCKER_V2S2_MANIFEST, "size": 5, "digest": D3,
         "platform": {"architecture": "amd64", "os": "linux"}}]}
    parsed = parse_manifest(compact(listing))
    assert isinstance(parsed, DockerManifestList)
    assert parsed.to_bytes() == compact(listing)
    del listing["manifests"][0]["platform"]  # type: ignore[index]
    with pytest.raises(ManifestError, match=r"manifests\[0\].platform is required"):
        parse_manifest(compact(listing))


def test_subject_and_artifact_type() -> None:
    subject = {"mediaType": mediatype.OCI_MANIFEST, "digest": D3, "size": 7}
    data = compact(oci_manifest(artifactType="application/x.sig", subject=subject))
    manifest = parse_manifest(data)
    assert manifest.artifact_type == "application/x.sig"
    assert manifest.subject is not None and manifest.subject.digest == Digest.parse(D3)
    # key order follows the Go struct: artifactType before config, subject after layers
    assert list(json.loads(manifest.to_bytes())) == [
        "schemaVersion", "mediaType", "artifactType", "config", "layers", "subject"]


def test_lone_surrogates_become_replacement_characters_like_go() -> None:
    data = compact(oci_manifest(annotations={"k": "a"})).replace(b'"a"}', b'"\\ud800"}')
    manifest = parse_manifest(data)
    assert manifest.to_bytes().endswith('"annotations":{"k":"\ufffd"}}'.encode())


def test_go_escaping_of_html_characters() -> None:
    manifest = parse_manifest(compact(oci_manifest(annotations={"k": "<a&b>\u2028é"})))
    assert b"\\u003ca\\u0026b\\u003e\\u2028\xc3\xa9" in manifest.to_bytes()


@pytest.mark.parametrize(
    ("mutate", "rule"),
    [
        (lambda m: m.update(schemaVersion=1), "schemaVersion must be 2"),
        (lambda m: m.pop("config"), "config is required"),
        (lambda m: m["config"].update(size=-1), "config.size must be a non-negative"),
        (lambda m: m["config"].update(size="1"), "config.size must be an integer"),
        (lambda m: m["config"].update(size=True), "config.size must be an integer"),
        (lambda m: m["layers"][0].update(digest="sha256:x"), "layers[0].digest"),
        (lambda m: m["layers"][0].update(mediaType="nope"), "RFC 6838"),
        (lambda m: m["layers"][0].pop("mediaType"), "layers[0].mediaType is required"),
        (lambda m: m.update(layers={}), "layers must be an array"),
        (lambda m: m.update(layers=[3]), "layers[0] must be an object"),
        (lambda m: m.update(annotations={"a": 1}), "annotations must map strings"),
        (lambda m: m["layers"][0].update(urls="x"), "urls must be an array"),
    ],
)
def test_invalid_oci_manifest(mutate: Any, rule: str) -> None:
    manifest = oci_manifest()
    mutate(manifest)
    with pytest.raises(ManifestError) as info:
        parse_manifest(compact(manifest), mediatype.OCI_MANIFEST)
    assert rule in str(info.value)


def test_declared_type_must_match_content() -> None:
    with pytest.raises(ManifestError, match="does not match"):
        parse_manifest(compact(oci_manifest()), mediatype.DOCKER_V2S2_MANIFEST)
    docker = docker_manifest()
    del docker["mediaType"]
    with pytest.raises(ManifestError, match="mediaType is required"):
        parse_manifest(compact(docker), mediatype.DOCKER_V2S2_MANIFEST)


@pytest.mark.parametrize("data", [b"", b"[]", b"{", b"\xff", b'{"schemaVersion":3}'])
def test_garbage_is_a_manifest_error(data: bytes) -> None:
    with pytest.raises(ManifestError):
        parse_manifest(data)


def test_detect_media_type() -> None:
    assert detect_media_type(compact(oci_manifest())) == mediatype.OCI_MANIFEST
    no_type = oci_manifest()
    del no_type["mediaType"]
    assert detect_media_type(compact(no_type)) == mediatype.OCI_MANIFEST
    docker = docker_manifest()
    del docker["mediaType"]
    assert detect_media_type(compact(docker)) == mediatype.DOCKER_V2S2_MANIFEST
    assert detect_media_type(compact({"schemaVersion": 2, "manifests": []})) == mediatype.OCI_INDEX
    assert detect_media_type(compact(schema1_manifest())) == mediatype.DOCKER_V2S1_MANIFEST
    signed = {**schema1_manifest(), "signatures": []}
    assert detect_media_type(compact(signed)) == mediatype.DOCKER_V2S1_SIGNED_MANIFEST
    with pytest.raises(ManifestError, match="unknown manifest mediaType"):
        detect_media_type(compact({"mediaType": "text/plain"}))


def test_schema1_parse_and_layers_oldest_first() -> None:
    older = json.dumps({"id": "5" * 64})
    doc = schema1_manifest()
    doc["fsLayers"] = [{"blobSum": D2}, {"blobSum": D3}, {"blobSum": D2}]
    doc["history"] = [{"v1Compatibility": V1}, {"v1Compatibility": older},
                      {"v1Compatibility": older}]
    manifest = parse_manifest(compact(doc))
    assert isinstance(manifest, Schema1Manifest)
    assert not manifest.signed
    assert manifest.media_type == mediatype.DOCKER_V2S1_MANIFEST
    assert [d.digest for d in manifest.layers] == [Digest.parse(x) for x in (D2, D3, D2)]
    assert [d.digest for d in manifest.referenced_blobs()] == [Digest.parse(D2),
                                                                Digest.parse(D3)]
    assert manifest.to_bytes() == compact(doc)


@pytest.mark.parametrize(
    ("mutate", "rule"),
    [
        (lambda m: m.update(fsLayers=[]), "at least one fsLayers"),
        (lambda m: m["history"].append({"v1Compatibility": V1}), "differ in length"),
        (lambda m: m["history"][0].update(v1Compatibility="{"), "not valid JSON"),
        (lambda m: m["history"][0].update(v1Compatibility='{"id":"x"}'), "64 lowercase hex"),
        (lambda m: m["fsLayers"][0].update(blobSum="x"), "fsLayers[0].blobSum"),
        (lambda m: m.pop("name"), "name is required"),
    ],
)
def test_invalid_schema1(mutate: Any, rule: str) -> None:
    doc = schema1_manifest()
    mutate(doc)
    with pytest.raises(ManifestError) as info:
        parse_manifest(compact(doc))
    assert rule in str(info.value)


def test_manifest_digest_of_plain_bytes() -> None:
    data = compact(oci_manifest())
    assert manifest_digest(data) == Digest.from_bytes(data)
    assert manifest_digest(data, "sha512") == Digest.from_bytes(data, "sha512")


def test_descriptor_json_round_trip() -> None:
    descriptor = Descriptor(
        mediatype.OCI_MANIFEST, Digest.parse(D1), 3, urls=("https://x",),
        annotations={"k": "v"}, platform=Platform("amd64", "linux", "10.0", ("f",), "v1"),
        artifact_type="application/x.a", data="aGk=",
    )
    assert Descriptor.from_json(descriptor.to_json()) == descriptor
    assert list(descriptor.to_json()) == ["mediaType", "digest", "size", "urls", "annotations",
                                          "data", "platform", "artifactType"]
    with pytest.raises(FieldError, match="data must be base64"):
        Descriptor.from_json({**descriptor.to_json(), "data": "not base64!"})
    assert list(descriptor.to_json(docker=True))[:3] == ["mediaType", "size", "digest"]
