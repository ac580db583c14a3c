"""Manifests: OCI, Docker v2s2 and signed v2s1 pushed, served and negotiated as stored."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from conformance import content
from conformance.content import Manifest
from conformance.expect import (
    CheckFailed,
    describe,
    error_codes,
    expect_error,
    expect_header,
    expect_status,
    unsupported,
)
from conformance.repo import Repo, unique_tag
from conformance.rules import DOCKER, may, must, should
from harness.model import mediatype, schema1
from harness.util.errors import HarnessError

_PUSH = "Pushing Manifests"
_PULL = "Pulling manifests"
_EXACT = ("The registry MUST store the manifest in the exact byte representation provided by "
          "the client.")
_BLOBS = ("The uploaded manifest MUST reference any blobs that make up the object. However, the "
          "list of blobs MAY be empty.")
_CONTENT_TYPE = ("The Content-Type header SHOULD match what the client pushed as the manifest's "
                 "Content-Type.")
# Docker's manifest types are not OCI's: their checks cite Docker's API and form the docker group.
_DOCKER_TYPES = must("Image Manifest V2 (schema 1 and 2) and manifest lists",
                     "A registry serving Docker clients stores and serves Docker v2 schema 2, "
                     "manifest lists and signed schema 1 manifests as it does OCI ones.", DOCKER)
KINDS = ("oci", pytest.param("v2s2", marks=_DOCKER_TYPES),
         pytest.param("v2s1", marks=_DOCKER_TYPES))
_REFUSED_SCHEMA1 = {"MANIFEST_INVALID", "UNSUPPORTED"}


def build(kind: str, repo: Repo, tag: str) -> Manifest:
    """A fresh manifest of *kind* (schema1 embeds the repository name and tag)."""
    if kind == "oci":
        return content.oci_manifest()
    if kind == "v2s2":
        return content.docker_manifest()
    return content.schema1_manifest(repo.name, tag)


def unsupported_if_schema1_refused(response: requests.Response) -> None:
    """A schema1 PUT refused as a type (400 MANIFEST_INVALID/UNSUPPORTED, 405, 415)."""
    refused = response.status_code in {405, 415} or (
        response.status_code == 400 and _REFUSED_SCHEMA1 & set(error_codes(response)))
    if refused:
        unsupported(f"schema1 manifests are refused: {describe(response)}")


def push_kind(repo: Repo, kind: str,
              tag: str | None = None) -> tuple[Manifest, str, requests.Response]:
    """Push a manifest of *kind* under a new tag; schema1 refused by design is unsupported."""
    tag = tag or unique_tag(kind)
    manifest = build(kind, repo, tag)
    for blob in manifest.blobs:
        repo.push_blob(blob)
    response = repo.put_manifest(manifest, tag)
    if kind == "v2s1":
        unsupported_if_schema1_refused(response)
    expect_status(response, 201)
    return manifest, tag, response


def same_manifest(pushed: Manifest, served: bytes, what: str) -> None:
    """Fail unless *served* is *pushed*: the exact bytes, or for a signed schema1 manifest
    the same payload under a valid signature (a registry may re-sign with its own key)."""
    if pushed.media_type != mediatype.DOCKER_V2S1_SIGNED_MANIFEST:
        assert served == pushed.data, f"{what} served other bytes than were pushed"
        return
    try:
        payload = schema1.verify(served)
    except HarnessError as exc:
        raise CheckFailed(f"{what} served a schema1 manifest that does not verify: {exc}") from exc
    assert payload == schema1.payload(pushed.data), f"{what} served another schema1 payload"


@pytest.mark.parametrize("kind", KINDS)
@must(_PUSH, "Upon a successful upload, the registry MUST return response code 201 "
      "Created, and MUST have the following header: Location.")
def test_manifest_push(repo: Repo, kind: str) -> None:
    """PUT of a manifest by tag answers 201 with a Location header."""
    _, _, response = push_kind(repo, kind)
    expect_header(response, "Location")


@must(_PUSH, "The <reference> MUST be either a) a digest or b) a tag; upon a successful "
      "upload the registry MUST return 201 Created with a Location header.")
def test_manifest_push_by_digest(repo: Repo) -> None:
    """PUT of a manifest by its digest answers 201 with a Location header."""
    manifest = content.oci_manifest()
    for blob in manifest.blobs:
        repo.push_blob(blob)
    response = repo.put_manifest(manifest, manifest.digest)
    expect_status(response, 201)
    expect_header(response, "Location")


@pytest.mark.parametrize("kind", KINDS)
@must(_PULL, _EXACT)
def test_manifest_get_by_tag(repo: Repo, kind: str) -> None:
    """GET by tag returns the exact bytes pushed."""
    manifest, tag, _ = push_kind(repo, kind)
    response = repo.get_manifest(tag, accept=manifest.media_type)
    expect_status(response, 200)
    same_manifest(manifest, response.content, "GET by tag")


@pytest.mark.parametrize("kind", KINDS)
@must(_PULL, _EXACT)
def test_manifest_get_by_digest(repo: Repo, kind: str) -> None:
    """GET by digest returns the exact bytes pushed."""
    manifest, _, _ = push_kind(repo, kind)
    response = repo.get_manifest(manifest.digest, accept=manifest.media_type)
    expect_status(response, 200)
    same_manifest(manifest, response.content, "GET by digest")


@pytest.mark.parametrize("kind", KINDS)
@must("Checking if content exists in the registry", "A HEAD request to an existing blob or "
      "manifest URL MUST return 200 OK.")
def test_manifest_head(repo: Repo, kind: str) -> None:
    """HEAD by tag and by digest answers 200 with the manifest's size and no body."""
    manifest, tag, _ = push_kind(repo, kind)
    for ref in (tag, str(manifest.digest)):
        response = repo.get_manifest(ref, "HEAD", accept=manifest.media_type)
        expect_status(response, 200)
        length = response.headers.get("Content-Length")
        assert length == str(len(manifest.data)), (
            f"HEAD {ref}: Content-Length {length}, manifest size {len(manifest.data)}")
        assert not response.content, f"HEAD {ref} answered with a body"


