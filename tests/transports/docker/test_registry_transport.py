"""The docker:// transport over a mocked registry: references, manifests, blobs, mounts."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator

import pytest
import requests
import responses

from harness.model import mediatype
from harness.model.digest import Digest, DigestMismatchError
from harness.transports.docker import (
    TRANSPORT,
    DockerImageDestination,
    DockerReference,
    ProtocolError,
    RegistryError,
)
from harness.transports.docker.blobcache import BLOB_LOCATIONS, BlobLocationCache
from harness.transports.types import (
    BlobInfo,
    Credentials,
    LayerCompression,
    ManifestTypeRejectedError,
    SystemContext,
)
from harness.util.errors import HarnessError
from tests._support.dockerhelp import BASE, HOST, REPO, UploadFake

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
                       "config": {"mediaType": mediatype.OCI_CONFIG, "size": 2,
                                  "digest": str(Digest.from_bytes(b"{}"))},
                       "layers": []}).encode()
MANIFEST_DIGEST = Digest.from_bytes(MANIFEST)
CTX = SystemContext(retry_times=2, retry_delay=0.0)


def _ref(text: str = f"//{HOST}/{REPO}:v1") -> DockerReference:
    return TRANSPORT.parse_reference(text)


@pytest.fixture
def registry(anonymous_ping: responses.RequestsMock) -> Iterator[responses.RequestsMock]:
    yield anonymous_ping


# -- references -------------------------------------------------------------------------

def test_reference_defaults_to_latest_and_round_trips() -> None:
    ref = _ref(f"//{HOST}/{REPO}")
    assert ref.ref.tag == "latest" and str(ref) == f"docker://{HOST}/{REPO}:latest"
    assert TRANSPORT.parse_reference(ref.string_within_transport()).ref == ref.ref
    assert _ref("//busybox").ref.name == "docker.io/library/busybox"


def test_reference_errors_name_the_rule() -> None:
    with pytest.raises(HarnessError, match="must start with 'docker://'"):
        TRANSPORT.parse_reference(f"{HOST}/{REPO}")
    with pytest.raises(HarnessError, match="both a tag and a digest"):
        TRANSPORT.parse_reference(f"//{HOST}/{REPO}:v1@{MANIFEST_DIGEST}")


def test_policy_scopes_like_containers_image() -> None:
    ref = _ref("//reg.example.com:5000/team/app:v1")
    assert ref.policy_configuration_identity() == "reg.example.com:5000/team/app:v1"
    assert ref.policy_configuration_namespaces() == [
        "reg.example.com:5000/team/app", "reg.example.com:5000/team", "reg.example.com:5000",
        "*.example.com", "*.com"]
    TRANSPORT.validate_policy_configuration_scope("*.example.com")
    TRANSPORT.validate_policy_configuration_scope("reg.example.com/team")
    with pytest.raises(HarnessError, match="fully qualified"):
        TRANSPORT.validate_policy_configuration_scope("busybox")


def test_destination_takes_every_manifest_type_and_compresses() -> None:
    dest = DockerImageDestination(_ref(), None)  # type: ignore[arg-type]
    assert set(dest.supported_manifest_mime_types()) == mediatype.ALL_MANIFESTS
    assert dest.desired_layer_compression() is LayerCompression.COMPRESS
    assert dest.has_thread_safe_put_blob()


@pytest.mark.parametrize("chunk", ["lots", "0", "-5", "\u00b2", "9" * 5000])
def test_bad_chunk_size_setting_is_refused(chunk: str) -> None:
    with pytest.raises(HarnessError, match="docker-chunk-size must be a positive byte count"):
        _ref().new_image_destination(SystemContext(extra={"docker-chunk-size": chunk}))


# -- manifests --------------------------------------------------------------------------

MANIFESTS = f"{BASE}/v2/{REPO}/manifests"


def test_get_manifest_asks_for_every_type_and_checks_the_digest(
        registry: responses.RequestsMock) -> None:
    registry.get(f"{MANIFESTS}/v1", body=MANIFEST, content_type=mediatype.OCI_MANIFEST,
                 headers={"Docker-Content-Digest": str(MANIFEST_DIGEST)})
    with _ref().new_image_source(CTX) as source:
        assert source.get_manifest() == (MANIFEST, mediatype.OCI_MANIFEST)
    accept = registry.calls[-1].request.headers["Accept"]
    assert {t.strip() for t in accept.split(",")} == mediatype.ALL_MANIFESTS


def test_wrong_digest_header_is_reported(registry: responses.RequestsMock) -> None:
    registry.get(f"{MANIFESTS}/v1", body=MANIFEST, content_type=mediatype.OCI_MANIFEST,
                 headers={"Docker-Content-Digest": str(Digest.from_bytes(b"x"))})
    with _ref().new_image_source(CTX) as source, \
            pytest.raises(ProtocolError, match="announced digest sha256:"):
        source.get_manifest()


def test_by_digest_content_must_match(registry: responses.RequestsMock) -> None:
    wanted = Digest.from_bytes(b"another manifest")
    registry.get(f"{MANIFESTS}/{wanted}", body=MANIFEST, content_type=mediatype.OCI_MANIFEST)
    with _ref(f"//{HOST}/{REPO}@{wanted}").new_image_source(CTX) as source, \
            pytest.raises(DigestMismatchError):
        source.get_manifest()


def test_generic_content_type_is_replaced_by_the_detected_one(
        registry: responses.RequestsMock) -> None:
    registry.get(f"{MANIFESTS}/v1", body=MANIFEST, content_type="application/json")
    with _ref().new_image_source(CTX) as source:
        assert source.get_manifest()[1] == mediatype.OCI_MANIFEST


def test_truncated_manifest_is_fetched_again(registry: responses.RequestsMock) -> None:
    registry.get(f"{MANIFESTS}/v1",
                 body=requests.exceptions.ChunkedEncodingError("IncompleteRead(10 bytes)"))
    registry.get(f"{MANIFESTS}/v1", body=MANIFEST, content_type=mediatype.OCI_MANIFEST)
    with _ref().new_image_source(CTX) as source:
        assert source.get_manifest()[0] == MANIFEST


def test_oversized_manifest_is_refused(registry: responses.RequestsMock) -> None:
    registry.get(f"{MANIFESTS}/v1", body=b" " * (4 * 1024 * 1024 + 1))
    with _ref().new_image_source(CTX) as source, pytest.raises(ProtocolError, match="limit"):
        source.get_manifest()


def test_put_manifest_by_tag_with_content_type(registry: responses.RequestsMock) -> None:
    registry.put(f"{MANIFESTS}/v1", status=201,
                 headers={"Docker-Content-Digest": str(MANIFEST_DIGEST)},
                 match=[responses.matchers.header_matcher(
                     {"Content-Type": mediatype.OCI_MANIFEST})])
    with _ref().new_image_destination(CTX) as dest:
        dest.put_manifest(MANIFEST, mediatype.OCI_MANIFEST)
        assert dest.manifest_digest == MANIFEST_DIGEST
    assert registry.calls[-1].request.body == MANIFEST


def test_put_manifest_by_digest_and_instance(registry: responses.RequestsMock) -> None:
    registry.put(f"{MANIFESTS}/{MANIFEST_DIGEST}", status=201)
    with _ref(f"//{HOST}/{REPO}@{MANIFEST_DIGEST}").new_image_destination(CTX) as dest:
        dest.put_manifest(MANIFEST, mediatype.OCI_MANIFEST)
    with _ref().new_image_destination(CTX) as dest:
        dest.put_manifest(MANIFEST, mediatype.OCI_MANIFEST, instance=MANIFEST_DIGEST)
        with pytest.raises(DigestMismatchError):
            dest.put_manifest(MANIFEST, mediatype.OCI_MANIFEST, Digest.from_bytes(b"no"))
    assert len([c for c in registry.calls if c.request.method == "PUT"]) == 2


@pytest.mark.parametrize("code", ["MANIFEST_INVALID", "TAG_INVALID"])
def test_put_manifest_type_refusal_is_a_typed_rejection_keeping_the_code(
        registry: responses.RequestsMock, code: str) -> None:
    registry.put(f"{MANIFESTS}/v1", status=400, json={"errors": [
        {"code": code, "message": "manifest invalid", "detail": "schema1"}]})
    with _ref().new_image_destination(CTX) as dest, \
            pytest.raises(ManifestTypeRejectedError) as caught:
        dest.put_manifest(MANIFEST, mediatype.OCI_MANIFEST)
    assert isinstance(caught.value, RegistryError)
    assert (caught.value.code, caught.value.detail, caught.value.status) == (code, "schema1", 400)
    assert str(caught.value) == f"PUT /v2/{REPO}/manifests/v1: HTTP 400 {code} manifest invalid"


@pytest.mark.parametrize(("status", "code"), [(400, "MANIFEST_BLOB_UNKNOWN"), (403, "DENIED"),
                                              (400, "")])
def test_put_manifest_other_refusals_are_not_type_rejections(
        registry: responses.RequestsMock, status: int, code: str) -> None:
    registry.put(f"{MANIFESTS}/v1", status=status,
                 json={"errors": [{"code": code, "message": "no"}]} if code else {})
    with _ref().new_image_destination(CTX) as dest, pytest.raises(RegistryError) as caught:
        dest.put_manifest(MANIFEST, mediatype.OCI_MANIFEST)
    assert not isinstance(caught.value, ManifestTypeRejectedError)


def test_put_manifest_wrong_digest_header(registry: responses.RequestsMock) -> None:
    registry.put(f"{MANIFESTS}/v1", status=201,
                 headers={"Docker-Content-Digest": str(Digest.from_bytes(b"x"))})
    with _ref().new_image_destination(CTX) as dest, \
            pytest.raises(ProtocolError, match="stored it as"):
        dest.put_manifest(MANIFEST, mediatype.OCI_MANIFEST)


# -- blobs ------------------------------------------------------------------------------

LAYER = os.urandom(300_000)
LAYER_DIGEST = Digest.from_bytes(LAYER)
BLOB_URL = f"{BASE}/v2/{REPO}/blobs/{LAYER_DIGEST}"


def test_truncated_blob_read_resumes_with_a_range(registry: responses.RequestsMock) -> None:
    # The body ends before its Content-Length: urllib3 reports the short read.
    registry.get(BLOB_URL, body=LAYER[:100_000], auto_calculate_content_length=False,
                 headers={"Content-Length": str(len(LAYER))})
    registry.get(BLOB_URL, status=206, body=LAYER[100_000:],
                 match=[responses.matchers.header_matcher({"Range": "bytes=100000-"})])
    with _ref().new_image_source(CTX) as source:
        stream, size = source.get_blob(BlobInfo(LAYER_DIGEST))
        with stream:
            assert size == len(LAYER) and stream.read() == LAYER


def test_truncation_beyond_the_retries_is_reported(registry: responses.RequestsMock) -> None:
    for _ in range(3):
        registry.get(BLOB_URL, body=LAYER[:10], auto_calculate_content_length=False,
                     headers={"Content-Length": str(len(LAYER))})
    with _ref().new_image_source(CTX) as source:
        stream, _ = source.get_blob(BlobInfo(LAYER_DIGEST))
        with pytest.raises(HarnessError, match="the body broke off after 10 bytes"):
            stream.read()


def test_blob_read_skips_when_the_range_is_ignored(registry: responses.RequestsMock) -> None:
    registry.get(BLOB_URL, body=requests.exceptions.ChunkedEncodingError("gone"))
    registry.get(BLOB_URL, body=LAYER)
    with _ref().new_image_source(CTX) as source:
        # the first GET fails inside the request: a plain retry, then the whole blob
        stream, _ = source.get_blob(BlobInfo(LAYER_DIGEST))
        assert stream.read() == LAYER


def test_blob_content_is_verified(registry: responses.RequestsMock) -> None:
    registry.get(BLOB_URL, body=LAYER[:-1] + bytes([LAYER[-1] ^ 1]))
    with _ref().new_image_source(CTX) as source:
        stream, _ = source.get_blob(BlobInfo(LAYER_DIGEST))
        with pytest.raises(DigestMismatchError):
            stream.read()


def test_redirect_to_storage_drops_authorization(mocked: responses.RequestsMock) -> None:
    mocked.get(f"{BASE}/v2/", status=401, headers={"WWW-Authenticate": 'Basic realm="r"'})
    storage = f"https://storage.test/blobs/{LAYER_DIGEST.hex}?sig=abc"
    mocked.get(BLOB_URL, status=307, headers={"Location": storage})
    mocked.get(storage, body=LAYER)
    ctx = SystemContext(credentials=Credentials("u", "secret-pw"))
    with _ref().new_image_source(ctx) as source:
        stream, _ = source.get_blob(BlobInfo(LAYER_DIGEST))
        assert stream.read() == LAYER
    to_registry, to_storage = mocked.calls[-2].request, mocked.calls[-1].request
    assert to_registry.headers["Authorization"].startswith("Basic ")
    assert "Authorization" not in to_storage.headers


# -- reuse ------------------------------------------------------------------------------

def test_existing_blob_is_reused_by_head(registry: responses.RequestsMock) -> None:
    registry.head(BLOB_URL, headers={"Content-Length": str(len(LAYER))})
    with _ref().new_image_destination(CTX) as dest:
        reused = dest.try_reusing_blob(BlobInfo(LAYER_DIGEST, media_type="m"))
    assert reused == BlobInfo(LAYER_DIGEST, len(LAYER), "m")
    assert dest.try_reusing_blob(BlobInfo()) is None


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch) -> BlobLocationCache:
    fresh = BlobLocationCache()
    monkeypatch.setattr("harness.transports.docker.transport.BLOB_LOCATIONS", fresh)
    return fresh


def test_mount_from_a_sibling_repository(registry: responses.RequestsMock,
                                         cache: BlobLocationCache) -> None:
    cache.record(LAYER_DIGEST, HOST, "other/repo")
    cache.record(LAYER_DIGEST, "elsewhere.test", "ns/x")
    registry.head(BLOB_URL, status=404)
    registry.post(f"{BASE}/v2/{REPO}/blobs/uploads/", status=201, match=[
        responses.matchers.query_param_matcher({"mount": str(LAYER_DIGEST),
                                                "from": "other/repo"})])
    with _ref().new_image_destination(CTX) as dest:
        assert dest.try_reusing_blob(BlobInfo(LAYER_DIGEST, 7)) == BlobInfo(LAYER_DIGEST, 7)
    assert cache.candidates(LAYER_DIGEST, HOST, "x") == [REPO, "other/repo"]


def test_refused_mount_falls_back_to_the_next_candidate(registry: responses.RequestsMock,
                                                        cache: BlobLocationCache) -> None:
    cache.record(LAYER_DIGEST, HOST, "second/repo")
    cache.record(LAYER_DIGEST, HOST, "first/repo")
    registry.head(BLOB_URL, status=404)
    uploads = f"{BASE}/v2/{REPO}/blobs/uploads/"
    registry.post(uploads, status=401, match=[responses.matchers.query_param_matcher(
        {"mount": str(LAYER_DIGEST), "from": "first/repo"})])  # Harbor: unknown source
    registry.post(uploads, status=201, match=[responses.matchers.query_param_matcher(
        {"mount": str(LAYER_DIGEST), "from": "second/repo"})])
    with _ref().new_image_destination(CTX) as dest:
        assert dest.try_reusing_blob(BlobInfo(LAYER_DIGEST, 7)) is not None


def test_mount_answered_202_continues_as_a_normal_upload(
        mocked: responses.RequestsMock, cache: BlobLocationCache) -> None:
    fake = UploadFake()
    mocked.post(f"{BASE}/v2/{REPO}/blobs/uploads/", status=202, headers={
        "Location": f"/v2/{REPO}/blobs/uploads/1"},
        match=[responses.matchers.query_param_matcher({"mount": str(LAYER_DIGEST),
                                                       "from": "other/repo"})])
    fake.install(mocked)
    fake.sessions["1"] = bytearray()  # the session the mount opened
    cache.record(LAYER_DIGEST, HOST, "other/repo")
    with _ref().new_image_destination(CTX) as dest:
        assert dest.try_reusing_blob(BlobInfo(LAYER_DIGEST)) is None
        info = dest.put_blob(io.BytesIO(LAYER), BlobInfo(LAYER_DIGEST, len(LAYER)), False)
    assert info.digest == LAYER_DIGEST and fake.blobs[str(LAYER_DIGEST)] == LAYER
    uploads_opened = [c for c in mocked.calls if c.request.method == "POST"]
    assert len(uploads_opened) == 1  # no second session was opened


def test_unused_mount_session_is_cancelled_on_close(
        registry: responses.RequestsMock, cache: BlobLocationCache) -> None:
    registry.head(BLOB_URL, status=404)
    registry.post(f"{BASE}/v2/{REPO}/blobs/uploads/", status=202,
                  headers={"Location": f"/v2/{REPO}/blobs/uploads/9"})
    registry.delete(f"{BASE}/v2/{REPO}/blobs/uploads/9", status=204)
    cache.record(LAYER_DIGEST, HOST, "other/repo")
    with _ref().new_image_destination(CTX) as dest:
        dest.try_reusing_blob(BlobInfo(LAYER_DIGEST))
    assert registry.calls[-1].request.method == "DELETE"


def test_pushed_and_pulled_blobs_are_remembered() -> None:
    assert BLOB_LOCATIONS.candidates(Digest.from_bytes(b"never seen"), HOST, REPO) == []
    cache = BlobLocationCache()
    for n in range(20):
        cache.record(LAYER_DIGEST, HOST, f"r{n}")
    assert len(cache.candidates(LAYER_DIGEST, HOST, "")) == 16
