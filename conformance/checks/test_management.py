"""Content management: deleting manifests, tags and blobs (400/405, deletion disabled:
unsupported)."""

from __future__ import annotations

import requests

from conformance import content
from conformance.expect import describe, expect_error, expect_status, unsupported
from conformance.repo import Repo, unique_tag


def _delete(repo: Repo, kind: str, ref: str) -> requests.Response:
    """DELETE; 400 or 405 is the spec's answer when that deletion is disabled."""
    response = repo.client.request("DELETE", repo.path(kind, ref))
    if response.status_code in {400, 405}:
        unsupported(f"this deletion is disabled: {describe(response)}")
    return response


def test_delete_manifest(repo: Repo) -> None:
    """DELETE of a manifest by digest answers 202; GET by digest then answers 404."""
    manifest = repo.push(content.oci_manifest())
    expect_status(_delete(repo, "manifests", str(manifest.digest)), 202)
    expect_error(repo.get_manifest(manifest.digest, accept=manifest.media_type), 404,
                 "MANIFEST_UNKNOWN")


def test_delete_manifest_untags(repo: Repo) -> None:
    """After a manifest is deleted its tags are gone from the tag list and from GET."""
    tag = unique_tag("del")
    manifest = repo.push(content.oci_manifest(), tag)
    expect_status(_delete(repo, "manifests", str(manifest.digest)), 202)
    expect_status(repo.get_manifest(tag, accept=manifest.media_type), 404)
    assert tag not in repo.tag_names(), f"{tag} still listed after its manifest was deleted"


def test_delete_tag(repo: Repo) -> None:
    """DELETE by tag answers 202 and removes that tag only; the manifest stays."""
    keep, drop = unique_tag("keep"), unique_tag("drop")
    manifest = repo.push(content.oci_manifest(), keep)
    repo.push(manifest, drop)
    expect_status(_delete(repo, "manifests", drop), 202)
    expect_status(repo.get_manifest(drop, "HEAD", accept=manifest.media_type), 404)
    expect_status(repo.get_manifest(keep, "HEAD", accept=manifest.media_type), 200)


def test_delete_blob(repo: Repo) -> None:
    """DELETE of a blob answers 202; GET then answers 404 BLOB_UNKNOWN."""
    blob = content.random_blob()
    repo.push_blob(blob)
    expect_status(_delete(repo, "blobs", str(blob.digest)), 202)
    expect_error(repo.get_blob(blob.digest), 404, "BLOB_UNKNOWN")


def test_delete_unknown_manifest(repo: Repo) -> None:
    """DELETE of a manifest that does not exist answers 404 MANIFEST_UNKNOWN."""
    repo.push(content.oci_manifest())  # the repository exists: only the manifest is unknown
    digest = content.random_blob().digest
    expect_error(_delete(repo, "manifests", str(digest)), 404, "MANIFEST_UNKNOWN")
