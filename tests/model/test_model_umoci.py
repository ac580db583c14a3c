"""Configs written by umoci (Go, image-spec structs) serialise back to the same bytes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.model.config import OCIConfig
from harness.model.digest import Digest
from harness.model.manifest import OCIIndex, OCIManifest, parse_manifest


@pytest.mark.requires_peer("umoci")
def test_umoci_config_and_index_round_trip(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    image = f"{layout}:t"
    for args in (["init", "--layout", str(layout)], ["new", "--image", image],
                 ["config", "--image", image, "--config.cmd", "sh", "--config.env", "A=1",
                  "--author", "me", "--history.created_by", "x", "--config.label", "k=v",
                  "--config.workingdir", "/srv"]):
        subprocess.run(["umoci", *args], check=True, capture_output=True, timeout=60)

    def blob(digest: Digest) -> bytes:
        return (layout / "blobs" / digest.algorithm / digest.hex).read_bytes()

    index_bytes = (layout / "index.json").read_bytes()
    index = parse_manifest(index_bytes)
    assert isinstance(index, OCIIndex)
    manifest = parse_manifest(blob(index.manifests[0].digest))
    assert isinstance(manifest, OCIManifest)
    config_bytes = blob(manifest.config.digest)
    config = OCIConfig.from_bytes(config_bytes)
    assert config.author == "me" and config.config["WorkingDir"] == "/srv"
    assert config.history[0].created_by == "x" and config.history[0].empty_layer
    # umoci's json.Encoder adds a newline; otherwise the bytes are Go's, key for key.
    assert config.to_bytes() == config_bytes.rstrip(b"\n")
    assert json.loads(index.to_bytes()) == {**json.loads(index_bytes),
                                            "mediaType": index.media_type}
