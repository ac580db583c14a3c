"""Conversions compared byte for byte with skopeo's (containers/image) on the same image."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

import pytest

from harness.model import gojson, mediatype, schema1
from harness.model.convert import convert_manifest
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.manifest import DockerManifest, Schema1Manifest, parse_manifest
from harness.pytest_plugin.images import BuiltImage

pytestmark = pytest.mark.requires_peer("skopeo")


def skopeo_copy(source: str, dest_dir: Path, fmt: str) -> bytes:
    subprocess.run(["skopeo", "copy", "--quiet", "--format", fmt, source, f"dir:{dest_dir}"],
                   check=True, capture_output=True, timeout=60)
    return (dest_dir / "manifest.json").read_bytes()


def blob(directory: Path, digest: Digest) -> bytes:
    return (directory / digest.hex).read_bytes()


def test_oci_to_v2s2_matches_skopeo(layout: BuiltImage, tmp_path: Path) -> None:
    theirs = skopeo_copy(str(layout.reference), tmp_path / "out", "v2s2")
    ours = convert_manifest(layout.manifest, mediatype.OCI_MANIFEST,
                            mediatype.DOCKER_V2S2_MANIFEST)
    assert ours.manifest == theirs
    assert ours.config is None  # the config blob is reused


def test_oci_to_schema1_matches_skopeo(layout: BuiltImage, tmp_path: Path) -> None:
    out = tmp_path / "out"
    theirs = skopeo_copy(str(layout.reference), out, "v2s1")
    ours = convert_manifest(layout.manifest, mediatype.OCI_MANIFEST,
                            mediatype.DOCKER_V2S1_SIGNED_MANIFEST, config=layout.config)
    # The signatures differ (throwaway keys); the signed payloads, hence digests, do not.
    assert schema1.verify(ours.manifest) == schema1.verify(theirs)
    assert [d.digest for d, _ in ours.extra_blobs] == [schema1.EMPTY_LAYER_DIGEST]
    assert blob(out, schema1.EMPTY_LAYER_DIGEST) == schema1.EMPTY_LAYER_GZIP


def test_schema1_to_v2s2_matches_skopeo(layout: BuiltImage, tmp_path: Path) -> None:
    s1_dir = tmp_path / "s1"
    s1 = skopeo_copy(str(layout.reference), s1_dir, "v2s1")
    back = tmp_path / "back"
    theirs = skopeo_copy(f"dir:{s1_dir}", back, "v2s2")
    manifest = parse_manifest(s1)
    assert isinstance(manifest, Schema1Manifest)
    layers, diff_ids = [], []
    for layer in manifest.layers:
        data = blob(s1_dir, layer.digest)
        layers.append(Descriptor(mediatype.DOCKER_LAYER_GZIP, layer.digest, len(data)))
        diff_ids.append(Digest.from_bytes(gzip.decompress(data)))
    ours = convert_manifest(s1, mediatype.DOCKER_V2S1_SIGNED_MANIFEST,
                            mediatype.DOCKER_V2S2_MANIFEST, layers=layers, diff_ids=diff_ids)
    assert ours.manifest == theirs
    converted = parse_manifest(theirs)
    assert isinstance(converted, DockerManifest)
    assert ours.config == blob(back, converted.config.digest)


def test_v2s2_to_oci_matches_skopeo(tmp_path: Path) -> None:
    """A Docker config with Docker-only fields, as `docker build` writes them."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "version").write_text("Directory Transport Version: 1.1\n")
    layer = gzip.compress(b"\0" * 1024, mtime=0)
    layer_digest = Digest.from_bytes(layer)
    (src / layer_digest.hex).write_bytes(layer)
    config = gojson.dumps({
        "architecture": "amd64",
        "config": {"Hostname": "", "User": "app", "Env": ["A=1"], "Cmd": ["run"],
                   "Image": "sha256:" + "9" * 64, "WorkingDir": "/srv", "OnBuild": None,
                   "Labels": {"l": "v"}, "ExposedPorts": {"80/tcp": {}}},
        "container": "c" * 64,
        "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) CMD run"]},
        "created": "2024-02-03T04:05:06.123456789Z",
        "docker_version": "20.10.24",
        "history": [{"created": "2024-02-03T04:05:06.123456789Z", "created_by": "ADD x /"}],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [str(Digest.from_bytes(b"\0" * 1024))]},
    })
    config_digest = Digest.from_bytes(config)
    (src / config_digest.hex).write_bytes(config)
    manifest = DockerManifest(
        config=Descriptor(mediatype.DOCKER_CONFIG, config_digest, len(config)),
        layers=[Descriptor(mediatype.DOCKER_LAYER_GZIP, layer_digest, len(layer))],
    ).to_bytes()
    (src / "manifest.json").write_bytes(manifest)
    out = tmp_path / "out"
    theirs = skopeo_copy(f"dir:{src}", out, "oci")
    ours = convert_manifest(manifest, mediatype.DOCKER_V2S2_MANIFEST, mediatype.OCI_MANIFEST,
                            config=config)
    assert ours.manifest == theirs
    their_config = blob(out, Digest.parse(json.loads(theirs)["config"]["digest"]))
    assert ours.config == their_config
