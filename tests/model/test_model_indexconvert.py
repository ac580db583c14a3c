"""Properties of rebuild_index: conversions keep every entry's identity and platform, lose
only what the target cannot say, and round-trip where nothing is lost."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given

from harness import strategies as hs
from harness.model import mediatype
from harness.model.descriptor import Descriptor
from harness.model.indexconvert import list_type_for, rebuild_index
from harness.model.manifest import DockerManifestList, OCIIndex, parse_manifest


def _identity(entries: list[Descriptor]) -> list[tuple[object, ...]]:
    return [(e.media_type, e.digest, e.size, e.urls, e.platform) for e in entries]


@given(hs.oci_indexes())
def test_oci_to_docker_keeps_identity_and_drops_only_what_lists_cannot_say(
        index: OCIIndex) -> None:
    raw = index.to_bytes()
    docker = parse_manifest(rebuild_index(raw, index, index.manifests,
                                          mediatype.DOCKER_MANIFEST_LIST))
    assert isinstance(docker, DockerManifestList)
    assert _identity(docker.manifests) == _identity(index.manifests)
    assert all(not e.annotations and e.artifact_type is None and e.data is None
               for e in docker.manifests)


@given(hs.docker_manifest_lists())
def test_docker_to_oci_and_back_is_the_same_list(listed: DockerManifestList) -> None:
    listed = replace(listed, manifests=[replace(e, annotations={}) for e in listed.manifests])
    raw = listed.to_bytes()
    oci_raw = rebuild_index(raw, listed, listed.manifests, mediatype.OCI_INDEX)
    oci = parse_manifest(oci_raw)
    assert isinstance(oci, OCIIndex)
    assert _identity(oci.manifests) == _identity(listed.manifests)
    assert rebuild_index(oci_raw, oci, oci.manifests, mediatype.DOCKER_MANIFEST_LIST) == raw


@given(hs.oci_indexes() | hs.docker_manifest_lists())
def test_unchanged_entries_and_type_keep_the_bytes(index: OCIIndex | DockerManifestList) -> None:
    raw = index.to_bytes() + b"\n"  # any bytes: returned as they are
    assert rebuild_index(raw, index, index.manifests, index.media_type) == raw


def test_list_type_for_each_image_type() -> None:
    assert list_type_for(mediatype.OCI_MANIFEST) == mediatype.OCI_INDEX
    for docker in (mediatype.DOCKER_V2S2_MANIFEST, mediatype.DOCKER_V2S1_SIGNED_MANIFEST,
                   mediatype.DOCKER_V2S1_MANIFEST):
        assert list_type_for(docker) == mediatype.DOCKER_MANIFEST_LIST
