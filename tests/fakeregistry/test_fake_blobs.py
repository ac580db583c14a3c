"""Blobs and uploads: sessions, streamed and chunked PATCH, PUT, mount, range GET, delete."""

from __future__ import annotations

import io

import pytest
import requests

from fakeregistry import PROFILES, Registry, inprocess
from harness.model.digest import Digest
from tests._support.fakeregistry_helpers import Client, error_code

DATA = b"0123456789" * 100
DIGEST = Digest.from_bytes(DATA)


def _session(client: Client, repo: str = "a/b") -> str:
    response = client.request("POST", f"/v2/{repo}/blobs/uploads/")
    assert response.status_code == 202
    assert response.headers["Range"] == "0-0"
    assert response.headers["Docker-Upload-UUID"] in response.headers["Location"]
    return response.headers["Location"]


def test_ping_announces_the_api_version(client: Client) -> None:
    response = client.request("GET", "/v2/")
    assert response.status_code == 200
    assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"


def test_monolithic_post_then_get_and_head(client: Client) -> None:
    response = client.request("POST", "/v2/a/b/blobs/uploads/",
                              params={"digest": str(DIGEST)}, data=DATA)
    assert response.status_code == 201
    assert response.headers["Location"] == f"/v2/a/b/blobs/{DIGEST}"
    got = client.request("GET", f"/v2/a/b/blobs/{DIGEST}")
    assert got.content == DATA
    assert got.headers["Docker-Content-Digest"] == str(DIGEST)
    head = client.request("HEAD", f"/v2/a/b/blobs/{DIGEST}")
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(DATA))
    assert head.content == b""


def test_streamed_patch_from_a_generator_and_a_file(client: Client) -> None:
    location = _session(client)
    response = client.request("PATCH", location, data=iter([DATA[:10], DATA[10:500]]))
    assert response.status_code == 202
    assert response.headers["Range"] == "0-499"
    response = client.request("PATCH", location, data=io.BytesIO(DATA[500:]))
    assert response.headers["Range"] == f"0-{len(DATA) - 1}"
    status = client.request("GET", location)
    assert status.status_code == 204
    assert status.headers["Range"] == f"0-{len(DATA) - 1}"
    assert status.headers["Location"] == location
    done = client.request("PUT", location, params={"digest": str(DIGEST)})
    assert done.status_code == 201
    assert done.headers["Docker-Content-Digest"] == str(DIGEST)
    assert client.request("GET", f"/v2/a/b/blobs/{DIGEST}").content == DATA


def test_chunks_with_content_range_and_final_body_on_put(client: Client) -> None:
    location = _session(client)
    first = client.request("PATCH", location, data=DATA[:400],
                           headers={"Content-Range": "0-399"})
    assert first.status_code == 202
    done = client.request("PUT", location, params={"digest": str(DIGEST)}, data=DATA[400:],
                          headers={"Content-Range": f"400-{len(DATA) - 1}"})
    assert done.status_code == 201
    assert client.request("GET", f"/v2/a/b/blobs/{DIGEST}").content == DATA


def test_out_of_order_chunk_is_range_invalid(client: Client) -> None:
    location = _session(client)
    client.request("PATCH", location, data=DATA[:10], headers={"Content-Range": "0-9"})
    response = client.request("PATCH", location, data=DATA[20:30],
                              headers={"Content-Range": "20-29"})
    assert response.status_code == 416
    assert error_code(response) == "RANGE_INVALID"


@pytest.mark.parametrize("content_range", ["0-" + "9" * 5000, "9-x", "5-2"])
def test_content_range_that_is_no_span_is_range_invalid(client: Client,
                                                        content_range: str) -> None:
    response = client.request("PATCH", _session(client), data=DATA[:10],
                              headers={"Content-Range": content_range})
    assert response.status_code == 416
    assert error_code(response) == "RANGE_INVALID"


def test_distribution_28_ignores_content_range_and_monolithic_post() -> None:
    with inprocess(Registry(PROFILES["distribution-2.8"])) as url:
        location = requests.post(f"{url}/v2/a/blobs/uploads/").headers["Location"]
        response = requests.patch(url + location, data=b"x" * 10,
                                  headers={"Content-Range": "5-24"})
        assert response.status_code == 202
        assert response.headers["Range"] == "0-9"
        mono = requests.post(f"{url}/v2/a/blobs/uploads/", params={"digest": str(DIGEST)},
                             data=DATA)
        assert mono.status_code == 202
        assert requests.head(f"{url}/v2/a/blobs/{DIGEST}").status_code == 404


def test_chunk_length_disagreeing_with_content_range_is_size_invalid(client: Client) -> None:
    location = _session(client)
    response = client.request("PATCH", location, data=DATA[:10],
                              headers={"Content-Range": "0-19"})
    assert response.status_code == 400
    assert error_code(response) == "SIZE_INVALID"


def test_wrong_digest_is_refused_and_never_visible(client: Client) -> None:
    location = _session(client)
    client.request("PATCH", location, data=DATA)
    wrong = Digest.from_bytes(b"other")
    response = client.request("PUT", location, params={"digest": str(wrong)})
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert client.request("HEAD", f"/v2/a/b/blobs/{wrong}").status_code == 404
    assert client.request("HEAD", f"/v2/a/b/blobs/{DIGEST}").status_code == 404


