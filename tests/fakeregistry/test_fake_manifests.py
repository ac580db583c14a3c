"""Manifests, tags, catalog and referrers."""

from __future__ import annotations

import json

import pytest
import requests

from fakeregistry import PROFILES, Registry, inprocess
from harness.model import mediatype, schema1
from harness.model.digest import Digest
from tests._support.fakeregistry_helpers import Client, error_code


def test_put_then_get_by_tag_and_digest(client: Client) -> None:
    digest, body = client.push_image("a/b", "v1")
    assert digest == Digest.from_bytes(body)
    for reference in ("v1", str(digest)):
        got = client.request("GET", f"/v2/a/b/manifests/{reference}",
                             headers={"Accept": mediatype.OCI_MANIFEST})
        assert got.status_code == 200
        assert got.content == body
        assert got.headers["Content-Type"] == mediatype.OCI_MANIFEST
        assert got.headers["Docker-Content-Digest"] == str(digest)
    head = client.request("HEAD", "/v2/a/b/manifests/v1")
    assert head.headers["Content-Length"] == str(len(body))
    assert head.content == b""


def test_put_answers_location_and_digest(client: Client) -> None:
    body = client.image_manifest("a")
    response = client.push_manifest("a", "v1", body)
    assert response.status_code == 201
    digest = Digest.from_bytes(body)
    assert response.headers["Location"] == f"/v2/a/manifests/{digest}"
    assert response.headers["Docker-Content-Digest"] == str(digest)


def test_unaccepted_type_is_manifest_unknown(client: Client) -> None:
    client.push_image("a", "v1")
    response = client.request("GET", "/v2/a/manifests/v1",
                              headers={"Accept": mediatype.DOCKER_V2S2_MANIFEST})
    assert response.status_code == 404
    assert error_code(response) == "MANIFEST_UNKNOWN"


def test_distribution_28_needs_oci_in_accept(client: Client) -> None:
    registry = Registry("distribution-2.8")
    with inprocess(registry, "http://strict.fake") as url, requests.Session() as session:
        strict = Client(url, session)
        strict.push_image("a", "v1")
        session.headers.pop("Accept")
        assert strict.request("GET", "/v2/a/manifests/v1").status_code == 404


def test_put_by_digest_with_other_body_is_digest_invalid(client: Client) -> None:
    body = client.image_manifest("a")
    wrong = Digest.from_bytes(b"something else")
    response = client.push_manifest("a", str(wrong), body)
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    right = client.push_manifest("a", str(Digest.from_bytes(body)), body)
    assert right.status_code == 201


def test_missing_blob_is_manifest_blob_unknown(client: Client) -> None:
    body = json.loads(client.image_manifest("a"))
    body["layers"][0]["digest"] = str(Digest.from_bytes(b"never pushed"))
    response = client.push_manifest("a", "v1", json.dumps(body).encode())
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"


def test_index_with_missing_child_is_manifest_blob_unknown(client: Client) -> None:
    child, body = client.push_image("a", "child")
    index = {"schemaVersion": 2, "mediaType": mediatype.OCI_INDEX, "manifests": [
        {"mediaType": mediatype.OCI_MANIFEST, "digest": str(child), "size": len(body)}]}
    ok = client.push_manifest("a", "list", json.dumps(index).encode(), mediatype.OCI_INDEX)
    assert ok.status_code == 201
    index["manifests"][0]["digest"] = str(Digest.from_bytes(b"nope"))  # type: ignore[index]
    bad = client.push_manifest("a", "list", json.dumps(index).encode(), mediatype.OCI_INDEX)
    assert error_code(bad) == "MANIFEST_BLOB_UNKNOWN"


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"schemaVersion": 2}', b"[]"])
def test_unparseable_manifest_is_manifest_invalid(client: Client, body: bytes) -> None:
    response = client.push_manifest("a", "v1", body)
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_INVALID"


def test_manifest_over_4_mib_is_refused(client: Client) -> None:
    body = client.image_manifest("a", annotations={"big": "x" * (4 * 1024 * 1024)})
    response = client.push_manifest("a", "v1", body)
    assert response.status_code == 413
    assert error_code(response) == "SIZE_INVALID"


@pytest.mark.parametrize(("path", "code"), [("/v2/a/manifests/-bad", "TAG_INVALID"),
                                            ("/v2/UPPER/manifests/v1", "NAME_INVALID"),
                                            ("/v2/a//b/manifests/v1", "NAME_INVALID")])
