"""Real clients (skopeo, buildah, the Docker engine) against the fake over HTTP.

Every test runs twice: against the fake and against the real distribution registry
(Debian docker-registry 2.8). Passing on both shows the test checks real behaviour,
not the fake's idea of it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from fakeregistry import AuthConfig, Registry, serve
from fakeregistry.auth import AuthMode
from harness.model import mediatype
from harness.model.manifest import manifest_digest
from harness.peers.clients import Buildah, DockerCLI, PeerCommandError, Skopeo
from harness.peers.launchers import RunningRegistry
from harness.transports.types import Credentials

FORMATS = {"oci": mediatype.OCI_MANIFEST, "v2s2": mediatype.DOCKER_V2S2_MANIFEST,
           "v2s1": mediatype.DOCKER_V2S1_SIGNED_MANIFEST}


@pytest.fixture(params=["fake", "distribution"])
def target(request: pytest.FixtureRequest) -> Iterator[RunningRegistry]:
    if request.param == "distribution":
        yield request.getfixturevalue("distribution")
        return
    with serve(Registry()) as server:
        yield RunningRegistry(url=server.url, host=server.host)


def _repo(kind: str) -> str:
    """Unique per test: the distribution registry and the Docker engine keep state."""
    return f"clients/{kind}-{uuid.uuid4().hex[:8]}"


def _small_image(buildah: Buildah, dest: str, payload: Path) -> str:
    """Commit with gzip layers, so copies to a registry keep the layer bytes as they are."""
    container = buildah.from_image()
    buildah.copy(container, payload, "/payload.txt")
    buildah.config_set(container, "--cmd", "/bin/true")
    return buildah.commit(container, dest, "--disable-compression=false")


@pytest.fixture(scope="module")
def oci_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout with one small gzipped layer, tagged v1 (built by buildah)."""
    work = tmp_path_factory.mktemp("source")
    payload = work / "payload.txt"
    payload.write_text("fakeregistry client test\n" * 100)
    layout = work / "layout"
    _small_image(Buildah(work / "buildah"), f"oci:{layout}:v1", payload)
    return layout


def _layers(layout: Path) -> list[bytes]:
    """The layer blobs of the only image in an OCI layout, in manifest order."""
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    manifest = json.loads(_blob(layout, digest))
    return [_blob(layout, layer["digest"]) for layer in manifest["layers"]]


def _blob(layout: Path, digest: str) -> bytes:
    algorithm, encoded = digest.split(":")
    return (layout / "blobs" / algorithm / encoded).read_bytes()


@pytest.mark.requires_peer("skopeo", "buildah")
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_skopeo_copy_in_and_out(target: RunningRegistry, oci_source: Path, fmt: str,
                                tmp_path: Path) -> None:
    skopeo = Skopeo(tmp_path / "skopeo", target)
    ref = f"docker://{target.image(_repo(fmt) + ':v1')}"
    skopeo.copy(f"oci:{oci_source}:v1", ref, "--format", fmt)
    raw = skopeo.inspect(ref, "--raw").encode()
    parsed = json.loads(raw)
    if fmt == "v2s1":
        assert parsed["schemaVersion"] == 1
        assert b'"signatures"' in raw
    else:
        assert parsed["mediaType"] == FORMATS[fmt]
    assert json.loads(skopeo.inspect(ref))["Digest"] == str(manifest_digest(raw))
    if fmt == "oci":  # unchanged manifest: the registry keeps the exact bytes
        index = json.loads((oci_source / "index.json").read_text())
        assert str(manifest_digest(raw)) == index["manifests"][0]["digest"]
    out = tmp_path / "out"
    skopeo.copy(ref, f"oci:{out}:v1")
    assert _layers(out) == _layers(oci_source)


