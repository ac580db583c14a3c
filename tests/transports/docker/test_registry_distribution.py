"""The docker:// transport against the real distribution registry (Debian docker-registry)."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.model import mediatype
from harness.model.digest import Digest
from harness.model.schema1 import sign
from harness.peers.launchers import DistributionLauncher, RunningRegistry
from harness.transports.docker import TRANSPORT, RegistryConnectionError, RegistryError
from harness.transports.docker.blobcache import BLOB_LOCATIONS, BlobLocationCache
from harness.transports.docker.session import Response, Session, new_session
from harness.transports.types import BlobInfo, Credentials, SystemContext
from tests._support.dockerhelp import Pushed, push_image
from tests._support.tcpfaults import CuttingProxy

PLAIN = SystemContext(tls_verify=False, retry_times=1, retry_delay=0.1)
# Every test here talks to a real registry: once through each HTTP library.
pytestmark = pytest.mark.usefixtures("http_library")


def _layer(seed: int, size: int = 64 * 1024) -> bytes:
    """A gzipped tar with one random file: real layer content for skopeo and friends."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        body = os.urandom(size)
        info = tarfile.TarInfo(f"file-{seed}")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return gzip.compress(data.getvalue(), mtime=0)


def _push(host: str, name: str, ctx: SystemContext, layer: bytes | None = None) -> Pushed:
    layer = layer if layer is not None else _layer(1)
    diff_id = Digest.from_bytes(gzip.decompress(layer))
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": ["A=1"]},
                         "rootfs": {"type": "layers", "diff_ids": [str(diff_id)]}}).encode()
    return push_image(f"//{host}/{name}", ctx, layer, config)


def _pull_blob(host: str, name: str, digest: Digest, ctx: SystemContext) -> bytes:
    with TRANSPORT.parse_reference(f"//{host}/{name}").new_image_source(ctx) as source:
        stream, _ = source.get_blob(BlobInfo(digest))
        with stream:
            return stream.read()