def test_grammar_errors(client: Client, path: str, code: str) -> None:
    response = client.request("PUT", path, data=b"{}",
                              headers={"Content-Type": mediatype.OCI_MANIFEST})
    assert response.status_code == 400
    assert error_code(response) == code


def test_subject_is_echoed_and_listed_by_referrers(client: Client) -> None:
    subject, body = client.push_image("a", "v1")
    descriptor = {"mediaType": mediatype.OCI_MANIFEST, "digest": str(subject),
                  "size": len(body)}
    sbom, _ = client.push_image("a", "sbom", layer=b"sbom", subject=descriptor,
                                artifactType="application/spdx+json",
                                annotations={"org.example.kind": "sbom"})
    sig_body = client.image_manifest("a", layer=b"sig", subject=descriptor,
                                     artifactType="application/signature")
    put = client.push_manifest("a", str(Digest.from_bytes(sig_body)), sig_body)
    assert put.headers["OCI-Subject"] == str(subject)
    listed = client.request("GET", f"/v2/a/referrers/{subject}")
    assert listed.headers["Content-Type"] == mediatype.OCI_INDEX
    kinds = {m["artifactType"] for m in listed.json()["manifests"]}
    assert kinds == {"application/spdx+json", "application/signature"}
    filtered = client.request("GET", f"/v2/a/referrers/{subject}",
                              params={"artifactType": "application/spdx+json"})
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [(m["digest"], m["annotations"]) for m in filtered.json()["manifests"]] == [
        (str(sbom), {"org.example.kind": "sbom"})]
    unknown = client.request("GET", f"/v2/a/referrers/{Digest.from_bytes(b'x')}")
    assert unknown.status_code == 200
    assert unknown.json()["manifests"] == []


def test_delete_by_digest_removes_manifest_and_its_tags(client: Client) -> None:
    digest, _ = client.push_image("a", "v1")
    client.push_manifest("a", "v2", client.request("GET", "/v2/a/manifests/v1").content)
    assert client.request("DELETE", f"/v2/a/manifests/{digest}").status_code == 202
    for reference in ("v1", "v2", str(digest)):
        response = client.request("GET", f"/v2/a/manifests/{reference}")
        assert error_code(response) == "MANIFEST_UNKNOWN"
    assert client.request("GET", "/v2/a/tags/list").json()["tags"] == []


def test_delete_by_tag_removes_only_the_tag(client: Client) -> None:
    digest, _ = client.push_image("a", "v1")
    assert client.request("DELETE", "/v2/a/manifests/v1").status_code == 202
    assert client.request("GET", "/v2/a/manifests/v1").status_code == 404
    assert client.request("GET", f"/v2/a/manifests/{digest}").status_code == 200


def test_schema1_signed_manifest_is_verified(client: Client) -> None:
    layer = client.push_blob("a", b"layer")
    payload = json.dumps({
        "schemaVersion": 1, "name": "a", "tag": "v1", "architecture": "amd64",
        "fsLayers": [{"blobSum": str(layer)}],
        "history": [{"v1Compatibility": json.dumps({"id": "a" * 64})}],
    }, indent=3).encode()
    signed = schema1.sign(payload)
    ok = client.push_manifest("a", "v1", signed, mediatype.DOCKER_V2S1_SIGNED_MANIFEST)
    assert ok.status_code == 201, ok.text
    assert ok.headers["Docker-Content-Digest"] == str(Digest.from_bytes(schema1.payload(signed)))
    tampered = signed.replace(b'"tag": "v1"', b'"tag": "v2"')
    bad = client.push_manifest("a", "v2", tampered, mediatype.DOCKER_V2S1_SIGNED_MANIFEST)
    assert error_code(bad) == "MANIFEST_UNVERIFIED"
    strict = Registry("distribution-v3")
    with inprocess(strict, "http://v3.fake") as url:
        v3 = Client(url, requests.Session())
        v3.push_blob("a", b"layer")
        refused = v3.push_manifest("a", "v1", signed, mediatype.DOCKER_V2S1_SIGNED_MANIFEST)
        assert error_code(refused) == "MANIFEST_INVALID"


# -- tags and catalog ---------------------------------------------------------------------
TAGS = ["b", "a", "C", "c10", "c2"]


def _tagged(client: Client) -> None:
    body = client.image_manifest("t")
    for tag in TAGS:
        assert client.push_manifest("t", tag, body).status_code == 201


