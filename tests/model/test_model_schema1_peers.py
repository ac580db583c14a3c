"""Schema1 signatures exchanged with the real distribution registry 2.8 and skopeo."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
import requests

from harness.model import mediatype, schema1
from harness.model.digest import Digest
from harness.model.manifest import Schema1Manifest, manifest_digest, parse_manifest
from harness.peers.launchers import RunningRegistry
from harness.pytest_plugin.images import BuiltImage

SIGNED = mediatype.DOCKER_V2S1_SIGNED_MANIFEST


def upload_blob(registry: RunningRegistry, repo: str, data: bytes) -> Digest:
    digest = Digest.from_bytes(data)
    started = requests.post(f"{registry.url}/v2/{repo}/blobs/uploads/", timeout=10)
    assert started.status_code == 202, started.text
    location = requests.compat.urljoin(registry.url, started.headers["Location"])
    response = requests.put(location, params={"digest": str(digest)}, data=data, timeout=10)
    assert response.status_code == 201, response.text
    return digest


def schema1_payload(repo: str, tag: str) -> Schema1Manifest:
    v1 = {"id": "1" * 64, "created": "2024-01-01T00:00:00Z", "architecture": "amd64",
          "os": "linux", "config": {"Cmd": ["/bin/sh"]}}
    return Schema1Manifest(
        name=repo, tag=tag, architecture="amd64", fs_layers=[schema1.EMPTY_LAYER_DIGEST],
        history=[json.dumps(v1, separators=(",", ":"))], signed=True)


def put_manifest(registry: RunningRegistry, repo: str, ref: str, data: bytes,
                 media_type: str = SIGNED) -> requests.Response:
    return requests.put(f"{registry.url}/v2/{repo}/manifests/{ref}", data=data,
                        headers={"Content-Type": media_type}, timeout=10)


def get_manifest(registry: RunningRegistry, repo: str, ref: str) -> requests.Response:
    response = requests.get(f"{registry.url}/v2/{repo}/manifests/{ref}",
                            headers={"Accept": SIGNED}, timeout=10)
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize("indent", ["", "   "])
def test_registry_accepts_manifests_signed_here(distribution: RunningRegistry,
                                                indent: str) -> None:
    repo = f"model/signed-{uuid.uuid4().hex[:8]}"
    upload_blob(distribution, repo, schema1.EMPTY_LAYER_GZIP)
    payload = schema1_payload(repo, "v1").payload()
    if indent:
        payload = json.dumps(json.loads(payload), indent=indent).encode()
    signed = schema1.sign(payload)
    response = put_manifest(distribution, repo, "v1", signed)
    assert response.status_code == 201, response.text
    assert response.headers["Docker-Content-Digest"] == str(manifest_digest(signed))
    assert manifest_digest(signed) == Digest.from_bytes(payload)
    fetched = get_manifest(distribution, repo, "v1")
    assert schema1.verify(fetched.content) == payload


def test_registry_and_we_both_reject_a_tampered_signature(
        distribution: RunningRegistry) -> None:
    repo = f"model/tampered-{uuid.uuid4().hex[:8]}"
    upload_blob(distribution, repo, schema1.EMPTY_LAYER_GZIP)
    signed = schema1.sign(schema1_payload(repo, "v1").payload())
    tampered = signed.replace(b'"tag":"v1"', b'"tag":"v2"')
    with pytest.raises(schema1.SignatureError):
        schema1.verify(tampered)
    response = put_manifest(distribution, repo, "v2", tampered)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "MANIFEST_UNVERIFIED"


@pytest.mark.requires_peer("skopeo")
def test_manifest_signed_by_skopeo_verifies_here(distribution: RunningRegistry,
                                                 layout: BuiltImage) -> None:
    repo = f"model/skopeo-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["skopeo", "copy", "--quiet", "--format", "v2s1", "--dest-tls-verify=false",
         str(layout.reference), f"docker://{distribution.image(repo)}:v1"],
        check=True, capture_output=True, timeout=60)
    response = get_manifest(distribution, repo, "v1")
    data = response.content
    payload = schema1.verify(data)
    assert Digest.from_bytes(payload) == manifest_digest(data)
    assert response.headers["Docker-Content-Digest"] == str(manifest_digest(data))
    manifest = parse_manifest(data)
    assert isinstance(manifest, Schema1Manifest)
    assert manifest.signed and manifest.name == repo and manifest.tag == "v1"
    # One fsLayers entry per config history entry (two layers + one empty one).
    assert len(manifest.fs_layers) == 3
