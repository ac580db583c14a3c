"""Against the project's fake registry, in process and over HTTPS: Bearer token mode, and
every fault class survived (the image ends bit-identical to a clean push) or reported
exactly."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from fakeregistry.auth import AuthConfig
from fakeregistry.faults import FaultRule
from fakeregistry.inprocess import inprocess
from fakeregistry.registry import Registry
from fakeregistry.server import serve
from harness.model import mediatype
from harness.model.digest import Digest, DigestMismatchError
from harness.transports import httpclient
from harness.transports.docker import TRANSPORT, ProtocolError, RegistryError
from harness.transports.types import BlobInfo, Credentials, SystemContext
from tests._support.dockerhelp import push_image

HOST = "fake.registry.test"
LAYER = bytes(range(256)) * 6_000  # 1.5 MiB: more than one streamed piece
CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": []}}).encode()
CTX = SystemContext(retry_times=3, retry_delay=0.01)


@dataclass
class Served:
    """A fake registry, where clients reach it, and the context they need."""

    registry: Registry
    host: str
    ctx: SystemContext


# In process (requests, which responses reaches), or over real sockets and TLS, where
# faults break real connections, through each library a session can be built on.
WAYS = ["inprocess", "https-requests", "https-http.client"]


@contextlib.contextmanager
def _serve(registry: Registry, how: str) -> Iterator[Served]:
    if how == "inprocess":
        with inprocess(registry, f"https://{HOST}"):
            yield Served(registry, HOST, CTX)
        return
    previous = httpclient.selected()
    httpclient.select(httpclient.STDLIB if how == "https-http.client" else httpclient.REQUESTS)
    try:
        with serve(registry, tls=True) as server:
            yield Served(registry, server.host, dataclasses.replace(CTX,
                                                                  ca_file=server.ca_file))
    finally:
        httpclient.select(previous)


@pytest.fixture(params=WAYS)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    with _serve(Registry(), request.param) as running:
        yield running


def _push(served: Served, name: str, ctx: SystemContext | None = None) -> bytes:
    return push_image(f"//{served.host}/{name}", ctx or served.ctx, LAYER, CONFIG,
                      mediatype.OCI_LAYER).manifest


def _pull(served: Served, name: str,
          ctx: SystemContext | None = None) -> tuple[bytes, bytes, bytes]:
    ref = TRANSPORT.parse_reference(f"//{served.host}/{name}")
    with ref.new_image_source(ctx or served.ctx) as source:
        manifest, _ = source.get_manifest()
        blobs = []
        for blob in (LAYER, CONFIG):
            stream, _ = source.get_blob(BlobInfo(Digest.from_bytes(blob), len(blob)))
            with stream:
                blobs.append(stream.read())
        return manifest, blobs[0], blobs[1]


@pytest.mark.parametrize("how", WAYS)
def test_bearer_token_mode(how: str) -> None:
    registry = Registry(auth=AuthConfig.with_passwords("token", {"alice": "wonder"}))
    with _serve(registry, how) as running:
        _token_round_trip(running)


def _token_round_trip(served: Served) -> None:
    ctx = dataclasses.replace(served.ctx, credentials=Credentials("alice", "wonder"),
                              retry_times=0)
    manifest = _push(served, "team/app:v1", ctx)
    assert _pull(served, "team/app:v1", ctx) == (manifest, LAYER, CONFIG)
    tokens = [e for e in served.registry.transcript.entries if e.path == "/token"]
    assert len(tokens) <= 2  # push and pull scopes, each asked once then reused
    with pytest.raises(RegistryError) as refused:
        _pull(served, "team/app:v1", dataclasses.replace(ctx, credentials=Credentials(
            "alice", "nope")))
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
def test_faults_are_survived_bit_identically(served: Served, fault: FaultRule) -> None:
    clean = _push(served, "clean/app:v1")
    served.registry.faults.add(fault)
    faulty = _push(served, "faulty/app:v1")
    assert faulty == clean
    assert _pull(served, "faulty/app:v1") == (clean, LAYER, CONFIG)
    assert fault.fired == 1


def test_wrong_manifest_digest_header_is_reported(served: Served) -> None:
    _push(served, "digest/app:v1")
    served.registry.faults.add(FaultRule(method="GET", path="*/manifests/*", wrong_digest=True))
    with pytest.raises(ProtocolError, match="announced digest"):
        _pull(served, "digest/app:v1")


def test_wrong_digest_on_blob_commit_is_reported(served: Served) -> None:
    served.registry.faults.add(FaultRule(method="PUT", path="*/blobs/uploads/*", wrong_digest=True))
    with pytest.raises(ProtocolError, match="stored it as"):
        _push(served, "digest/blob:v1")


def test_truncated_manifest_is_reported(served: Served) -> None:
    # The fake shortens the body and its Content-Length alike: only the digest can tell.
    _push(served, "cut/app:v1")
    served.registry.faults.add(FaultRule(method="GET", path="*/manifests/*", nth=1, truncate=10))
    with pytest.raises(ProtocolError, match="announced digest"):
        _pull(served, "cut/app:v1")


def test_truncated_blob_of_unknown_size_is_reported(served: Served) -> None:
    _push(served, "cut/blob:v1")
    served.registry.faults.add(FaultRule(method="GET", path="*/blobs/sha256:*", nth=1, truncate=10))
    with TRANSPORT.parse_reference(f"//{served.host}/cut/blob:v1") \
            .new_image_source(served.ctx) as source:
        stream, size = source.get_blob(BlobInfo(Digest.from_bytes(LAYER)))
        assert size == 10
        with pytest.raises(DigestMismatchError):
            stream.read()


def test_persistent_5xx_ends_with_the_registry_code(served: Served) -> None:
    served.registry.faults.add(FaultRule(method="PUT", path="*/manifests/*", status=503,
                                  code="UNAVAILABLE"))
    with pytest.raises(RegistryError) as failed:
        _push(served, "down/app:v1")
    assert (failed.value.status, failed.value.code) == (503, "UNAVAILABLE")