@pytest.fixture
def requests_seen(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every (method, path) the transport sends, recorded by its session."""
    seen: list[tuple[str, str]] = []

    class Recording(Session):
        def __init__(self, session: Session) -> None:
            self._session = session

        def request(self, method: str, url: str, **settings: Any) -> Response:
            response = self._session.request(method, url, **settings)
            parts = urlsplit(response.url)
            seen.append((response.method, parts.path + (f"?{parts.query}" if parts.query
                                                        else "")))
            return response

        def close(self) -> None:
            self._session.close()

    def recording(ctx: SystemContext, registry: str | None = None) -> Session:
        return Recording(new_session(ctx, registry))

    monkeypatch.setattr("harness.transports.docker.client.new_session", recording)
    return seen


@pytest.mark.parametrize("chunk", [None, "70000"])
def test_push_and_pull_round_trip(distribution: RunningRegistry, chunk: str | None) -> None:
    ctx = SystemContext(tls_verify=False, extra={"docker-chunk-size": chunk} if chunk else {})
    name = f"docker-rt/{'chunked' if chunk else 'streamed'}:v1"
    pushed = _push(distribution.host, name, ctx, _layer(2, 300_000))
    with TRANSPORT.parse_reference(f"//{distribution.host}/{name}").new_image_source(ctx) as src:
        assert src.get_manifest() == (pushed.manifest, mediatype.OCI_MANIFEST)
        assert src.get_manifest(pushed.digest)[0] == pushed.manifest
    layer_digest = Digest.from_bytes(pushed.layer)
    assert _pull_blob(distribution.host, name, layer_digest, PLAIN) == pushed.layer


def test_second_push_reuses_and_mounts(distribution: RunningRegistry,
                                       requests_seen: list[tuple[str, str]]) -> None:
    pushed = _push(distribution.host, "docker-reuse/a:v1", PLAIN, _layer(3))
    layer = BlobInfo(Digest.from_bytes(pushed.layer), len(pushed.layer))
    assert layer.digest is not None
    assert BLOB_LOCATIONS.candidates(layer.digest, distribution.host, "x")[:1] == \
        ["docker-reuse/a"]
    ref = TRANSPORT.parse_reference(f"//{distribution.host}/docker-reuse/a:v2")
    with ref.new_image_destination(PLAIN) as dest:
        assert dest.try_reusing_blob(layer) == layer  # HEAD: already there
    requests_seen.clear()
    ref = TRANSPORT.parse_reference(f"//{distribution.host}/docker-reuse/b:v1")
    with ref.new_image_destination(PLAIN) as dest:
        assert dest.try_reusing_blob(layer) == layer  # mounted from docker-reuse/a
    digest = str(layer.digest).replace(":", "%3A")
    assert ("POST", f"/v2/docker-reuse/b/blobs/uploads/?mount={digest}"
            "&from=docker-reuse%2Fa") in requests_seen
    assert not any(method == "PATCH" for method, _ in requests_seen)
    assert _pull_blob(distribution.host, "docker-reuse/b", layer.digest, PLAIN) == pushed.layer


def test_registry_error_codes_come_through(distribution: RunningRegistry) -> None:
    ref = TRANSPORT.parse_reference(f"//{distribution.host}/docker-errors/x:v1")
    with ref.new_image_destination(PLAIN) as dest:
        with pytest.raises(RegistryError) as invalid:
            dest.put_manifest(b'{"schemaVersion": 2, "mediaType": 7}', mediatype.OCI_MANIFEST)
        assert (invalid.value.code, invalid.value.status) == ("MANIFEST_INVALID", 400)
        missing = json.dumps({"schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
                              "config": {"mediaType": mediatype.OCI_CONFIG, "size": 2,
                                         "digest": str(Digest.from_bytes(b"{}"))},
                              "layers": []}).encode()
        with pytest.raises(RegistryError) as unknown:
            dest.put_manifest(missing, mediatype.OCI_MANIFEST)
        assert unknown.value.code == "MANIFEST_BLOB_UNKNOWN"
    with TRANSPORT.parse_reference(f"//{distribution.host}/docker-errors/x:nope") \
            .new_image_source(PLAIN) as source, pytest.raises(RegistryError) as absent:
        source.get_manifest()
    assert (absent.value.code, absent.value.status) in {("MANIFEST_UNKNOWN", 404),
                                                        ("NAME_UNKNOWN", 404)}


def test_signed_schema1_push_and_pull(distribution: RunningRegistry) -> None:
    pushed = _push(distribution.host, "docker-s1/base:v1", PLAIN)
    layer = Digest.from_bytes(pushed.layer)
    payload = json.dumps({
        "schemaVersion": 1, "name": "docker-s1/base", "tag": "s1", "architecture": "amd64",
        "fsLayers": [{"blobSum": str(layer)}],
        "history": [{"v1Compatibility": json.dumps({"id": "a" * 64, "os": "linux",
                                                    "architecture": "amd64"})}]},
        indent=3).encode()
    signed = sign(payload)
    ref = TRANSPORT.parse_reference(f"//{distribution.host}/docker-s1/base:s1")
    with ref.new_image_destination(PLAIN) as dest:
        dest.put_manifest(signed, mediatype.DOCKER_V2S1_SIGNED_MANIFEST)
        assert dest.manifest_digest == Digest.from_bytes(payload)
    with ref.new_image_source(PLAIN) as source:
        body, media_type = source.get_manifest()
    assert media_type == mediatype.DOCKER_V2S1_SIGNED_MANIFEST
    assert json.loads(body)["fsLayers"] == [{"blobSum": str(layer)}]


@pytest.fixture(scope="module")
def basic_registry() -> Iterator[RunningRegistry]:
    with DistributionLauncher(auth="basic").start() as registry:
        yield registry


@pytest.mark.requires_peer("docker-registry")
def test_basic_auth_with_htpasswd(basic_registry: RunningRegistry) -> None:
    creds = basic_registry.credentials
    assert creds is not None
    ctx = SystemContext(tls_verify=False, credentials=creds, retry_times=0)
    pushed = _push(basic_registry.host, "docker-basic/app:v1", ctx)
    assert _pull_blob(basic_registry.host, "docker-basic/app",
                      Digest.from_bytes(pushed.config), ctx) == pushed.config
    wrong = SystemContext(tls_verify=False, credentials=Credentials(creds.username, "nope"),
                          retry_times=0)
    with pytest.raises(RegistryError) as refused:
        _push(basic_registry.host, "docker-basic/app:v2", wrong)
    assert (refused.value.code, refused.value.status) == ("UNAUTHORIZED", 401)
    assert "nope" not in str(refused.value)


@pytest.mark.requires_peer("docker-registry")
def test_basic_auth_from_an_auth_file(basic_registry: RunningRegistry, tmp_path: Path) -> None:
    creds = basic_registry.credentials
    assert creds is not None
    import base64  # noqa: PLC0415
    token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps({"auths": {basic_registry.host: {"auth": token}}}))
    ctx = SystemContext(tls_verify=False, auth_file=auth_file, retry_times=0)
    _push(basic_registry.host, "docker-basic/file:v1", ctx)


@pytest.fixture(scope="module")
def tls_registry() -> Iterator[RunningRegistry]:
    with DistributionLauncher(tls=True).start() as registry:
        yield registry


@pytest.mark.requires_peer("docker-registry")
def test_tls_verification(tls_registry: RunningRegistry, tmp_path: Path) -> None:
    assert tls_registry.ca_file is not None
    _push(tls_registry.host, "docker-tls/ca:v1", SystemContext(ca_file=tls_registry.ca_file))
    cert_dir = tmp_path / "certs.d"
    cert_dir.mkdir()
    (cert_dir / "ca.crt").write_bytes(tls_registry.ca_file.read_bytes())
    _push(tls_registry.host, "docker-tls/dir:v1", SystemContext(cert_dir=cert_dir))
    _push(tls_registry.host, "docker-tls/insecure:v1", SystemContext(tls_verify=False))
    with pytest.raises(RegistryConnectionError, match=(
            "certificate signed by unknown authority: use --tls-verify=false or --cert-dir DIR")):
        _push(tls_registry.host, "docker-tls/untrusted:v1", SystemContext(retry_times=3))


@pytest.mark.requires_peer("skopeo")
def test_skopeo_reads_what_was_pushed(distribution: RunningRegistry, tmp_path: Path) -> None:
    pushed = _push(distribution.host, "docker-skopeo/app:v1", PLAIN, _layer(4))
    image = f"docker://{distribution.host}/docker-skopeo/app:v1"
    inspect = subprocess.run(["skopeo", "inspect", "--tls-verify=false", image],
                             capture_output=True, text=True, check=True, timeout=60)
    info = json.loads(inspect.stdout)
    assert info["Digest"] == str(pushed.digest)
    assert info["Layers"] == [str(Digest.from_bytes(pushed.layer))]
    assert info["Env"] == ["A=1"]
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", image,
                    f"oci:{tmp_path / 'layout'}:v1"], capture_output=True, check=True,
                   timeout=60)
    blobs = tmp_path / "layout" / "blobs" / "sha256"
    assert (blobs / pushed.digest.hex).read_bytes() == pushed.manifest
    assert (blobs / Digest.from_bytes(pushed.layer).hex).read_bytes() == pushed.layer


@pytest.mark.requires_peer("skopeo")
def test_we_read_what_skopeo_pushed(distribution: RunningRegistry, tmp_path: Path) -> None:
    pushed = _push(distribution.host, "docker-skopeo/src:v1", PLAIN, _layer(5))
    target = f"docker://{distribution.host}/docker-skopeo/by-skopeo:v2s2"
    subprocess.run(["skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                    "--format", "v2s2", f"docker://{distribution.host}/docker-skopeo/src:v1",
                    target], capture_output=True, check=True, timeout=60)
    with TRANSPORT.parse_reference(target.removeprefix("docker:")).new_image_source(PLAIN) as src:
        body, media_type = src.get_manifest()
    assert media_type == mediatype.DOCKER_V2S2_MANIFEST
    layers = json.loads(body)["layers"]
    assert [layer["digest"] for layer in layers] == [str(Digest.from_bytes(pushed.layer))]


@pytest.mark.parametrize(("chunk", "late"), [(None, False), ("300000", False),
                                             (None, True), ("300000", True)],
                         ids=["streamed", "chunked", "streamed-stale", "chunked-stale"])
def test_upload_cut_mid_patch_recovers(distribution: RunningRegistry, chunk: str | None,
                                       late: bool) -> None:
    """*late*: distribution writes the cut body after answering the status request, which
    so reports the offset before it; resuming there finds the session dropped."""
    host, port = distribution.host.rsplit(":", 1)
    proxy = CuttingProxy((host, int(port)), after=200_000, nth=2 if chunk else 1, late=late)
    try:
        ctx = SystemContext(tls_verify=False, retry_times=3, retry_delay=0.05,
                            extra={"docker-chunk-size": chunk} if chunk else {})
        name = f"docker-cut/{'chunked' if chunk else 'streamed'}{'-stale' if late else ''}:v1"
        pushed = _push(proxy.host, name, ctx, _layer(6, 1_000_000))
    finally:
        proxy.close()
    assert proxy.cuts == 1
    repository = name.partition(":")[0]
    assert _pull_blob(distribution.host, repository, Digest.from_bytes(pushed.layer),
                      PLAIN) == pushed.layer


def test_parallel_blob_uploads_share_one_destination(distribution: RunningRegistry) -> None:
    layers = [_layer(10 + n, 200_000) for n in range(6)]
    ref = TRANSPORT.parse_reference(f"//{distribution.host}/docker-parallel/app:v1")
    with ref.new_image_destination(PLAIN) as dest, ThreadPoolExecutor(6) as pool:
        assert dest.has_thread_safe_put_blob()
        infos = list(pool.map(lambda data: dest.put_blob(io.BytesIO(data), BlobInfo(), False),
                              layers))
    assert [info.digest for info in infos] == [Digest.from_bytes(data) for data in layers]
    for data in layers:
        assert _pull_blob(distribution.host, "docker-parallel/app", Digest.from_bytes(data),
                          PLAIN) == data


def test_delete_image(distribution: RunningRegistry) -> None:
    _push(distribution.host, "docker-delete/app:v1", PLAIN)
    ref = TRANSPORT.parse_reference(f"//{distribution.host}/docker-delete/app:v1")
    ref.delete_image(PLAIN)
    with ref.new_image_source(PLAIN) as source, pytest.raises(RegistryError) as gone:
        source.get_manifest()
    assert gone.value.code == "MANIFEST_UNKNOWN"


def test_copy_within_a_registry_mounts_every_blob(
        distribution: RunningRegistry, requests_seen: list[tuple[str, str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    pushed = _push(distribution.host, "docker-within/src:v1", PLAIN, _layer(20))
    # Forget the push: only reading the source manifest may teach where the blobs are.
    monkeypatch.setattr("harness.transports.docker.transport.BLOB_LOCATIONS",
                        BlobLocationCache())
    src = TRANSPORT.parse_reference(f"//{distribution.host}/docker-within/src:v1")
    dst = TRANSPORT.parse_reference(f"//{distribution.host}/docker-within/dst:v1")
    with src.new_image_source(PLAIN) as source, dst.new_image_destination(PLAIN) as dest:
        manifest, media_type = source.get_manifest()
        requests_seen.clear()
        for blob in (pushed.layer, pushed.config):
            info = BlobInfo(Digest.from_bytes(blob), len(blob))
            assert dest.try_reusing_blob(info) == info
        dest.put_manifest(manifest, media_type)
    methods = [method for method, _ in requests_seen]
    assert methods.count("POST") == 2 and "PATCH" not in methods
