"""Push flows: monolithic, POST+PUT, streamed and chunked PATCH, status, cancel, mount."""

from __future__ import annotations

import requests

from conformance import content
from conformance.content import Blob
from conformance.expect import (
    SetupFailed,
    describe,
    expect_error,
    expect_header,
    expect_status,
    setup_step,
    unsupported,
)
from conformance.repo import Repo
from conformance.rules import DOCKER, may, must, should

_CHUNKS = "Pushing a blob in chunks"
_MOUNT = "Mounting a blob from another repository"
_MOUNT_202 = ("Alternatively, if a registry does not support cross-repository mounting or is "
              "unable to mount the requested blob, it SHOULD return a 202. This indicates that "
              "the upload session has begun.")

_OCTETS = {"Content-Type": "application/octet-stream"}


def _served(repo: Repo, blob: Blob) -> None:
    response = repo.get_blob(blob.digest)
    expect_status(response, 200)
    assert response.content == blob.data, "the uploaded blob is served with other bytes"


@may("Single POST", "Registries MAY support pushing blobs using a single POST request "
     "(POST ?digest= with the body: 201 Created and Location); otherwise the POST opens a "
     "session (202).")
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


@must("POST then PUT", "POST /v2/<name>/blobs/uploads/ answers 202 Accepted with Location; "
      "the PUT <location>?digest= with the blob MUST answer 201 Created with a Location header.")
def test_push_post_put(repo: Repo) -> None:
    """POST (202 + Location) then PUT <Location>?digest= with the body answers 201 + Location."""
    blob = content.random_blob()
    start = repo.start_upload()
    expect_status(start, 202)
    response = repo.finish_upload(expect_header(start, "Location"), blob.digest, blob.data)
    expect_status(response, 201)
    expect_header(response, "Location")
    _served(repo, blob)


@must("Stream upload (PATCH without Content-Range)", "A PATCH without Content-Range appends "
      "its body to the upload and answers 202 Accepted with Range: 0-<offset>; containers/image "
      "pushes every blob this way.", DOCKER)
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
    location = response.headers.get("Location")
    if not location:
        raise SetupFailed(f"setup step {describe(response)} gave no Location")
    return location, max(30, minimum)


def _patch_chunk(repo: Repo, location: str, data: bytes, start: int) -> requests.Response:
    end = start + len(data) - 1
    return repo.client.request("PATCH", location, data=data, headers={
        **_OCTETS, "Content-Range": f"{start}-{end}", "Content-Length": str(len(data))})


def _first_chunk(repo: Repo, location: str, data: bytes) -> str:
    """Send the first chunk as a preparation, asking no more of the answer than success: a
    PATCH that answers another 2xx than 202 (its own check's business) does not stop the
    checks that only need bytes in the session. Returns the location to go on with."""
    response = _patch_chunk(repo, location, data, 0)
    if not response.ok:
        raise SetupFailed(f"setup step {describe(response)}: the first chunk was not accepted")
    return response.headers.get("Location") or location


@must(_CHUNKS, "Each successful chunk upload MUST have a 202 Accepted response code, and MUST "
      "have the following headers: Location, Range: 0-<end-of-range>.")
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


@must(_CHUNKS, "The final chunk MAY be uploaded using a PATCH request or it MAY be uploaded in "
      "the closing PUT request; the response to a successful closing of the session MUST be "
      "201 Created.")
def test_push_chunked_final_put(repo: Repo) -> None:
    """The last chunk may travel in the closing PUT, with its Content-Range."""
    location, chunk = _open_chunked(repo)
    blob = content.random_blob(2 * chunk)
    location = _first_chunk(repo, location, blob.data[:chunk])
    response = repo.finish_upload(location, blob.digest, blob.data[chunk:],
                                  headers={"Content-Range": f"{chunk}-{2 * chunk - 1}"})
    expect_status(response, 201)
    _served(repo, blob)


_IN_ORDER = ("Chunks MUST be uploaded in order, with the first byte of a chunk being the last "
             "chunk's <end-of-range> plus one. If a chunk is uploaded out of order, the registry "
             "MUST respond with a 416 Requested Range Not Satisfiable code.")


