"""Digests: what a registry serves is what the digest names, and it refuses what does not match."""

from __future__ import annotations

import requests

from conformance import content
from conformance.expect import (
    CheckFailed,
    describe,
    expect_error,
    expect_header,
    expect_status,
    missed_should,
    setup_step,
    unsupported,
)
from conformance.repo import Repo, unique_tag
from conformance.rules import may, must
from harness.model.digest import Digest, DigestError

_HEADER = ("Docker-Content-Digest SHOULD be sent; if present, it \"returns the canonical digest "
           "of the uploaded blob\" (a digest of the bytes, its algorithm may differ).")


def _digest_header(response: requests.Response, what: str) -> str:
    """The Docker-Content-Digest header; its absence misses a SHOULD."""
    header = response.headers.get("Docker-Content-Digest")
    if header is None:
        missed_should(f"{what}: {describe(response)}: no Docker-Content-Digest header")
    return header


def _digest_header_matches(response_digest: str, expected: Digest, what: str) -> None:
    assert response_digest == str(expected), (
        f"{what}: Docker-Content-Digest {response_digest}, but the content is {expected}")


def _header_names_body(response: requests.Response, what: str) -> None:
    """Docker-Content-Digest is present and is a digest (of its own algorithm) of the body."""
    header = _digest_header(response, what)
    try:
        algorithm = Digest.parse(header).algorithm
        served = Digest.from_bytes(response.content, algorithm)
    except DigestError as exc:
        raise CheckFailed(f"{what}: Docker-Content-Digest {header!r}: {exc}") from exc
    _digest_header_matches(header, served, what)


@must("Pulling blobs", _HEADER)
def test_blob_digest_header_get(repo: Repo) -> None:
    """GET of a blob carries Docker-Content-Digest equal to the digest of the bytes served."""
    blob = content.random_blob()
    repo.push_blob(blob)
    response = repo.get_blob(blob.digest)
    expect_status(response, 200)
    _header_names_body(response, "GET blob")


@must("Checking if content exists in the registry", _HEADER)
def test_blob_digest_header_head(repo: Repo) -> None:
    """HEAD of a blob carries Docker-Content-Digest equal to the blob's digest."""
    blob = content.random_blob()
    repo.push_blob(blob)
    response = repo.get_blob(blob.digest, "HEAD")
    expect_status(response, 200)
    _digest_header_matches(_digest_header(response, "HEAD blob"), blob.digest, "HEAD blob")


@must("Pulling blobs", "A GET request to an existing blob URL MUST provide the expected "
      "blob, with a response code that MUST be 200 OK.")
def test_blob_content_matches_digest(repo: Repo) -> None:
    """The bytes served for a blob hash to the digest that was requested."""
    blob = content.random_blob(256)
    repo.push_blob(blob)
    response = repo.get_blob(blob.digest)
    expect_status(response, 200)
    served = Digest.from_bytes(response.content)
    assert served == blob.digest, (
        f"GET {blob.digest} served {len(response.content)} bytes hashing to {served}")


@must("Pulling manifests", _HEADER)
def test_manifest_digest_header_get(repo: Repo) -> None:
    """GET of a manifest carries Docker-Content-Digest equal to the digest of the bytes served."""
    manifest = repo.push(content.oci_manifest(), unique_tag("dg"))
    response = repo.get_manifest(manifest.digest, accept=manifest.media_type)
    expect_status(response, 200)
    _header_names_body(response, "GET manifest")


@must("Checking if content exists in the registry", _HEADER)
def test_manifest_digest_header_head(repo: Repo) -> None:
    """HEAD of a manifest by tag carries Docker-Content-Digest equal to the manifest's digest."""
    tag = unique_tag("dh")
    manifest = repo.push(content.oci_manifest(), tag)
    response = repo.get_manifest(tag, "HEAD", accept=manifest.media_type)
    expect_status(response, 200)
    _digest_header_matches(_digest_header(response, "HEAD manifest"), manifest.digest,
                           "HEAD manifest")


@must("Pulling manifests", "A GET request to an existing manifest URL MUST provide the "
      "expected manifest, with a response code that MUST be 200 OK.")
def test_manifest_content_matches_digest(repo: Repo) -> None:
    """The bytes served for a manifest by digest hash to that digest."""
    manifest = repo.push(content.oci_manifest())
    response = repo.get_manifest(manifest.digest, accept=manifest.media_type)
    expect_status(response, 200)
    served = Digest.from_bytes(response.content)
    assert served == manifest.digest, f"GET {manifest.digest} served content hashing to {served}"


@must("Error Codes", "DIGEST_INVALID: provided digest did not match uploaded content; the "
      "upload is refused, never stored under a digest that is not its own.")
def test_upload_wrong_digest(repo: Repo) -> None:
    """Completing an upload with a digest that does not match the bytes is 400 DIGEST_INVALID."""
    blob = content.random_blob()
    wrong = content.random_blob().digest
    response = repo.finish_upload(repo.upload_location(), wrong, blob.data)
    expect_error(response, 400, "DIGEST_INVALID")
    expect_status(repo.get_blob(wrong, "HEAD"), 404)


@must("Pushing Manifests", "<reference> MUST be either (a) the digest of the manifest or "
      "(b) a tag.")
def test_manifest_put_digest_mismatch(repo: Repo) -> None:
    """A manifest PUT by a digest that is not its body's digest is refused (400 DIGEST_INVALID)."""
    manifest = content.oci_manifest()
    for blob in manifest.blobs:
        repo.push_blob(blob)
    wrong = content.random_blob().digest
    expect_error(repo.put_manifest(manifest, wrong), 400, "DIGEST_INVALID", "MANIFEST_INVALID")


@may("Pushing blobs", "Registries MAY support digest algorithms other than sha256; a blob "
     "accepted by a sha512 digest MUST then be served by it.")
def test_blob_sha512(repo: Repo) -> None:
    """A blob uploaded by a sha512 digest is served by it: bytes and Docker-Content-Digest agree."""
    blob = content.random_blob(algorithm="sha512")
    start = setup_step(repo.start_upload({"digest-algorithm": "sha512"}), 202, 400)
    if start.status_code == 400:
        unsupported(f"sha512 uploads are refused: {describe(start)}")
    response = repo.finish_upload(expect_header(start, "Location"), blob.digest, blob.data)
    if response.status_code == 400:
        unsupported(f"sha512 digests are refused: {describe(response)}")
    expect_status(response, 201)
    got = repo.get_blob(blob.digest)
    expect_status(got, 200)
    served = Digest.from_bytes(got.content, "sha512")
    assert served == blob.digest, f"GET {blob.digest} served bytes hashing to {served}"
    _header_names_body(got, "GET sha512 blob")


@must("Pushing Manifests", _HEADER)
def test_manifest_digest_on_put(repo: Repo) -> None:
    """PUT of a manifest answers Docker-Content-Digest equal to the sha256 of the bytes sent."""
    manifest = content.docker_manifest()
    for blob in manifest.blobs:
        repo.push_blob(blob)
    response = repo.put_manifest(manifest, unique_tag("dp"))
    expect_status(response, 201)
    _digest_header_matches(_digest_header(response, "PUT manifest"), manifest.digest,
                           "PUT manifest")