@pytest.mark.requires_peer("skopeo", "buildah")
def test_skopeo_inspect_list_tags_and_delete(target: RunningRegistry, oci_source: Path,
                                             tmp_path: Path) -> None:
    skopeo = Skopeo(tmp_path / "skopeo", target)
    repo = _repo("tags")
    for tag in ("v2", "v1"):
        skopeo.copy(f"oci:{oci_source}:v1", f"docker://{target.image(f'{repo}:{tag}')}")
    assert sorted(skopeo.list_tags(f"docker://{target.image(repo)}")) == ["v1", "v2"]
    ref = f"docker://{target.image(repo + ':v1')}"
    info = json.loads(skopeo.inspect(ref))
    assert info["Name"] == target.image(repo)
    assert sorted(info["RepoTags"]) == ["v1", "v2"]
    skopeo.delete(ref)  # deletes the manifest by digest, so both tags go
    for tag in ("v1", "v2"):
        with pytest.raises(PeerCommandError, match="manifest unknown"):
            skopeo.inspect(f"docker://{target.image(f'{repo}:{tag}')}")


@pytest.mark.requires_peer("buildah")
def test_buildah_push_and_pull(target: RunningRegistry, tmp_path: Path) -> None:
    payload = tmp_path / "payload.txt"
    payload.write_text("pushed by buildah\n")
    buildah = Buildah(tmp_path / "buildah", target)
    image_id = _small_image(buildah, "local-image", payload)
    ref = f"docker://{target.image(_repo('buildah') + ':v1')}"
    buildah.push("local-image", ref)
    assert Buildah(tmp_path / "other", target).pull(ref) == image_id


@pytest.mark.requires_peer("docker", "buildah", "busybox")
def test_docker_pull_run_and_push(target: RunningRegistry, tmp_path: Path) -> None:
    buildah = Buildah(tmp_path / "buildah", target)
    container = buildah.from_image()
    buildah.copy(container, Path("/bin/busybox"), "/bin/busybox")
    buildah.config_set(container, "--cmd", "/bin/busybox echo hello-from-fake")
    source, copy = target.image(_repo("docker") + ":v1"), target.image(_repo("docker") + ":v2")
    buildah.commit(container, f"docker://{source}")
    docker = DockerCLI(tmp_path / "docker", target)
    try:
        docker.pull(source)
        assert docker.run_container(source).stdout.strip() == "hello-from-fake"
        docker.tag(source, copy)
        pushed = docker.push(copy)
        assert "Mounted from" in pushed.stdout
        docker.remove_image(copy)
        docker.pull(copy)
    finally:
        docker.remove_image(source)
        docker.remove_image(copy)


@pytest.mark.requires_peer("skopeo", "buildah")
@pytest.mark.parametrize("mode", ["basic", "token"])
def test_skopeo_through_auth_and_tls(mode: AuthMode, oci_source: Path, tmp_path: Path) -> None:
    """skopeo logs in (Basic, or the Bearer token dance) and trusts the fake's own CA."""
    auth = AuthConfig.with_passwords(mode, {"pusher": "pw"}, readonly=frozenset({"viewer"}))
    registry = Registry(auth=auth)
    with serve(registry, tls=True) as server:
        target = RunningRegistry(url=server.url, host=server.host, ca_file=server.ca_file,
                                 credentials=Credentials("pusher", "pw"))
        skopeo = Skopeo(tmp_path / "skopeo", target)
        ref = f"docker://{target.image('secure/app:v1')}"
        # Recompressing makes the layer size unknown: Go sends it chunked.
        skopeo.copy(f"oci:{oci_source}:v1", ref, "--dest-compress-format", "zstd")
        assert skopeo.list_tags(f"docker://{target.image('secure/app')}") == ["v1"]
        anonymous = Skopeo(tmp_path / "anonymous", replace(target, credentials=None))
        with pytest.raises(PeerCommandError, match=r"unauthorized|authentication required|denied"):
            anonymous.inspect(ref)
    assert registry.transcript.requests(status=401)
    patches = registry.transcript.requests(method="PATCH", status=202)
    assert any(e.request_headers.get("Transfer-Encoding") == "chunked" for e in patches)
    secrets = [e for e in registry.transcript.entries if "Authorization" in e.request_headers]
    assert secrets
    assert all(e.request_headers["Authorization"] == "<redacted>" for e in secrets)
