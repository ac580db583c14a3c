"""Real clients (skopeo, buildah, podman, the Docker engine, oras-py) against the fake.

Every test runs four times, with the same battery and the same expected outcome: against
the fake (spec profile) and against the real distribution registry (Debian
docker-registry 2.8.2), each open and each behind the same token server (each client
logs in and gets tokens scoped to what it asks). Passing on all shows the test checks
real behaviour, not the fake's idea of it. The clients' versions are in the report header.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import oras.oci
import oras.provider
import pytest
import requests

from fakeregistry import AuthConfig, Registry, serve
from fakeregistry.auth import AuthMode
from harness.model import mediatype
from harness.model.manifest import manifest_digest
from harness.peers.clients import Buildah, DockerCLI, PeerCommandError, Podman, Skopeo
from harness.peers.detect import require_peer
from harness.peers.launchers import RunningRegistry
from harness.transports.types import Credentials
from tests._support.tokenauth import TokenServer, token_server

FORMATS = {"oci": mediatype.OCI_MANIFEST, "v2s2": mediatype.DOCKER_V2S2_MANIFEST,
           "v2s1": mediatype.DOCKER_V2S1_SIGNED_MANIFEST}


LOGIN = Credentials("pusher", "pw")


@pytest.fixture(scope="module")
def tokens() -> Iterator[TokenServer]:
    """The token server both token columns log in to (loopback; grants what is asked)."""
    with token_server({LOGIN.username: LOGIN.password}) as server:
        yield server


@pytest.fixture(scope="module")
def distribution_behind_tokens(tokens: TokenServer) -> Iterator[RunningRegistry]:
    require_peer("docker-registry")
    with tokens.distribution().start() as registry:
        yield replace(registry, credentials=LOGIN)


@pytest.fixture(params=["fake", "fake-token", "distribution", "distribution-token"])
def target(request: pytest.FixtureRequest, tokens: TokenServer) -> Iterator[RunningRegistry]:
    """The fake (spec profile) and docker-registry 2.8.2, each open and behind the same
    token server (the same realm, the same tokens for the same requests)."""
    if request.param.startswith("distribution"):
        request.node.user_properties.append(("requires_peer", "docker-registry"))
        yield request.getfixturevalue(request.param.replace("-token", "_behind_tokens"))
        return
    token = request.param == "fake-token"
    with serve(tokens.fake() if token else Registry()) as server:
        yield RunningRegistry(url=server.url, host=server.host,
                              credentials=LOGIN if token else None)


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


@pytest.mark.requires_peer("podman", "skopeo", "buildah")
def test_podman_pull_tag_and_push(target: RunningRegistry, oci_source: Path,
                                  tmp_path: Path) -> None:
    """podman (vfs, its store in a temporary folder) pulls, pushes under a new name, and a
    second podman pulls that back as the same image."""
    source = f"docker://{target.image(_repo('podman') + ':v1')}"
    Skopeo(tmp_path / "skopeo", target).copy(f"oci:{oci_source}:v1", source)
    podman = Podman(tmp_path / "podman", target)
    image_id = podman.pull(source)
    copy = target.image(_repo("podman") + ":v2")
    podman.tag(image_id, copy)
    podman.push(copy, f"docker://{copy}")
    other = Podman(tmp_path / "other", target)
    assert other.pull(f"docker://{copy}") == image_id
    assert other.image_id(copy) == image_id


@pytest.mark.requires_peer("docker", "buildah", "busybox")
def test_docker_pull_run_and_push(target: RunningRegistry, tmp_path: Path) -> None:
    buildah = Buildah(tmp_path / "buildah", target)
    container = buildah.from_image()
    buildah.copy(container, Path("/bin/busybox"), "/bin/busybox")
    buildah.config_set(container, "--cmd", "/bin/busybox echo hello-from-fake")
    source, copy = target.image(_repo("docker") + ":v1"), target.image(_repo("docker") + ":v2")
    buildah.commit(container, f"docker://{source}")
    docker = DockerCLI(tmp_path / "docker", target)
    docker.login()
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


ARTIFACT_TYPE = "application/vnd.oci-harness.test.v1+json"
FILE_TYPE = "application/vnd.oci-harness.file.v1"


def _oras(target: RunningRegistry) -> oras.provider.Registry:
    """An oras-py client for *target*: plain HTTP, its credentials set directly (its
    ``login`` would write a Docker config)."""
    client = oras.provider.Registry(hostname=target.host, insecure=True)
    if target.credentials is not None:
        client.auth.set_basic_auth(target.credentials.username, target.credentials.password)
    return client


def _push_files(client: oras.provider.Registry, ref: str, files: list[Path],
                config: Path, subject: oras.oci.Subject | None = None) -> str:
    """``push`` files, each with FILE_TYPE, the config typed ARTIFACT_TYPE; its digest."""
    response = client.push(target=ref, files=[f"{f}:{FILE_TYPE}" for f in files],
                           manifest_config=f"{config}:{ARTIFACT_TYPE}", subject=subject,
                           disable_path_validation=True, quiet=True)
    digest: str = response.headers["Docker-Content-Digest"]
    return digest


def _attach(client: oras.provider.Registry, repo: str, subject: str, files: list[Path],
            config: Path) -> str:
    """``oras attach``: push a manifest whose subject is *subject*; when the registry does
    not say it indexed it (no ``OCI-Subject``), keep the referrers tag ``sha256-<hex>`` as
    the distribution spec asks clients to (oras-py alone does not)."""
    manifest = client.get_manifest(f"{client.hostname}/{repo}@{subject}")
    raw = client.do_request(f"{client.prefix}://{client.hostname}/v2/{repo}/manifests/{subject}",
                            headers={"Accept": manifest["mediaType"]})
    reference = oras.oci.Subject(manifest["mediaType"], subject, len(raw.content))
    response = client.push(target=f"{client.hostname}/{repo}", subject=reference,
                           files=[f"{f}:{FILE_TYPE}" for f in files],
                           manifest_config=f"{config}:{ARTIFACT_TYPE}",
                           disable_path_validation=True, quiet=True)
    digest: str = response.headers["Docker-Content-Digest"]
    if "OCI-Subject" not in response.headers:
        index = _referrers_tag_index(client, repo, subject)
        index["manifests"].append({"mediaType": mediatype.OCI_MANIFEST, "digest": digest,
                                   "size": int(response.request.headers["Content-Length"]),
                                   "artifactType": ARTIFACT_TYPE})
        put = client.do_request(
            f"{client.prefix}://{client.hostname}/v2/{repo}/manifests/{_fallback_tag(subject)}",
            "PUT", data=json.dumps(index).encode(),
            headers={"Content-Type": mediatype.OCI_INDEX})
        assert put.status_code == 201, put.text
    return digest


def _fallback_tag(digest: str) -> str:
    return digest.replace(":", "-")


def _referrers_tag_index(client: oras.provider.Registry, repo: str,
                         subject: str) -> dict[str, Any]:
    response = client.do_request(
        f"{client.prefix}://{client.hostname}/v2/{repo}/manifests/{_fallback_tag(subject)}",
        headers={"Accept": mediatype.OCI_INDEX})
    if response.status_code == 404:
        return {"schemaVersion": 2, "mediaType": mediatype.OCI_INDEX, "manifests": []}
    index: dict[str, Any] = response.json()
    return index


def _discover(client: oras.provider.Registry, repo: str, subject: str) -> list[str]:
    """``oras discover``: the referrers API, or the referrers tag where it is missing."""
    response = client.do_request(
        f"{client.prefix}://{client.hostname}/v2/{repo}/referrers/{subject}")
    if response.status_code == 200:
        found = response.json()["manifests"]
    else:
        found = _referrers_tag_index(client, repo, subject)["manifests"]
    return sorted(m["digest"] for m in found if m.get("artifactType") == ARTIFACT_TYPE)


def _oras_battery(client: oras.provider.Registry, target: RunningRegistry,
                  repo: str, tmp_path: Path) -> None:
    """Files pushed with an artifact type, tags, manifest fetch by tag and digest, pull,
    a blob pushed and fetched alone, attach and discover."""
    files = []
    for name, text in [("a.txt", "first file\n"), ("b.json", '{"second": true}\n')]:
        files.append(tmp_path / name)
        files[-1].write_text(text)
    config = tmp_path / "config.json"
    config.write_text('{"made-by": "oci-harness"}')
    digest = _push_files(client, target.image(f"{repo}:v1"), files, config)
    _push_files(client, target.image(f"{repo}:v2"), files[:1], config)
    assert sorted(client.get_tags(target.image(repo))) == ["v1", "v2"]

    manifest = client.get_manifest(target.image(f"{repo}:v1"))
    assert manifest["config"]["mediaType"] == ARTIFACT_TYPE
    assert [layer["mediaType"] for layer in manifest["layers"]] == [FILE_TYPE] * 2
    assert client.get_manifest(target.image(f"{repo}@{digest}")) == manifest

    out = tmp_path / "out"
    pulled = client.pull(target=target.image(f"{repo}:v1"), outdir=str(out))
    assert sorted(Path(p).read_bytes() for p in pulled) == sorted(f.read_bytes() for f in files)

    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"a blob pushed alone\n" * 50)
    layer = oras.oci.NewLayer(str(blob), media_type=FILE_TYPE)
    upload = client.upload_blob(str(blob), client.get_container(target.image(repo)), layer)
    assert upload.status_code == 201
    fetched = client.get_blob(client.get_container(target.image(repo)), layer["digest"])
    assert fetched.content == blob.read_bytes()

    referrers = [_attach(client, repo, digest, [files[i]], config) for i in range(2)]
    assert _discover(client, repo, digest) == sorted(referrers)


# Through token auth: the tests after this one.
@pytest.mark.parametrize("target", ["fake", "distribution"], indirect=True)
def test_oras_push_pull_tags_blobs_attach_and_discover(target: RunningRegistry,
                                                        tmp_path: Path) -> None:
    _oras_battery(_oras(target), target, _repo("oras"), tmp_path)


def _asked_scopes(tokens: TokenServer, since: int) -> list[str]:
    return [scope for entry in tokens.registry.transcript.entries[since:]
            for scope in parse_qs(entry.query).get("scope", [])]


@pytest.mark.parametrize("target", ["fake-token", "distribution-token"], indirect=True)
def test_oras_push_through_token_auth_stops_on_insufficient_scope_on_both(
        target: RunningRegistry, tokens: TokenServer, tmp_path: Path) -> None:
    """oras-py 0.2.43 logs in from the challenge of its first request, the blob HEAD
    (``scope="repository:R:pull"``), and keeps that token: on the POST that opens the
    upload, distribution 2.8.2 and the fake both answer 401 insufficient_scope naming
    ``pull,push``, and oras-py retries with the token it holds (oras/auth/token.py
    ``authenticate_request`` returns the cached token before reading the challenge; only
    a 403 makes provider.py ``do_request`` drop it), gets the same 401 and gives up.
    The token server shows the same on both: only pull was ever asked for."""
    repo = _repo("oras-token")
    payload = tmp_path / "payload.txt"
    payload.write_text("through token auth\n")
    config = tmp_path / "config.json"
    config.write_text("{}")
    since = len(tokens.registry.transcript.entries)
    with pytest.raises(ValueError, match=r"Issue retrieving session url.*UNAUTHORIZED"):
        _push_files(_oras(target), target.image(f"{repo}:v1"), [payload], config)
    asked = _asked_scopes(tokens, since)
    assert asked and set(asked) == {f"repository:{repo}:pull"}


@pytest.mark.parametrize("target", ["fake-token", "distribution-token"], indirect=True)
def test_oras_through_token_auth_with_a_push_token_given(
        target: RunningRegistry, tokens: TokenServer, tmp_path: Path) -> None:
    """The way round it for oras-py users: a token for pull,push asked up front and set
    with ``auth.set_token_auth``; the whole battery then passes on both."""
    repo = _repo("oras-token")
    answer = requests.get(tokens.realm, auth=("pusher", "pw"), params={
        "service": tokens.auth.service, "scope": f"repository:{repo}:pull,push"})
    answer.raise_for_status()
    client = _oras(replace(target, credentials=None))
    client.auth.set_token_auth(answer.json()["token"])
    _oras_battery(client, target, repo, tmp_path)