def test_tags_are_sorted_and_paginated(client: Client) -> None:
    _tagged(client)
    assert client.request("GET", "/v2/t/tags/list").json() == {"name": "t",
                                                               "tags": sorted(TAGS)}
    first = client.request("GET", "/v2/t/tags/list", params={"n": 2})
    assert first.json()["tags"] == ["C", "a"]
    assert first.headers["Link"] == '</v2/t/tags/list?n=2&last=a>; rel="next"'
    rest = client.request("GET", "/v2/t/tags/list", params={"n": 10, "last": "a"})
    assert rest.json()["tags"] == ["b", "c10", "c2"]
    assert "Link" not in rest.headers
    assert client.request("GET", "/v2/t/tags/list", params={"n": 0}).json()["tags"] == []


@pytest.mark.parametrize("path", ["/v2/t/tags/list", "/v2/_catalog"])
@pytest.mark.parametrize("n", ["x", "-1", "\u00b2", "\u0663", "9" * 5000])
def test_a_page_size_that_is_no_number_is_refused(client: Client, path: str, n: str) -> None:
    _tagged(client)
    bad = client.request("GET", path, params={"n": n})
    assert bad.status_code == 400
    assert error_code(bad) == "PAGINATION_NUMBER_INVALID"


def test_distribution_28_tag_list_ignores_pagination() -> None:
    with inprocess(Registry("distribution-2.8"), "http://d28.fake") as url:
        client = Client(url, requests.Session())
        _tagged(client)
        listed = client.request("GET", "/v2/t/tags/list", params={"n": 2, "last": "a"})
        assert sorted(listed.json()["tags"]) == sorted(TAGS)
        assert "Link" not in listed.headers


def test_unknown_repository_and_empty_tag_list(client: Client) -> None:
    assert error_code(client.request("GET", "/v2/none/tags/list")) == "NAME_UNKNOWN"
    client.push_blob("blobsonly", b"x")
    assert client.request("GET", "/v2/blobsonly/tags/list").json()["tags"] == []
    with inprocess(Registry("quay"), "http://quay.fake") as url:
        quay = Client(url, requests.Session())
        quay.push_blob("blobsonly", b"x")
        assert error_code(quay.request("GET", "/v2/blobsonly/tags/list")) == "NAME_UNKNOWN"


def test_catalog_is_sorted_and_paginated(client: Client) -> None:
    for repo in ("z", "a/b", "m"):
        client.push_blob(repo, b"x")
    assert client.request("GET", "/v2/_catalog").json() == {"repositories": ["a/b", "m", "z"]}
    page = client.request("GET", "/v2/_catalog", params={"n": 1, "last": "a/b"})
    assert page.json()["repositories"] == ["m"]
    assert page.headers["Link"] == '</v2/_catalog?n=1&last=m>; rel="next"'


def test_tag_page_limit_caps_n() -> None:
    profile = PROFILES["spec"].replace(tag_page_limit=2)
    with inprocess(Registry(profile), "http://cap.fake") as url:
        client = Client(url, requests.Session())
        _tagged(client)
        assert len(client.request("GET", "/v2/t/tags/list").json()["tags"]) == 2
        assert len(client.request("GET", "/v2/t/tags/list?n=4").json()["tags"]) == 2


def test_unknown_route_and_method(client: Client) -> None:
    assert client.request("GET", "/v3/").status_code == 404
    response = client.request("PATCH", "/v2/a/manifests/v1")
    assert response.status_code == 405
    assert error_code(response) == "UNSUPPORTED"


LARGE_CONFIG = json.dumps({
    "architecture": "amd64", "os": "linux", "config": {"Env": ["X=" + "x" * 3000]},
    "rootfs": {"type": "layers", "diff_ids": [str(Digest.from_bytes(b"layer"))]},
    "history": [{"created_by": "x"}]}).encode()


@pytest.mark.parametrize("config_blob", [b"not a config", LARGE_CONFIG],
                         ids=["bogus", "over-the-manifest-limit"])
