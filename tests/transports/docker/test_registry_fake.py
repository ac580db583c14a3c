"""Against the project's fake registry in process: Bearer token mode, and every fault class
survived (the image ends bit-identical to a clean push) or reported exactly."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from dockerhelp import push_image

from fakeregistry.auth import AuthConfig
from fakeregistry.faults import FaultRule
from fakeregistry.inprocess import inprocess
from fakeregistry.registry import Registry
from harness.model import mediatype
from harness.model.digest import Digest, DigestMismatchError
from harness.transports.docker import TRANSPORT, ProtocolError, RegistryError
from harness.transports.types import BlobInfo, Credentials, SystemContext

HOST = "fake.registry.test"
LAYER = bytes(range(256)) * 12_000  # 3 MiB: several streamed pieces
CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": []}}).encode()
CTX = SystemContext(retry_times=3, retry_delay=0.01)


@pytest.fixture
def registry() -> Iterator[Registry]:
    fake = Registry()
    with inprocess(fake, f"https://{HOST}"):
        yield fake


def _push(name: str, ctx: SystemContext = CTX) -> bytes:
    return push_image(f"//{HOST}/{name}", ctx, LAYER, CONFIG, mediatype.OCI_LAYER).manifest


def _pull(name: str, ctx: SystemContext = CTX) -> tuple[bytes, bytes, bytes]:
    with TRANSPORT.parse_reference(f"//{HOST}/{name}").new_image_source(ctx) as source:
        manifest, _ = source.get_manifest()
        blobs = []
        for blob in (LAYER, CONFIG):
            stream, _ = source.get_blob(BlobInfo(Digest.from_bytes(blob), len(blob)))
            with stream:
                blobs.append(stream.read())
        return manifest, blobs[0], blobs[1]


def test_bearer_token_mode() -> None:
    registry = Registry(auth=AuthConfig.with_passwords("token", {"alice": "wonder"}))
    with inprocess(registry, f"https://{HOST}"):
        _token_round_trip(registry)


def _token_round_trip(registry: Registry) -> None:
    ctx = SystemContext(credentials=Credentials("alice", "wonder"), retry_times=0)
    manifest = _push("team/app:v1", ctx)
    assert _pull("team/app:v1", ctx) == (manifest, LAYER, CONFIG)
    tokens = [e for e in registry.transcript.entries if e.path == "/token"]
    assert len(tokens) <= 2  # push and pull scopes, each asked once then reused
    with pytest.raises(RegistryError) as refused:
        _pull("team/app:v1", SystemContext(credentials=Credentials("alice", "nope"),
                                           retry_times=0))
    assert refused.value.code == "UNAUTHORIZED"


SURVIVABLE = {
    "5xx on PATCH": FaultRule(method="PATCH", nth=1, status=503, code="UNAVAILABLE"),
    "5xx on manifest PUT": FaultRule(method="PUT", path="*/manifests/*", nth=1, status=500),
    "429 + Retry-After": FaultRule(method="POST", path="*/blobs/uploads/", nth=1,
                                   retry_after=0),
    "dropped connection mid-upload": FaultRule(method="PATCH", nth=1, drop_after=0),
    "dropped blob download": FaultRule(method="GET", path="*/blobs/sha256:*", nth=1,
                                       drop_after=100_000),
    "truncated blob": FaultRule(method="GET", path="*/blobs/sha256:*", nth=1,
                                truncate=1000),
}


@pytest.mark.parametrize("fault", SURVIVABLE.values(), ids=SURVIVABLE.keys())
def test_faults_are_survived_bit_identically(registry: Registry, fault: FaultRule) -> None:
    clean = _push("clean/app:v1")
    registry.faults.add(fault)
    faulty = _push("faulty/app:v1")
    assert faulty == clean
    assert _pull("faulty/app:v1") == (clean, LAYER, CONFIG)
    assert fault.fired == 1


def test_wrong_manifest_digest_header_is_reported(registry: Registry) -> None:
    _push("digest/app:v1")
    registry.faults.add(FaultRule(method="GET", path="*/manifests/*", wrong_digest=True))
    with pytest.raises(ProtocolError, match="announced digest"):
        _pull("digest/app:v1")


def test_wrong_digest_on_blob_commit_is_reported(registry: Registry) -> None:
    registry.faults.add(FaultRule(method="PUT", path="*/blobs/uploads/*", wrong_digest=True))
    with pytest.raises(ProtocolError, match="stored it as"):
        _push("digest/blob:v1")


def test_truncated_manifest_is_reported(registry: Registry) -> None:
    # The fake shortens the body and its Content-Length alike: only the digest can tell.
    _push("cut/app:v1")
    registry.faults.add(FaultRule(method="GET", path="*/manifests/*", nth=1, truncate=10))
    with pytest.raises(ProtocolError, match="announced digest"):
        _pull("cut/app:v1")


def test_truncated_blob_of_unknown_size_is_reported(registry: Registry) -> None:
    _push("cut/blob:v1")
    registry.faults.add(FaultRule(method="GET", path="*/blobs/sha256:*", nth=1, truncate=10))
    with TRANSPORT.parse_reference(f"//{HOST}/cut/blob:v1").new_image_source(CTX) as source:
        stream, size = source.get_blob(BlobInfo(Digest.from_bytes(LAYER)))
        assert size == 10
        with pytest.raises(DigestMismatchError):
            stream.read()


def test_persistent_5xx_ends_with_the_registry_code(registry: Registry) -> None:
    registry.faults.add(FaultRule(method="PUT", path="*/manifests/*", status=503,
                                  code="UNAVAILABLE"))
    with pytest.raises(RegistryError) as failed:
        _push("down/app:v1")
    assert (failed.value.status, failed.value.code) == (503, "UNAVAILABLE")