@pytest.mark.parametrize("kind", KINDS)
@should(_PULL, _CONTENT_TYPE)
def test_manifest_content_type(repo: Repo, kind: str) -> None:
    """GET and HEAD of a manifest answer Content-Type equal to the media type it was pushed with."""
    manifest, tag, _ = push_kind(repo, kind)
    for method in ("GET", "HEAD"):
        response = repo.get_manifest(tag, method, accept=manifest.media_type)
        expect_status(response, 200)
        served = response.headers.get("Content-Type", "").split(";")[0].strip()
        assert served == manifest.media_type, (
            f"{method} served Content-Type {served!r}, pushed as {manifest.media_type!r}")


@pytest.mark.parametrize("kind", KINDS)
@should(_PULL, "The client SHOULD include an Accept header indicating which manifest "
        "content types it supports; " + _CONTENT_TYPE)
def test_manifest_accept(repo: Repo, kind: str) -> None:
    """A GET whose Accept lists every manifest type returns the stored type unchanged."""
    manifest, tag, _ = push_kind(repo, kind)
    others = sorted(mediatype.ALL_MANIFESTS - {manifest.media_type})
    accept = ", ".join([*others, f"{manifest.media_type};q=0.9"])
    response = repo.get_manifest(tag, accept=accept)
    expect_status(response, 200)
    served = response.headers.get("Content-Type", "").split(";")[0].strip()
    assert served == manifest.media_type, (
        f"with Accept: {accept} the registry served {served!r}, stored {manifest.media_type!r}")
    same_manifest(manifest, response.content, "GET with every type in Accept")


@pytest.mark.parametrize("kind", KINDS)
@may("Push", "A registry MAY reject a manifest uploaded to the manifest endpoint with "
     "descriptors that reference a manifest or blob that does not exist in the registry. When "
     "a manifest is rejected for this reason, it MUST result in one or more "
     "MANIFEST_BLOB_UNKNOWN errors.")
def test_manifest_blob_unknown(repo: Repo, kind: str) -> None:
    """A manifest naming a blob never pushed is accepted, or refused with MANIFEST_BLOB_UNKNOWN."""
    tag = unique_tag(kind)
    manifest = build(kind, repo, tag)
    response = repo.put_manifest(manifest, tag)
    if kind == "v2s1":
        unsupported_if_schema1_refused(response)
    if response.status_code == 201:
        unsupported("manifests naming unknown blobs are accepted (the spec allows it)")
    expect_error(response, 400, "MANIFEST_BLOB_UNKNOWN")


INDEXES: dict[str, tuple[str, Callable[[], Manifest]]] = {
    "oci-index": (mediatype.OCI_INDEX, content.oci_manifest),
    "docker-list": (mediatype.DOCKER_MANIFEST_LIST, content.docker_manifest),
}
INDEX_KINDS = ("oci-index", pytest.param("docker-list", marks=_DOCKER_TYPES))


@pytest.mark.parametrize("kind", INDEX_KINDS)
@must(_PUSH, _EXACT)
def test_index_push(repo: Repo, kind: str) -> None:
    """An index (manifest list) whose children exist is accepted and served with its type."""
    media_type, child = INDEXES[kind]
    index = content.index([child(), child()], media_type)
    tag = unique_tag(kind)
    repo.push(index, tag)
    response = repo.get_manifest(tag, accept=media_type)
    expect_status(response, 200)
    assert response.content == index.data, "the index served is not the bytes pushed"
    served = response.headers.get("Content-Type", "").split(";")[0].strip()
    assert served == media_type, f"index served as {served!r}, pushed as {media_type!r}"


@must(_PUSH, _BLOBS)
def test_index_empty(repo: Repo) -> None:
    """An OCI index that lists no manifests is accepted and served as pushed."""
    index = content.index([])
    expect_status(repo.put_manifest(index, unique_tag("empty")), 201)
    response = repo.get_manifest(index.digest, accept=index.media_type)
    expect_status(response, 200)
    assert response.content == index.data, "the empty index served is not the bytes pushed"