def test_schema2_whose_config_cannot_be_read_cannot_become_schema1(config_blob: bytes) -> None:
    """A config that is no config, or one too large to read whole, gives no schema1."""
    profile = PROFILES["distribution-2.8"].replace(manifest_size_limit=2000)
    with inprocess(Registry(profile), "http://bogus.fake") as url:
        client = Client(url, requests.Session())
        config = client.push_blob("a", config_blob)
        layer = client.push_blob("a", b"layer")
        body = json.dumps({
            "schemaVersion": 2, "mediaType": mediatype.DOCKER_V2S2_MANIFEST,
            "config": {"mediaType": mediatype.DOCKER_CONFIG, "digest": str(config),
                       "size": len(config_blob)},
            "layers": [{"mediaType": mediatype.DOCKER_LAYER_GZIP, "digest": str(layer),
                        "size": 5}]}).encode()
        assert client.push_manifest("a", "v1", body, mediatype.DOCKER_V2S2_MANIFEST).ok
        response = client.request("GET", "/v2/a/manifests/v1")
        assert response.status_code == 400
        assert error_code(response) == "MANIFEST_INVALID"
        by_digest = client.request("GET", f"/v2/a/manifests/{Digest.from_bytes(body)}")
        assert by_digest.content == body


@pytest.mark.parametrize("reference", [".INVALID_MANIFEST_NAME", "-bad", "x" * 129,
                                       "sha256:abc"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_reading_by_an_invalid_reference_is_manifest_unknown(
        client: Client, method: str, reference: str) -> None:
    """The OCI conformance suite's "GET nonexistent manifest" uses such a name; 404, as
    distribution answers (issue 14). A PUT by it stays 400 TAG_INVALID (above)."""
    client.push_image("a", "v1")
    response = client.request(method, f"/v2/a/manifests/{reference}")
    assert response.status_code == 404
    if method == "GET":
        assert error_code(response) == "MANIFEST_UNKNOWN"


@pytest.mark.parametrize(("profile", "echoed"), [("spec", True), ("distribution-2.8", False),
                                                 ("distribution-v3", False)])
def test_oci_subject_only_from_a_registry_with_the_referrers_api(profile: str,
                                                                  echoed: bool) -> None:
    """oras trusts OCI-Subject and then skips its referrers-tag fallback (issue 14)."""
    with inprocess(Registry(profile), f"http://{profile}.fake") as url:
        client = Client(url, requests.Session())
        subject, body = client.push_image("a", "v1")
        descriptor = {"mediaType": mediatype.OCI_MANIFEST, "digest": str(subject),
                      "size": len(body)}
        sig = client.image_manifest("a", layer=b"sig", subject=descriptor)
        put = client.push_manifest("a", "sig", sig)
        assert put.status_code == 201
        assert put.headers.get("OCI-Subject") == (str(subject) if echoed else None)


def test_ecr_preset_pages_tags_by_at_most_1000() -> None:
    """The ``ecr`` preset's claim (ECR's ListImages/tag list cap), through the preset."""
    with inprocess(Registry("ecr"), "http://ecr.fake") as url:
        client = Client(url, requests.Session())
        body = client.image_manifest("t")
        tags = [f"v{i:04d}" for i in range(1001)]
        for tag in tags:
            assert client.push_manifest("t", tag, body).status_code == 201
        for params in ({}, {"n": "5000"}):
            first = client.request("GET", "/v2/t/tags/list", params=params)
            assert first.json()["tags"] == tags[:1000]
            assert first.headers["Link"] == '</v2/t/tags/list?n=1000&last=v0999>; rel="next"'
        rest = client.request("GET", "/v2/t/tags/list", params={"n": 1000, "last": "v0999"})
        assert rest.json()["tags"] == ["v1000"]
        assert "Link" not in rest.headers


@pytest.mark.parametrize(("profile", "code"), [("quay", "NAME_UNKNOWN"), ("spec", None)])
def test_quay_preset_answers_404_for_a_repository_without_tags(profile: str,
                                                               code: str | None) -> None:
    """The ``quay`` preset's claim, through the preset: a repository that holds blobs
    (and an untagged manifest) but no tag is NAME_UNKNOWN; the spec lists no tags."""
    with inprocess(Registry(profile), f"http://{profile}-empty.fake") as url:
        client = Client(url, requests.Session())
        body = client.image_manifest("blobsonly")
        assert client.push_manifest("blobsonly", str(Digest.from_bytes(body)),
                                    body).status_code == 201
        listed = client.request("GET", "/v2/blobsonly/tags/list")
        if code is None:
            assert listed.json() == {"name": "blobsonly", "tags": []}
        else:
            assert listed.status_code == 404
            assert error_code(listed) == code
