"""The distribution-2.8 profile answers like the real Debian docker-registry 2.8.2.

Each observation is a small scenario that returns what a client can see (statuses, error
codes, headers). It runs against the real registry and against the fake with the
``distribution-2.8`` profile; the two answers must be equal. The same scenarios against
the ``spec`` profile document where the spec and distribution differ.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests

from fakeregistry import Registry, serve
from harness.model import mediatype
from harness.model.digest import Digest
from harness.peers.launchers import RunningRegistry
from tests._support.fakeregistry_helpers import Client

Observation = Callable[[Client, str], object]
DATA = b"parity" * 50
DIGEST = Digest.from_bytes(DATA)


def _code(response: requests.Response) -> tuple[int, str | None]:
    try:
        return response.status_code, response.json()["errors"][0]["code"]
    except (ValueError, KeyError, IndexError, TypeError):
        return response.status_code, None


def _session(client: Client, repo: str) -> str:
    location: str = client.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    return location


def tags_ignore_n_and_last(client: Client, repo: str) -> object:
    body = client.image_manifest(repo)
    for tag in ("b", "a", "c"):
        client.push_manifest(repo, tag, body)
    response = client.request("GET", f"/v2/{repo}/tags/list", params={"n": 1, "last": "a"})
    return sorted(response.json()["tags"]), "Link" in response.headers


def chunk_with_wrong_content_range(client: Client, repo: str) -> object:
    location = _session(client, repo)
    response = client.request("PATCH", location, data=DATA[:10],
                              headers={"Content-Range": "5-24"})
    return response.status_code, response.headers.get("Range")


def monolithic_post(client: Client, repo: str) -> object:
    response = client.request("POST", f"/v2/{repo}/blobs/uploads/",
                              params={"digest": str(DIGEST)}, data=DATA)
    head = client.request("HEAD", f"/v2/{repo}/blobs/{DIGEST}")
    return response.status_code, head.status_code


def delete_by_tag(client: Client, repo: str) -> object:
    client.push_image(repo, "v1")
    return _code(client.request("DELETE", f"/v2/{repo}/manifests/v1"))


def oci_manifest_without_accept(client: Client, repo: str) -> object:
    client.push_image(repo, "v1")
    return _code(requests.get(f"{client.url}/v2/{repo}/manifests/v1",
                              headers={"Accept": mediatype.DOCKER_V2S2_MANIFEST}))


def _push_schema2(client: Client, repo: str) -> Digest:
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [str(DIGEST)]},
                         "history": [{"created": "2020-01-01T00:00:00Z", "created_by": "x"},
                                     {"created": "2020-01-01T00:00:01Z", "created_by": "y",
                                      "empty_layer": True}]}).encode()
    config_digest = client.push_blob(repo, config)
    layer = client.push_blob(repo, DATA)
    body = json.dumps({
        "schemaVersion": 2, "mediaType": mediatype.DOCKER_V2S2_MANIFEST,
        "config": {"mediaType": mediatype.DOCKER_CONFIG, "digest": str(config_digest),
                   "size": len(config)},
        "layers": [{"mediaType": mediatype.DOCKER_LAYER_GZIP, "digest": str(layer),
                    "size": len(DATA)}]}).encode()
    assert client.push_manifest(repo, "v1", body, mediatype.DOCKER_V2S2_MANIFEST).ok
    return Digest.from_bytes(body)


def schema2_for_clients_without_schema2(client: Client, repo: str) -> object:
    digest = _push_schema2(client, repo)
    seen = []
    for reference in ("v1", str(digest)):
        for accept in ("*/*", mediatype.OCI_MANIFEST):
            got = requests.get(f"{client.url}/v2/{repo}/manifests/{reference}",
                               headers={"Accept": accept})
            body = got.json()
            layers = [layer["blobSum"] for layer in body.get("fsLayers", [])]
            blobs = [client.request("HEAD", f"/v2/{repo}/blobs/{d}").status_code
                     for d in layers]
            seen.append((got.status_code, got.headers["Content-Type"],
                         body.get("name"), body.get("tag"), layers, blobs,
                         got.headers["Docker-Content-Digest"] == str(digest)))
    return seen


def list_for_clients_without_lists(client: Client, repo: str) -> object:
    child = _push_schema2(client, repo)
    size = len(client.request("GET", f"/v2/{repo}/manifests/{child}").content)
    entry = {"mediaType": mediatype.DOCKER_V2S2_MANIFEST, "digest": str(child), "size": size}
    listing = json.dumps({"schemaVersion": 2, "mediaType": mediatype.DOCKER_MANIFEST_LIST,
                          "manifests": [
                              {**entry, "platform": {"architecture": "arm64", "os": "linux"}},
                              {**entry, "platform": {"architecture": "amd64", "os": "linux"}},
                          ]}).encode()
    client.push_manifest(repo, "list", listing, mediatype.DOCKER_MANIFEST_LIST)
    seen = []
    for accept in (mediatype.DOCKER_V2S2_MANIFEST, "*/*", mediatype.DOCKER_MANIFEST_LIST):
        got = requests.get(f"{client.url}/v2/{repo}/manifests/list", headers={"Accept": accept})
        seen.append((got.status_code, got.headers["Content-Type"],
                     got.json().get("tag"), got.headers["Docker-Content-Digest"] == str(child)))
    return seen


def tags_of_repository_without_tags(client: Client, repo: str) -> object:
    client.push_blob(repo, DATA)
    return _code(client.request("GET", f"/v2/{repo}/tags/list"))


def tags_of_unknown_repository(client: Client, repo: str) -> object:
    return _code(client.request("GET", f"/v2/{repo}/tags/list"))


def oversize_manifest(client: Client, repo: str) -> object:
    return _code(client.push_manifest(repo, "v1", b" " * (4 * 1024 * 1024 + 1)))


def mount_without_from_and_unknown_from(client: Client, repo: str) -> object:
    plain = client.request("POST", f"/v2/{repo}/blobs/uploads/", params={"mount": str(DIGEST)})
    unknown = client.request("POST", f"/v2/{repo}/blobs/uploads/",
                             params={"mount": str(DIGEST), "from": f"{repo}-none"})
    return plain.status_code, unknown.status_code


def mount_from_readable_repository(client: Client, repo: str) -> object:
    client.push_blob(repo, DATA)
    response = client.request("POST", f"/v2/{repo}-copy/blobs/uploads/",
                              params={"mount": str(DIGEST), "from": repo})
    return response.status_code, response.headers.get("Docker-Content-Digest")


def upload_with_wrong_digest(client: Client, repo: str) -> object:
    location = _session(client, repo)
    response = client.request("PUT", location, params={"digest": str(Digest.from_bytes(b"x"))},
                              data=DATA)
    return _code(response), client.request("HEAD", f"/v2/{repo}/blobs/{DIGEST}").status_code


def manifest_with_missing_blob(client: Client, repo: str) -> object:
    body = json.loads(client.image_manifest(repo))
    body["layers"][0]["digest"] = str(Digest.from_bytes(b"missing"))
    return _code(client.push_manifest(repo, "v1", json.dumps(body).encode()))


def manifest_put_by_other_digest(client: Client, repo: str) -> object:
    body = client.image_manifest(repo)
    return _code(client.push_manifest(repo, str(Digest.from_bytes(b"other")), body))


def unparseable_manifest(client: Client, repo: str) -> object:
    return _code(client.push_manifest(repo, "v1", b"{not json"))


def invalid_tag(client: Client, repo: str) -> object:
    body = client.image_manifest(repo)
    return _code(client.push_manifest(repo, "-bad", body))


def invalid_name(client: Client, repo: str) -> object:
    return _code(client.request("GET", f"/v2/{repo.upper()}/tags/list"))


def read_by_invalid_reference(client: Client, repo: str) -> object:
    client.push_image(repo, "v1")
    path = f"/v2/{repo}/manifests/.INVALID_MANIFEST_NAME"
    got = client.request("GET", path)
    return got.status_code, got.text, client.request("HEAD", path).status_code


def manifest_with_subject(client: Client, repo: str) -> object:
    subject, body = client.push_image(repo, "v1")
    descriptor = {"mediaType": mediatype.OCI_MANIFEST, "digest": str(subject),
                  "size": len(body)}
    put = client.push_manifest(repo, "sig", client.image_manifest(repo, layer=b"sig",
                                                                  subject=descriptor))
    return put.status_code, put.headers.get("OCI-Subject")


def upload_after_a_wrong_digest(client: Client, repo: str) -> object:
    """The session outlives a PUT with the wrong digest (found by the differential test)."""
    location = client.request("PATCH", _session(client, repo), data=DATA).headers["Location"]
    wrong = client.request("PUT", location, params={"digest": str(Digest.from_bytes(b"x"))})
    status = client.request("GET", location)
    right = client.request("PUT", location, params={"digest": str(DIGEST)})
    return _code(wrong), status.status_code, status.headers.get("Range"), right.status_code


def manifest_put_without_a_type(client: Client, repo: str) -> object:
    """An empty or generic Content-Type means signed schema1 to distribution 2.x."""
    body = client.image_manifest(repo)
    return [_code(client.push_manifest(repo, "v1", body, media_type))
            for media_type in ("", "application/json")]


def manifest_of_unknown_repository(client: Client, repo: str) -> object:
    return [_code(client.request(method, f"/v2/{repo}/manifests/{reference}"))
            for method, reference in (("GET", "v1"), ("DELETE", str(DIGEST)))]


def json_bytes(client: Client, repo: str) -> object:
    """Content-Type and bytes of the JSON answers (compact, a newline, charset)."""
    client.push_image(repo, "v1")
    return [(got.headers["Content-Type"], got.content) for got in (
        client.request("GET", "/v2/"), client.request("GET", f"/v2/{repo}/tags/list"))]


def unknown_route(client: Client, repo: str) -> object:
    response = client.request("GET", f"/v2/{repo}/nothing")
    return response.status_code, response.text


def referrers_absent(client: Client, repo: str) -> object:
    digest, _ = client.push_image(repo, "v1")
    response = client.request("GET", f"/v2/{repo}/referrers/{digest}")
    return response.status_code, response.text


def range_requests(client: Client, repo: str) -> object:
    client.push_blob(repo, DATA)
    part = client.request("GET", f"/v2/{repo}/blobs/{DIGEST}", headers={"Range": "bytes=2-5"})
    return part.status_code, part.headers.get("Content-Range"), part.content


def upload_status_and_cancel(client: Client, repo: str) -> object:
    location = _session(client, repo)
    location = client.request("PATCH", location, data=DATA).headers["Location"]
    status = client.request("GET", location)
    cancelled = client.request("DELETE", location)
    return (status.status_code, status.headers.get("Range"), cancelled.status_code,
            _code(client.request("GET", location)))


def delete_by_digest(client: Client, repo: str) -> object:
    digest, _ = client.push_image(repo, "v1")
    deleted = client.request("DELETE", f"/v2/{repo}/manifests/{digest}")
    accept = {"Accept": mediatype.OCI_MANIFEST}
    return (deleted.status_code, _code(client.request("GET", f"/v2/{repo}/manifests/v1",
                                                      headers=accept)),
            _code(client.request("GET", f"/v2/{repo}/manifests/{digest}", headers=accept)))


def blob_delete(client: Client, repo: str) -> object:
    client.push_blob(repo, DATA)
    deleted = client.request("DELETE", f"/v2/{repo}/blobs/{DIGEST}")
    return deleted.status_code, client.request("HEAD", f"/v2/{repo}/blobs/{DIGEST}").status_code


OBSERVATIONS: list[Observation] = [
    tags_ignore_n_and_last, chunk_with_wrong_content_range, monolithic_post, delete_by_tag,
    oci_manifest_without_accept, tags_of_repository_without_tags, tags_of_unknown_repository,
    oversize_manifest, mount_without_from_and_unknown_from, mount_from_readable_repository,
    upload_with_wrong_digest, manifest_with_missing_blob, manifest_put_by_other_digest,
    unparseable_manifest, invalid_tag, invalid_name, unknown_route, range_requests,
    upload_status_and_cancel, delete_by_digest, blob_delete, referrers_absent,
    schema2_for_clients_without_schema2, list_for_clients_without_lists,
    read_by_invalid_reference, manifest_with_subject, upload_after_a_wrong_digest,
    manifest_put_without_a_type, manifest_of_unknown_repository, json_bytes,
]


@pytest.fixture(scope="module")
def fake_28() -> Iterator[str]:
    with serve(Registry("distribution-2.8")) as server:
        yield server.url


@pytest.mark.parametrize("observe", OBSERVATIONS, ids=lambda f: f.__name__)
def test_distribution_28_profile_matches_the_real_registry(
        observe: Observation, distribution: RunningRegistry, fake_28: str) -> None:
    repo = f"parity/{observe.__name__.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    real = observe(Client(distribution.url, requests.Session()), repo)
    fake = observe(Client(fake_28, requests.Session()), repo)
    assert fake == real
