"""Hypothesis properties over the model, driven by harness.strategies."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import strategies as hs
from harness.model import mediatype, schema1
from harness.model.config import DockerConfig, OCIConfig
from harness.model.convert import convert_manifest
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.manifest import (
    DockerManifest,
    Manifest,
    OCIManifest,
    Schema1Manifest,
    detect_media_type,
    manifest_digest,
    parse_manifest,
)
from harness.model.reference import Reference, ReferenceError, validate_repository, validate_tag
from harness.model.transportref import TransportReference, parse_transport_reference

S1 = mediatype.DOCKER_V2S1_SIGNED_MANIFEST


@given(hs.reference_strings())
def test_reference_round_trip(text: str) -> None:
    ref = Reference.parse(text)
    assert Reference.parse(str(ref)) == ref
    assert Reference.parse(ref.familiar()) == ref
    assert str(ref).endswith(text.split("/", 1)[-1]) or ref.domain == "docker.io"
    validate_repository(ref.path)


@given(hs.references())
def test_docker_transport_wraps_any_reference_without_both_tag_and_digest(
        ref: Reference) -> None:
    if ref.tag is not None and ref.digest is not None:
        return
    parsed = parse_transport_reference(f"docker://{ref}")
    assert parsed.reference == (ref if ref.tag or ref.digest else ref.with_tag("latest"))
    assert parse_transport_reference(str(parsed)) == parsed


@given(hs.transport_references())
def test_transport_reference_round_trip(ref: TransportReference) -> None:
    assert parse_transport_reference(str(ref)) == ref


@given(hs.invalid_reference_strings())
def test_invalid_references_are_rejected(text: str) -> None:
    with pytest.raises(ReferenceError):
        Reference.parse(text)


@given(hs.tags())
def test_valid_tags(tag: str) -> None:
    validate_tag(tag)


@given(hs.invalid_tags())
def test_invalid_tags_are_rejected(tag: str) -> None:
    with pytest.raises(ReferenceError):
        validate_tag(tag)


@given(hs.manifests())
@settings(max_examples=150)
def test_manifest_serialise_parse_round_trip(manifest: Manifest) -> None:
    data = manifest.to_bytes()
    assert detect_media_type(data) == manifest.media_type
    assert parse_manifest(data) == manifest
    assert parse_manifest(data, manifest.media_type).to_bytes() == data


@given(hs.schema1_manifests(signed=True))
@settings(max_examples=25)
def test_signed_schema1_round_trip_and_digest(manifest: Schema1Manifest) -> None:
    data = manifest.to_bytes()
    assert schema1.verify(data) == manifest.payload()
    assert parse_manifest(data) == manifest
    assert manifest_digest(data) == Digest.from_bytes(manifest.payload())


@given(hs.oci_configs())
def test_config_round_trips(config: OCIConfig) -> None:
    assert OCIConfig.from_bytes(config.to_bytes()) == config
    docker = config.to_docker()
    # Docker history always carries "created" (Go's zero time when unset): stable after that.
    reparsed = DockerConfig.from_bytes(docker.to_bytes())
    assert reparsed.to_bytes() == docker.to_bytes()
    assert reparsed.diff_ids == docker.diff_ids
    assert docker.to_oci() == OCIConfig.from_bytes(config.to_bytes())
    config.check_history()


@given(hs.docker_configs())
def test_docker_config_bytes_are_stable(config: DockerConfig) -> None:
    data = config.to_bytes()
    reparsed = DockerConfig.from_bytes(data)
    assert reparsed.to_bytes() == data
    assert (reparsed.docker_version, reparsed.diff_ids) == (config.docker_version, config.diff_ids)
    assert reparsed.to_oci().to_bytes() == OCIConfig.from_bytes(reparsed.to_oci().to_bytes()
                                                                ).to_bytes()


@st.composite
def images(draw: st.DrawFn) -> tuple[bytes, bytes, list[Descriptor]]:
    """(OCI manifest, config, layers) of a consistent image with at least one history entry."""
    layers = draw(st.lists(hs.descriptors(mediatype.OCI_LAYER_GZIP, mediatype.OCI_LAYER,
                                          docker=True), max_size=4, unique_by=lambda d: d.digest))
    layers = [Descriptor(d.media_type, d.digest, d.size) for d in layers]
    config = draw(hs.oci_configs(layers=len(layers)).filter(lambda c: bool(c.history)))
    config_bytes = config.to_bytes()
    manifest = OCIManifest(
        config=Descriptor(mediatype.OCI_CONFIG, Digest.from_bytes(config_bytes),
                          len(config_bytes)),
        layers=layers,
    )
    return manifest.to_bytes(), config_bytes, layers


@given(images())
@settings(max_examples=40)
def test_oci_v2s2_oci_preserves_layers_and_config(image: tuple[bytes, bytes,
                                                              list[Descriptor]]) -> None:
    manifest, config, layers = image
    v2s2 = convert_manifest(manifest, mediatype.OCI_MANIFEST, mediatype.DOCKER_V2S2_MANIFEST)
    back = convert_manifest(v2s2.manifest, v2s2.media_type, mediatype.OCI_MANIFEST,
                            config=config)
    result = parse_manifest(back.manifest)
    assert isinstance(result, OCIManifest)
    assert [(d.digest, d.size, d.media_type) for d in result.layers] == [
        (d.digest, d.size, d.media_type) for d in layers]
    assert back.config is not None
    assert OCIConfig.from_bytes(back.config).diff_ids == OCIConfig.from_bytes(config).diff_ids


@given(images())
@settings(max_examples=25)
def test_schema1_round_trip_preserves_layers_diff_ids_and_history(
        image: tuple[bytes, bytes, list[Descriptor]]) -> None:
    manifest, config, layers = image
    original = OCIConfig.from_bytes(config)
    first = convert_manifest(manifest, mediatype.OCI_MANIFEST, S1, config=config)
    second = convert_manifest(manifest, mediatype.OCI_MANIFEST, S1, config=config)
    assert manifest_digest(first.manifest) == manifest_digest(second.manifest)
    s1 = parse_manifest(first.manifest)
    assert isinstance(s1, Schema1Manifest)
    assert len(s1.fs_layers) == len(original.history)
    # What a copy would report for each fsLayer, oldest first: size and diff_id.
    diff_for = dict(zip((d.digest for d in layers), original.diff_ids, strict=True))
    diff_for[schema1.EMPTY_LAYER_DIGEST] = Digest.from_bytes(b"\0" * 1024)
    size_for = {d.digest: d.size for d in layers} | {schema1.EMPTY_LAYER_DIGEST: 32}
    copied = [Descriptor(mediatype.DOCKER_LAYER_GZIP, d.digest, size_for[d.digest])
              for d in s1.layers]
    back = convert_manifest(first.manifest, S1, mediatype.DOCKER_V2S2_MANIFEST, layers=copied,
                            diff_ids=[diff_for[d.digest] for d in s1.layers])
    result = parse_manifest(back.manifest)
    assert isinstance(result, DockerManifest)
    assert [(d.digest, d.size) for d in result.layers] == [(d.digest, d.size) for d in layers]
    assert back.config is not None
    config_back = DockerConfig.from_bytes(back.config)
    assert config_back.diff_ids == original.diff_ids
    assert [h.empty_layer for h in config_back.history] == [
        h.empty_layer for h in original.history]
    config_back.check_history()
    assert json.loads(back.config)["architecture"] == original.architecture
