"""Malformed requests of every kind never make the registry answer 500 or crash."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client as WSGIClient

from fakeregistry import AuthConfig, Registry
from harness.model import mediatype
from harness.model.digest import Digest

GOOD_DIGEST = str(Digest.from_bytes(b"seed"))
SEGMENTS = st.one_of(
    st.sampled_from(["a", "b/c", "", "UPPER", "..", "a//b", "_catalog", "x" * 300, GOOD_DIGEST,
                     "sha256:", "sha256:zz", "sha512:" + "0" * 128, "v1", "-bad", "%00",
                     "uploads", "\u00e9", "\u00b2", "9" * 5000]),
    st.text(max_size=12),
)
TAILS = st.sampled_from(["/manifests/", "/blobs/", "/blobs/uploads/", "/tags/list",
                         "/referrers/", "/", ""])
HEADER_VALUES = st.one_of(st.sampled_from(["0-9", "10-5", "bytes=0-", "bytes=-5", "bytes=a-b",
                                           "application/vnd.oci.image.manifest.v1+json",
                                           "*/*", "Bearer x.y", "Basic !!!", "-1", "",
                                           "1" * 30, "0-" + "9" * 5000]),
                          st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126),
                                  max_size=20))
HEADER_NAMES = st.sampled_from(["Content-Range", "Content-Type", "Range", "Accept",
                                "Authorization", "Content-Length"])
QUERY_KEYS = st.sampled_from(["digest", "mount", "from", "n", "last", "artifactType", "scope"])
BODIES = st.one_of(st.binary(max_size=64), st.sampled_from([
    b"{}", b"[]", b"null", b'{"schemaVersion": 2}', b'{"schemaVersion": 1}',
    json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [{"digest": "bad"}]}).encode(),
    json.dumps({"schemaVersion": 2, "config": {"digest": GOOD_DIGEST, "size": -1,
                                               "mediaType": "x/y"}}).encode(),
    json.dumps({"schemaVersion": 1, "fsLayers": [{"blobSum": "x"}], "signatures": [{}]}).encode(),
]))


def _check(method: str, response_status: int, content_type: str, body: bytes) -> None:
    assert response_status < 500, body[:300]
    if (method != "HEAD" and response_status >= 400
            and content_type.startswith("application/json")):
        errors = json.loads(body)["errors"]
        assert errors and all("code" in e and "message" in e for e in errors)


def _fuzz(registry: Registry) -> object:
    client = WSGIClient(registry.wsgi_app)

    @settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
    @given(method=st.sampled_from(["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE",
                                   "OPTIONS", "TRACE"]),
           segments=st.lists(SEGMENTS, min_size=1, max_size=3), tail=TAILS, ref=SEGMENTS,
           headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=3),
           query=st.dictionaries(QUERY_KEYS, SEGMENTS, max_size=3), body=BODIES)
    def run(method: str, segments: list[str], tail: str, ref: str, headers: dict[str, str],
            query: dict[str, str], body: bytes) -> None:
        path = quote("/v2/" + "/".join(segments) + tail + (ref if tail.endswith("/") else ""),
                     safe="/:@")
        headers.pop("Content-Length", None)  # werkzeug's test client sets the real one
        response = client.open(path, method=method, headers=headers, query_string=query,
                               data=body)
        _check(method, response.status_code, response.content_type or "", response.get_data())

    return run


def _seeded(registry: Registry) -> Registry:
    """Content for the fuzz to hit: a blob, and a schema2 image whose config is no config."""
    client = WSGIClient(registry.wsgi_app)
    client.post(f"/v2/a/blobs/uploads/?digest={GOOD_DIGEST}", data=b"seed")
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": mediatype.DOCKER_V2S2_MANIFEST,
        "config": {"mediaType": mediatype.DOCKER_CONFIG, "digest": GOOD_DIGEST, "size": 4},
        "layers": [{"mediaType": mediatype.DOCKER_LAYER_GZIP, "digest": GOOD_DIGEST,
                    "size": 4}]})
    client.put("/v2/a/manifests/v1", data=manifest,
               headers={"Content-Type": mediatype.DOCKER_V2S2_MANIFEST})
    return registry


@pytest.mark.parametrize("profile", ["spec", "distribution-2.8", "quay"])
def test_fuzzed_requests_never_get_a_500(profile: str) -> None:
    _fuzz(_seeded(Registry(profile)))()  # type: ignore[operator]


def test_fuzzed_requests_with_token_auth_never_get_a_500() -> None:
    registry = Registry(auth=AuthConfig.with_passwords("token", {"u": "p"}, anonymous_pull=True))
    _fuzz(registry)()  # type: ignore[operator]