@must(_CHUNKS, _IN_ORDER)
def test_push_chunk_out_of_order(repo: Repo) -> None:
    """A first chunk whose Content-Range does not start at offset 0 answers 416."""
    location, chunk = _open_chunked(repo)
    expect_status(_patch_chunk(repo, location, b"b" * chunk, chunk), 416)


@must(_CHUNKS, _IN_ORDER)
def test_push_chunk_retry(repo: Repo) -> None:
    """Re-sending a chunk the session already holds (a retry) answers 416."""
    location, chunk = _open_chunked(repo)
    data = b"a" * chunk
    _first_chunk(repo, location, data)
    expect_status(_patch_chunk(repo, location, data, 0), 416)


_STATUS = ("To get the current status after a 416 error, issue a GET request to a URL "
           "<location> (obtained from any preceding POST or PATCH request). The response to an "
           "active upload <location> MUST be a 204 No Content response code, and MUST have the "
           "following headers: Location, Range: 0-<end-of-range>.")


def _expect_upload_status(response: requests.Response, sent: int) -> None:
    expect_status(response, 204)
    assert response.headers.get("Range") == f"0-{sent - 1}", (
        f"{describe(response)}: Range {response.headers.get('Range')!r}, expected '0-{sent - 1}'")
    expect_header(response, "Location")


@must(_CHUNKS, _STATUS)
def test_upload_status(repo: Repo) -> None:
    """GET of an upload session after a chunk answers 204 with Range (bytes so far) and Location."""
    location, chunk = _open_chunked(repo)
    location = _first_chunk(repo, location, b"x" * chunk)
    _expect_upload_status(repo.client.request("GET", location), chunk)


@must(_CHUNKS, _STATUS)
def test_upload_status_stale(repo: Repo) -> None:
    """GET of the Location the POST gave, after a chunk was sent, answers 204 with the Range."""
    location, chunk = _open_chunked(repo)
    _first_chunk(repo, location, b"x" * chunk)
    _expect_upload_status(repo.client.request("GET", location), chunk)


@must("Canceling an upload", "DELETE of an upload session answers 204 No Content; the "
      "session is then unknown (404 BLOB_UPLOAD_UNKNOWN).", DOCKER)
def test_upload_cancel(repo: Repo) -> None:
    """DELETE of an upload session answers 204; the session is then 404 BLOB_UPLOAD_UNKNOWN."""
    location = repo.upload_location()
    expect_status(repo.client.request("DELETE", location), 204)
    expect_error(repo.client.request("GET", location), 404, "BLOB_UPLOAD_UNKNOWN")


@may(_MOUNT, "The response to a successful mount MUST be 201 Created, and MUST contain the "
     "following header: Location; a registry that does not mount answers 202 (a session).")
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


@should(_MOUNT, _MOUNT_202)
def test_mount_missing_blob(repo: Repo, other_repo: Repo) -> None:
    """A mount of a blob that ``from`` does not hold answers 202 (a session), never 201."""
    other_repo.push_blob(content.random_blob())  # the source repository exists
    absent = content.random_blob()
    response = repo.start_upload({"mount": str(absent.digest), "from": other_repo.name})
    expect_status(response, 202)
    expect_header(response, "Location")


@should(_MOUNT, "The registry MAY treat the from parameter as optional, and it MAY "
        "cross-mount the blob if it can be found. " + _MOUNT_202)
def test_mount_without_from(repo: Repo, other_repo: Repo) -> None:
    """POST ?mount= without from answers 201 (mounted) or 202 (a session), never an error."""
    blob = content.random_blob()
    other_repo.push_blob(blob)
    response = repo.start_upload({"mount": str(blob.digest)})
    if response.status_code not in {201, 202}:
        raise AssertionError(f"{describe(response)}: ?mount= without from must not be an error")
    expect_header(response, "Location")


@should(_MOUNT, _MOUNT_202)
def test_mount_unknown_from(repo: Repo) -> None:
    """POST ?mount=&from=<a repository that does not exist> answers 202: an upload session."""
    blob = content.random_blob()
    response = repo.start_upload({"mount": str(blob.digest), "from": f"{repo.name}-absent"})
    expect_status(response, 202)
    expect_header(response, "Location")
