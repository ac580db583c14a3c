"""The Docker engine pulls images whose manifests were converted here, schema1 included."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
import requests

from harness.model import mediatype
from harness.model.convert import convert_manifest
from harness.model.digest import Digest
from harness.peers.launchers import RunningRegistry
from harness.pytest_plugin.images import BuiltImage, read_image


def upload(registry: RunningRegistry, repo: str, data: bytes) -> None:
    started = requests.post(f"{registry.url}/v2/{repo}/blobs/uploads/", timeout=10)
    assert started.status_code == 202, started.text
    location = requests.compat.urljoin(registry.url, started.headers["Location"])
    done = requests.put(location, params={"digest": str(Digest.from_bytes(data))}, data=data,
                        timeout=10)
    assert done.status_code == 201, done.text


@pytest.mark.requires_peer("docker")
@pytest.mark.parametrize("target", [mediatype.DOCKER_V2S1_SIGNED_MANIFEST,
                                    mediatype.DOCKER_V2S2_MANIFEST])
def test_docker_pulls_a_converted_image(distribution: RunningRegistry, layout: BuiltImage,
                                        target: str) -> None:
    repo = f"model/pull-{uuid.uuid4().hex[:8]}"
    blobs = read_image(layout.reference).blobs
    for layer in layout.layers:
        upload(distribution, repo, blobs[layer.digest])
    upload(distribution, repo, layout.config)
    conversion = convert_manifest(layout.manifest, mediatype.OCI_MANIFEST, target,
                                  config=layout.config, name=repo, tag="v1")
    for _, data in conversion.extra_blobs:
        upload(distribution, repo, data)
    put = requests.put(f"{distribution.url}/v2/{repo}/manifests/v1", data=conversion.manifest,
                       headers={"Content-Type": conversion.media_type}, timeout=10)
    assert put.status_code == 201, put.text
    image = distribution.image(f"{repo}:v1")
    subprocess.run(["docker", "pull", "-q", image], check=True, capture_output=True, timeout=120)
    try:
        inspect = subprocess.run(["docker", "image", "inspect", image], check=True,
                                 capture_output=True, timeout=30)
        info = json.loads(inspect.stdout)[0]
        assert info["RootFS"]["Layers"] == [str(d) for d in layout.diff_ids]
        assert info["Config"]["Cmd"] == ["/bin/sh"]
        assert info["Config"]["Labels"] == {"x": "y"}
    finally:
        subprocess.run(["docker", "rmi", "-f", image], check=False, capture_output=True,
                       timeout=60)
