"""Content management: deleting manifests, tags and blobs (400/405, deletion disabled:
unsupported)."""

from __future__ import annotations

import requests

from conformance import content
from conformance.expect import (
    CheckFailed,
    describe,
    error_codes,
    expect_error,
    expect_status,
    unsupported,
)
from conformance.repo import Repo, unique_tag
from conformance.rules import must

_MANIFESTS = ("Upon success, the registry MUST respond with a 202 Accepted code. If manifest "
              "deletion is disabled, the registry MUST respond with either a 400 Bad Request or "
              "a 405 Method Not Allowed.")


def _delete(repo: Repo, kind: str, ref: str) -> requests.Response:
    """DELETE; 400 or 405 is the spec's answer when that deletion is disabled."""
    response = repo.client.request("DELETE", repo.path(kind, ref))
    if response.status_code in {400, 405}:
        unsupported(f"this deletion is disabled: {describe(response)}")
    return response


@must("Deleting Manifests", _MANIFESTS)
def test_delete_manifest(repo: Repo) -> None:
    """DELETE of a manifest by digest answers 202; GET by digest then answers 404."""
    manifest = repo.push(content.oci_manifest())
    expect_status(_delete(repo, "manifests", str(manifest.digest)), 202)
    expect_error(repo.get_manifest(manifest.digest, accept=manifest.media_type), 404,
                 "MANIFEST_UNKNOWN")


@must("Deleting Manifests", "DELETE /v2/<name>/manifests/<digest> deletes the manifest; "
      "tags that point at it are gone with it (GET by tag then answers 404).")
def test_delete_manifest_untags(repo: Repo) -> None:
    """After a manifest is deleted its tags are gone from the tag list and from GET."""
    tag = unique_tag("del")
    manifest = repo.push(content.oci_manifest(), tag)
    expect_status(_delete(repo, "manifests", str(manifest.digest)), 202)
    expect_status(repo.get_manifest(tag, accept=manifest.media_type), 404)
    assert tag not in repo.tag_names(), f"{tag} still listed after its manifest was deleted"


@must("Deleting tags", "Upon success, the registry MUST respond with a 202 Accepted code. If "
      "tag deletion is disabled, the registry MUST respond with either a 400 Bad Request or a "
      "405 Method Not Allowed (a 400 with the error code UNSUPPORTED, the operation is "
      "unsupported).")
def test_delete_tag(repo: Repo) -> None:
    """DELETE by tag answers 202 and removes that tag only; refused: 405, or 400 UNSUPPORTED."""
    keep, drop = unique_tag("keep"), unique_tag("drop")
    manifest = repo.push(content.oci_manifest(), keep)
    repo.push(manifest, drop)
    response = repo.client.request("DELETE", repo.path("manifests", drop))
    if response.status_code == 400 and "UNSUPPORTED" not in error_codes(response):
        raise CheckFailed(f"{describe(response)}: a refused tag deletion answers 405, or 400 "
                          "with the code UNSUPPORTED")
    if response.status_code in {400, 405}:
        unsupported(f"tag deletion is disabled: {describe(response)}")
    expect_status(response, 202)
    expect_status(repo.get_manifest(drop, "HEAD", accept=manifest.media_type), 404)
    expect_status(repo.get_manifest(keep, "HEAD", accept=manifest.media_type), 200)


@must("Deleting Blobs", "If successful, the response MUST be 202 Accepted. If blob deletion "
      "is disabled, the registry MUST respond with either a 400 Bad Request or a 405 Method "
      "Not Allowed.")
def test_delete_blob(repo: Repo) -> None:
    """DELETE of a blob answers 202; GET then answers 404 BLOB_UNKNOWN."""
    blob = content.random_blob()
    repo.push_blob(blob)
    expect_status(_delete(repo, "blobs", str(blob.digest)), 202)
    expect_error(repo.get_blob(blob.digest), 404, "BLOB_UNKNOWN")


@must("Deleting Manifests", "If the repository does not exist, the response MUST return 404 "
      "Not Found; an unknown manifest is MANIFEST_UNKNOWN (Error Codes).")
def test_delete_unknown_manifest(repo: Repo) -> None:
    """DELETE of a manifest that does not exist answers 404 MANIFEST_UNKNOWN."""
    repo.push(content.oci_manifest())  # the repository exists: only the manifest is unknown
    digest = content.random_blob().digest
    expect_error(_delete(repo, "manifests", str(digest)), 404, "MANIFEST_UNKNOWN")