@must(_PUSH, _EXACT)
def test_index_nested(repo: Repo) -> None:
    """An OCI index whose child is itself an index is accepted and served as pushed."""
    inner = repo.push(content.index([content.oci_manifest()]))
    outer = content.index([inner])
    expect_status(repo.put_manifest(outer, unique_tag("nested")), 201)
    response = repo.get_manifest(outer.digest, accept=outer.media_type)
    expect_status(response, 200)
    assert response.content == outer.data, "the nested index served is not the bytes pushed"


@must(_PUSH, _BLOBS)
def test_artifact_without_layers(repo: Repo) -> None:
    """An OCI 1.1 artifact (artifactType, empty config, no layers) is accepted and served."""
    artifact = content.artifact_manifest()
    for blob in artifact.blobs:
        repo.push_blob(blob)
    tag = unique_tag("artifact")
    expect_status(repo.put_manifest(artifact, tag), 201)
    response = repo.get_manifest(tag, accept=artifact.media_type)
    expect_status(response, 200)
    assert response.content == artifact.data, "the artifact served is not the bytes pushed"


@pytest.mark.parametrize("kind", INDEX_KINDS)
@may("Push", "A registry MAY reject a manifest uploaded to the manifest endpoint with "
     "descriptors that reference a manifest or blob that does not exist in the registry. When "
     "a manifest is rejected for this reason, it MUST result in one or more "
     "MANIFEST_BLOB_UNKNOWN errors.")
def test_index_child_unknown(repo: Repo, kind: str) -> None:
    """An index naming an unknown manifest is accepted, or refused with MANIFEST_BLOB_UNKNOWN."""
    media_type, child = INDEXES[kind]
    index = content.index([child()], media_type)
    response = repo.put_manifest(index, unique_tag(kind))
    if response.status_code == 201:
        unsupported("indexes naming unknown manifests are accepted (the spec allows it)")
    expect_error(response, 400, "MANIFEST_BLOB_UNKNOWN")


@should(_PUSH, "Client and registry implementations SHOULD expect to be able to support "
        "manifest pushes of at least 4 megabytes.")
def test_manifest_large(repo: Repo) -> None:
    """A manifest of 3.5 MB is accepted and served (registries should take at least 4 MB)."""
    manifest = content.oci_manifest(padding=3_500_000)
    for blob in manifest.blobs:
        repo.push_blob(blob)
    tag = unique_tag("large")
    expect_status(repo.put_manifest(manifest, tag), 201)
    response = repo.get_manifest(tag, accept=manifest.media_type)
    expect_status(response, 200)
    assert response.content == manifest.data, "the large manifest served is not the one pushed"


@should(_PUSH, "A registry that enforces this limit SHOULD respond to a request to push a "
        "manifest over this limit with a response code 413 Payload Too Large.")
def test_manifest_oversize(repo: Repo) -> None:
    """A manifest over the registry's size limit is refused with 413 Payload Too Large."""
    manifest = content.oci_manifest(padding=9 * 1024 * 1024)
    for blob in manifest.blobs:
        repo.push_blob(blob)
    response = repo.put_manifest(manifest, unique_tag("huge"))
    if response.status_code == 201:
        unsupported("no manifest size limit up to 9 MiB")
    if 400 <= response.status_code < 500:
        expect_status(response, 413)  # a refusal, but not the recommended one: a warning
        return
    raise CheckFailed(f"{describe(response)}: a manifest over the limit must be refused (4xx)")


@must("Image Manifest Version 2, Schema 1: signed manifests", "A registry verifies the JWS "
      "signature of a signed schema 1 manifest and refuses one that does not verify.", DOCKER)
def test_schema1_bad_signature(repo: Repo) -> None:
    """A schema1 manifest whose signature does not verify is refused (MANIFEST_UNVERIFIED)."""
    push_kind(repo, "v2s1")  # unsupported when schema1 is refused altogether
    tag = unique_tag("bad")
    manifest = content.badly_signed_schema1(repo.name, tag)
    for blob in manifest.blobs:
        repo.push_blob(blob)
    expect_error(repo.put_manifest(manifest, tag), 400, "MANIFEST_UNVERIFIED", "MANIFEST_INVALID")


@should(_PUSH, "Implied by Error Codes (MANIFEST_INVALID: manifest invalid, \"during upload, "
        "the registry will check the manifest\"); no MUST requires refusing a body that is not "
        "JSON, so storing one is a warning.")
def test_manifest_invalid_json(repo: Repo) -> None:
    """A manifest body that is not JSON is refused with 400 MANIFEST_INVALID."""
    broken = Manifest(b'{"schemaVersion": 2, "mediaType": ', mediatype.OCI_MANIFEST)
    expect_error(repo.put_manifest(broken, unique_tag("bad")), 400, "MANIFEST_INVALID")
