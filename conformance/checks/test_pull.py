"""Pull: blobs and manifests come back as pushed; missing content is a 404 with its code."""

from __future__ import annotations

import json

from conformance import content
from conformance.client import Client
from conformance.expect import (
    KNOWN_CODES,
    CheckFailed,
    expect_error,
    expect_status,
    missed_should,
)
from conformance.repo import Repo
from conformance.rules import must, should
from harness.model.digest import Digest

_PULL_BLOBS = "Pulling blobs"
_PULL_MANIFESTS = "Pulling manifests"
_RANGE = "A registry SHOULD support the Range request header in accordance with RFC 9110."


@must("Determining support", "GET /v2/: a 200 OK response means the registry implements "
      "the V2 (OCI distribution) API.")
def test_ping(client: Client) -> None:
    """GET /v2/ answers 200 to an authenticated client."""
    expect_status(client.request("GET", "/v2/"), 200)


@must(_PULL_BLOBS, "A GET request to an existing blob URL MUST provide the expected blob, "
      "with a response code that MUST be 200 OK.")
def test_blob_get(repo: Repo) -> None:
    """GET of a pushed blob answers 200 with a Content-Length equal to the bytes sent."""
    blob = content.random_blob()
    repo.push_blob(blob)
    response = repo.get_blob(blob.digest)
    expect_status(response, 200)
    length = response.headers.get("Content-Length")
    if length is not None and int(length) != len(response.content):
        raise CheckFailed(f"Content-Length {length} but {len(response.content)} bytes sent")


@must("Checking if content exists in the registry", "A HEAD request to an existing blob "
      "or manifest URL MUST return 200 OK.")
def test_blob_head(repo: Repo) -> None:
    """HEAD of a pushed blob answers 200 with the blob's size as Content-Length and no body."""
    blob = content.random_blob()
    repo.push_blob(blob)
    response = repo.get_blob(blob.digest, "HEAD")
    expect_status(response, 200)
    assert response.headers.get("Content-Length") == str(len(blob.data)), (
        f"HEAD Content-Length {response.headers.get('Content-Length')}, blob size {len(blob.data)}")
    assert not response.content, "HEAD answered with a body"


@should(_PULL_BLOBS, _RANGE)
def test_blob_range_get(repo: Repo) -> None:
    """A Range GET of a blob answers 206 with Content-Range and exactly those bytes."""
    blob = content.random_blob(64)
    repo.push_blob(blob)
    response = repo.get_blob(blob.digest, headers={"Range": "bytes=10-19"})
    if response.status_code == 200:
        missed_should("Range ignored: the whole blob was sent (200)")
    expect_status(response, 206)
    assert response.headers.get("Content-Range") == "bytes 10-19/64", (
        f"Content-Range {response.headers.get('Content-Range')!r}, expected 'bytes 10-19/64'")
    assert response.content == blob.data[10:20], "the 206 body is not bytes 10-19 of the blob"


@should(_PULL_BLOBS, _RANGE)
def test_blob_range_open(repo: Repo) -> None:
    """Open ranges work: bytes=50- is the tail from offset 50, bytes=-10 the last 10 bytes."""
    blob = content.random_blob(64)
    repo.push_blob(blob)
    for spec, want, span in (("bytes=50-", blob.data[50:], "50-63"),
                             ("bytes=-10", blob.data[-10:], "54-63")):
        response = repo.get_blob(blob.digest, headers={"Range": spec})
        if response.status_code == 200:
            missed_should(f"Range {spec} ignored: the whole blob was sent (200)")
        expect_status(response, 206)
        assert response.headers.get("Content-Range") == f"bytes {span}/64", (
            f"Range {spec}: Content-Range {response.headers.get('Content-Range')!r}")
        assert response.content == want, f"Range {spec}: the 206 body is not {span}"


@should(_PULL_BLOBS, _RANGE)
def test_blob_range_unsatisfiable(repo: Repo) -> None:
    """A Range that starts past the end of a blob answers 416."""
    blob = content.random_blob(64)
    repo.push_blob(blob)
    response = repo.get_blob(blob.digest, headers={"Range": "bytes=100-200"}, stream=True)
    if response.status_code == 200:
        missed_should("Range ignored: the whole blob was sent (200)")
    expect_status(response, 416)


@must(_PULL_BLOBS, "If the blob is not found in the repository, the response code MUST "
      "be 404 Not Found.")
def test_blob_missing(repo: Repo) -> None:
    """GET of an unknown blob answers 404 BLOB_UNKNOWN, and HEAD answers 404."""
    repo.push(content.oci_manifest())  # the repository exists: only the blob is unknown
    digest = Digest.from_bytes(content.random_blob().data)
    expect_error(repo.get_blob(digest), 404, "BLOB_UNKNOWN")
    expect_status(repo.get_blob(digest, "HEAD"), 404)


@must(_PULL_MANIFESTS, "If the manifest is not found in the repository, the response "
      "code MUST be 404 Not Found.")
def test_manifest_missing(repo: Repo) -> None:
    """GET of an unknown tag or digest answers 404 MANIFEST_UNKNOWN, and HEAD answers 404."""
    repo.push(content.oci_manifest())  # the repository exists: only the manifest is unknown
    digest = Digest.from_bytes(content.random_blob().data)
    for ref in ("no-such-tag-" + digest.hex[:8], str(digest)):
        expect_error(repo.get_manifest(ref), 404, "MANIFEST_UNKNOWN")
        expect_status(repo.get_manifest(ref, "HEAD"), 404)


@must(_PULL_MANIFESTS, "If the manifest is not found in the repository, the response code "
      "MUST be 404 Not Found; a malformed reference is a client error (400, DIGEST_INVALID or "
      "MANIFEST_INVALID in Error Codes), never a server error.")
def test_manifest_malformed_digest(repo: Repo) -> None:
    """GET of a manifest by a malformed digest (sha256:totallywrong) answers 400 or 404, not 5xx."""
    repo.push(content.oci_manifest())  # the repository exists: only the reference is bad
    expect_status(repo.get_manifest("sha256:totallywrong"), 400, 404)


@must("Error Codes", "A 4XX response code from the registry MAY return a body in any "
      "format. If the response body is in JSON format, it MUST have the following format: "
      "{\"errors\": [{\"code\": ..., \"message\": ..., \"detail\": ...}]}; the code field "
      "MUST be one of the codes listed.")
def test_error_bodies(repo: Repo) -> None:
    """A JSON 4xx body is {"errors": [{"code": <a code of the spec>, ...}]}, message a string."""
    digest = Digest.from_bytes(content.random_blob().data)
    blob = content.random_blob()
    responses = [repo.get_blob(digest), repo.get_manifest(str(digest)),
                 repo.put_manifest(content.Manifest(b"{", content.oci_manifest().media_type),
                                   "broken"),
                 repo.finish_upload(repo.upload_location(), digest, blob.data),
                 repo.client.request("GET", f"/v2/{repo.name}/absent-{digest.hex[:8]}/tags/list")]
    for response in responses:
        if response.status_code < 400:
            continue
        try:
            document = json.loads(response.content)
        except ValueError:
            continue  # the spec lets a 4xx body be in any format; only JSON ones are checked
        try:
            errors = document["errors"]
            ok = isinstance(errors, list) and errors and all(
                isinstance(e, dict) and e.get("code") in KNOWN_CODES
                and isinstance(e.get("message", ""), str) for e in errors)
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise CheckFailed(f"{response.request.method} {response.request.path_url} -> "
                              f"{response.status_code}: body is not a spec error structure: "
                              f"{response.text[:200]!r}")
