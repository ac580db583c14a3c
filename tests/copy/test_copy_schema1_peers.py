"""A schema1 source converted to schema2 as skopeo (containers/image) converts it: the
layer blobs are kept as they are (only their diffIDs are computed), so the manifest is
byte for byte skopeo's, and the report has one line per fsLayer, repeated ones too."""

from __future__ import annotations

import io
import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from harness.copy.engine import CopyOptions, copy_image
from harness.model import gojson, mediatype
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.manifest import OCIIndex
from harness.transports.alltransports import parse_image_name
from tests._support.model_layout import make_layout

pytestmark = pytest.mark.requires_peer("skopeo")


def _with_two_empty_entries(root: Path) -> str:
    """The layout of make_layout with a second empty_layer history entry, so that its
    schema1 form names the empty layer twice; returns the tag."""
    layout = make_layout(root)
    config = json.loads(layout.config)
    config["history"].append({"created": "2024-01-09T00:00:00Z",
                              "created_by": "/bin/sh -c #(nop) CMD [\"sh\"]",
                              "empty_layer": True})
    config_blob = gojson.dumps(config)
    manifest = replace(layout.manifest, config=Descriptor(
        mediatype.OCI_CONFIG, Digest.from_bytes(config_blob), len(config_blob))).to_bytes()
    blobs = root / "blobs" / "sha256"
    for blob in (config_blob, manifest):
        (blobs / Digest.from_bytes(blob).hex).write_bytes(blob)
    (root / "index.json").write_bytes(OCIIndex(manifests=[Descriptor(
        mediatype.OCI_MANIFEST, Digest.from_bytes(manifest), len(manifest),
        annotations={"org.opencontainers.image.ref.name": "two"})]).to_bytes())
    return "two"


def _skopeo(*args: str) -> str:
    return subprocess.run(["skopeo", "copy", *args], check=True, capture_output=True,
                          text=True, timeout=120).stdout


@pytest.mark.parametrize("fmt", ["v2s2", "oci"])
def test_schema1_to_schema2_keeps_the_blobs(tmp_path: Path, policy: Path, fmt: str) -> None:
    tag = _with_two_empty_entries(tmp_path / "oci")
    s1 = tmp_path / "s1"
    _skopeo("--quiet", "--format", "v2s1", f"oci:{tmp_path / 'oci'}:{tag}", f"dir:{s1}")
    fs_layers = [x["blobSum"] for x in json.loads((s1 / "manifest.json").read_text())
                 ["fsLayers"]]
    assert len(fs_layers) == len(set(fs_layers)) + 1  # the empty layer, twice
    theirs = tmp_path / "theirs"
    their_report = _skopeo("--format", fmt, f"dir:{s1}", f"dir:{theirs}")
    ours, report = tmp_path / "ours", io.StringIO()
    copy_image(parse_image_name(f"dir:{ours}"), parse_image_name(f"dir:{s1}"), CopyOptions(
        manifest_type=mediatype.DOCKER_V2S2_MANIFEST if fmt == "v2s2"
        else mediatype.OCI_MANIFEST, report_writer=report, signature_policy_path=policy))
    assert (ours / "manifest.json").read_bytes() == (theirs / "manifest.json").read_bytes()
    for layer in json.loads((ours / "manifest.json").read_text())["layers"]:
        name = layer["digest"].removeprefix("sha256:")
        assert (ours / name).read_bytes() == (s1 / name).read_bytes()
    assert report.getvalue().splitlines() == their_report.splitlines()