@pytest.mark.parametrize("digest", ["", "sha256:xyz", "nocolon", "sha384:" + "a" * 96])
def test_put_without_a_valid_digest_is_digest_invalid(client: Client, digest: str) -> None:
    location = _session(client)
    params = {"digest": digest} if digest else {}
    response = client.request("PUT", location, params=params, data=DATA)
    assert error_code(response) == "DIGEST_INVALID"


def test_cancelled_upload_is_gone(client: Client) -> None:
    location = _session(client)
    client.request("PATCH", location, data=DATA)
    assert client.request("DELETE", location).status_code == 204
    response = client.request("GET", location)
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"
    assert client.request("HEAD", f"/v2/a/b/blobs/{DIGEST}").status_code == 404


def test_session_of_another_repository_is_unknown(client: Client) -> None:
    location = _session(client, "a/b")
    response = client.request("PATCH", location.replace("/a/b/", "/other/"), data=b"x")
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"


def test_range_get(client: Client) -> None:
    client.push_blob("a/b", DATA)
    part = client.request("GET", f"/v2/a/b/blobs/{DIGEST}", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == DATA[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(DATA)}"
    bad = client.request("GET", f"/v2/a/b/blobs/{DIGEST}",
                         headers={"Range": f"bytes={len(DATA) + 5}-"})
    assert bad.status_code == 416
    assert bad.headers["Content-Range"] == f"bytes */{len(DATA)}"


def test_blob_is_visible_only_in_its_repository(client: Client) -> None:
    client.push_blob("a/b", DATA)
    response = client.request("GET", f"/v2/other/blobs/{DIGEST}")
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UNKNOWN"


def test_delete_blob(client: Client) -> None:
    client.push_blob("a/b", DATA)
    assert client.request("DELETE", f"/v2/a/b/blobs/{DIGEST}").status_code == 202
    assert client.request("HEAD", f"/v2/a/b/blobs/{DIGEST}").status_code == 404
    assert error_code(client.request("DELETE", f"/v2/a/b/blobs/{DIGEST}")) == "BLOB_UNKNOWN"


def test_mount_from_a_readable_repository(client: Client) -> None:
    client.push_blob("src", DATA)
    response = client.request("POST", "/v2/dst/blobs/uploads/",
                              params={"mount": str(DIGEST), "from": "src"})
    assert response.status_code == 201
    assert response.headers["Docker-Content-Digest"] == str(DIGEST)
    assert client.request("GET", f"/v2/dst/blobs/{DIGEST}").content == DATA


@pytest.mark.parametrize("params", [{"from": "src"}, {"from": "nowhere"}, {}])
def test_mount_that_cannot_happen_is_a_normal_session(client: Client,
                                                      params: dict[str, str]) -> None:
    client.push_blob("elsewhere", DATA)
    response = client.request("POST", "/v2/dst/blobs/uploads/",
                              params={"mount": str(DIGEST), **params})
    assert response.status_code == 202
    assert "/blobs/uploads/" in response.headers["Location"]


def test_ecr_mounts_only_referenced_blobs() -> None:
    registry = Registry("ecr")
    with inprocess(registry) as url, requests.Session() as session:
        client = Client(url, session)
        client.push_blob("src", DATA)
        mount = {"mount": str(DIGEST), "from": "src"}
        assert client.request("POST", "/v2/dst/blobs/uploads/", params=mount).status_code == 202
        client.push_image("src", "v1", layer=DATA)
        assert client.request("POST", "/v2/dst/blobs/uploads/", params=mount).status_code == 201


def test_quay_and_harbor_mount_quirks() -> None:
    for profile, params, status in [("quay", {}, 400), ("harbor", {"from": "nowhere"}, 401)]:
        with inprocess(Registry(profile)) as url:
            response = requests.post(f"{url}/v2/dst/blobs/uploads/",
                                     params={"mount": str(DIGEST), **params})
            assert response.status_code == status, profile


def test_chunk_min_length_is_advertised() -> None:
    with inprocess(Registry(PROFILES["spec"].replace(chunk_min_length=1024))) as url:
        response = requests.post(f"{url}/v2/a/blobs/uploads/")
        assert response.headers["OCI-Chunk-Min-Length"] == "1024"


def test_sha512_upload(client: Client) -> None:
    digest = Digest.from_bytes(DATA, "sha512")
    response = client.request("POST", "/v2/a/blobs/uploads/", params={"digest": str(digest)},
                              data=DATA)
    assert response.status_code == 201
    assert client.request("GET", f"/v2/a/blobs/{digest}").content == DATA


def test_delete_disabled_is_unsupported() -> None:
    with inprocess(Registry(PROFILES["spec"].replace(delete=False))) as url:
        requests.post(f"{url}/v2/a/blobs/uploads/", params={"digest": str(DIGEST)}, data=DATA)
        response = requests.delete(f"{url}/v2/a/blobs/{DIGEST}")
        assert response.status_code == 405
        assert error_code(response) == "UNSUPPORTED"
