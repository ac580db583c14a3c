"""Push flows: monolithic, POST+PUT, streamed and chunked PATCH, status, cancel, mount."""

from __future__ import annotations

import requests

from conformance import content
from conformance.content import Blob
from conformance.expect import (
    describe,
    expect_error,
    expect_header,
    expect_status,
    setup_step,
    unsupported,
)
from conformance.repo import Repo

_OCTETS = {"Content-Type": "application/octet-stream"}


def _served(repo: Repo, blob: Blob) -> None:
    response = repo.get_blob(blob.digest)
    expect_status(response, 200)
    assert response.content == blob.data, "the uploaded blob is served with other bytes"


def test_push_monolithic_post(repo: Repo) -> None:
    """POST ?digest= with the whole blob answers 201 with Location (or 202 to open a session)."""
    blob = content.random_blob()
    response = repo.client.request("POST", repo.path("blobs", "uploads", ""),
                                   params={"digest": str(blob.digest)}, data=blob.data,
                                   headers=_OCTETS)
    expect_status(response, 201, 202)
    expect_header(response, "Location")
    if response.status_code == 202:
        unsupported("single-request POST uploads open a session instead (202)")
    _served(repo, blob)


def test_push_post_put(repo: Repo) -> None:
    """POST (202 + Location) then PUT <Location>?digest= with the body answers 201 + Location."""
    blob = content.random_blob()
    start = repo.start_upload()
    expect_status(start, 202)
    response = repo.finish_upload(expect_header(start, "Location"), blob.digest, blob.data)
    expect_status(response, 201)
    expect_header(response, "Location")
    _served(repo, blob)


def test_push_streamed_patch(repo: Repo) -> None:
    """A PATCH without Content-Range (202, Range 0-N) then an empty PUT completes the upload."""
    blob = content.random_blob(100)
    patch = repo.client.request("PATCH", repo.upload_location(), data=blob.data, headers=_OCTETS)
    expect_status(patch, 202)
    assert patch.headers.get("Range") == f"0-{len(blob.data) - 1}", (
        f"PATCH Range {patch.headers.get('Range')!r}, expected 0-{len(blob.data) - 1}")
    expect_status(repo.finish_upload(expect_header(patch, "Location"), blob.digest), 201)
    _served(repo, blob)


def _open_chunked(repo: Repo) -> tuple[str, int]:
    """Open a session for a chunked upload: its Location, and a chunk size that respects the
    registry's OCI-Chunk-Min-Length (every chunk but the last must be at least that long)."""
    response = setup_step(repo.client.request("POST", repo.path("blobs", "uploads", ""),
                                              headers={"Content-Length": "0"}), 202)
    minimum = int(response.headers.get("OCI-Chunk-Min-Length", "0") or 0)
    return expect_header(response, "Location"), max(30, minimum)


def _patch_chunk(repo: Repo, location: str, data: bytes, start: int) -> requests.Response:
    end = start + len(data) - 1
    return repo.client.request("PATCH", location, data=data, headers={
        **_OCTETS, "Content-Range": f"{start}-{end}", "Content-Length": str(len(data))})


def test_push_chunked(repo: Repo) -> None:
    """PATCHes with Content-Range in order, each 202 with Range, then PUT complete an upload."""
    location, chunk = _open_chunked(repo)
    blob = content.random_blob(3 * chunk)
    for start in range(0, 3 * chunk, chunk):
        patch = _patch_chunk(repo, location, blob.data[start:start + chunk], start)
        expect_status(patch, 202)
        assert patch.headers.get("Range") == f"0-{start + chunk - 1}", (
            f"after bytes {start}-{start + chunk - 1} Range is {patch.headers.get('Range')!r}")
        location = expect_header(patch, "Location")
    expect_status(repo.finish_upload(location, blob.digest), 201)
    _served(repo, blob)


def test_push_chunked_final_put(repo: Repo) -> None:
    """The last chunk may travel in the closing PUT, with its Content-Range."""
    location, chunk = _open_chunked(repo)
    blob = content.random_blob(2 * chunk)
    first = setup_step(_patch_chunk(repo, location, blob.data[:chunk], 0), 202)
    response = repo.finish_upload(expect_header(first, "Location"), blob.digest,
                                  blob.data[chunk:],
                                  headers={"Content-Range": f"{chunk}-{2 * chunk - 1}"})
    expect_status(response, 201)
    _served(repo, blob)


def test_push_chunk_out_of_order(repo: Repo) -> None:
    """A chunk whose Content-Range does not start at the current offset answers 416."""
    location, chunk = _open_chunked(repo)
    first = setup_step(_patch_chunk(repo, location, b"a" * chunk, 0), 202)
    response = _patch_chunk(repo, expect_header(first, "Location"), b"b" * chunk, 2 * chunk)
    expect_status(response, 416)


def test_upload_status(repo: Repo) -> None:
    """GET of an upload session answers 204 with Range (bytes so far) and Location."""
    patch = setup_step(repo.client.request("PATCH", repo.upload_location(), data=b"x" * 10,
                                           headers=_OCTETS), 202)
    response = repo.client.request("GET", expect_header(patch, "Location"))
    expect_status(response, 204)
    assert response.headers.get("Range") == "0-9", (
        f"upload status Range {response.headers.get('Range')!r}, expected '0-9'")
    expect_header(response, "Location")


def test_upload_cancel(repo: Repo) -> None:
    """DELETE of an upload session answers 204; the session is then 404 BLOB_UPLOAD_UNKNOWN."""
    patch = setup_step(repo.client.request("PATCH", repo.upload_location(), data=b"x" * 10,
                                           headers=_OCTETS), 202)
    location = expect_header(patch, "Location")
    expect_status(repo.client.request("DELETE", location), 204)
    expect_error(repo.client.request("GET", location), 404, "BLOB_UPLOAD_UNKNOWN")


def test_mount_from(repo: Repo, other_repo: Repo) -> None:
    """POST ?mount=&from= of a blob in another repository answers 201 with Location."""
    blob = content.random_blob()
    other_repo.push_blob(blob)
    response = repo.start_upload({"mount": str(blob.digest), "from": other_repo.name})
    if response.status_code == 202:
        unsupported("cross-repository mount answered 202 (a plain upload session)")
    expect_status(response, 201)
    expect_header(response, "Location")
    _served(repo, blob)


def test_mount_missing_blob(repo: Repo, other_repo: Repo) -> None:
    """A mount of a blob that ``from`` does not hold answers 202 (a session), never 201."""
    other_repo.push_blob(content.random_blob())  # the source repository exists
    absent = content.random_blob()
    response = repo.start_upload({"mount": str(absent.digest), "from": other_repo.name})
    expect_status(response, 202)
    expect_header(response, "Location")


def test_mount_without_from(repo: Repo, other_repo: Repo) -> None:
    """POST ?mount= without from answers 201 (mounted) or 202 (a session), never an error."""
    blob = content.random_blob()
    other_repo.push_blob(blob)
    response = repo.start_upload({"mount": str(blob.digest)})
    if response.status_code not in {201, 202}:
        raise AssertionError(f"{describe(response)}: ?mount= without from must not be an error")
    expect_header(response, "Location")


def test_mount_unknown_from(repo: Repo) -> None:
    """POST ?mount=&from=<a repository that does not exist> answers 202: an upload session."""
    blob = content.random_blob()
    response = repo.start_upload({"mount": str(blob.digest), "from": f"{repo.name}-absent"})
    expect_status(response, 202)
    expect_header(response, "Location")
