"""A schema1 source converted to schema2 as skopeo (containers/image) converts it: the
layer blobs are kept as they are (only their diffIDs are computed), so the manifest is
byte for byte skopeo's, and the report has one line per fsLayer, repeated ones too."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest

from harness.copy.engine import CopyOptions, copy_image
from harness.model import mediatype
from harness.model.config import HistoryEntry
from harness.pytest_plugin.images import write_image
from harness.transports.alltransports import parse_image_name
from tests._support.manifest_samples import history_spec

pytestmark = pytest.mark.requires_peer("skopeo")


def _with_two_empty_entries(root: Path) -> str:
    """:func:`history_spec` with a second empty_layer history entry, so that its schema1
    form names the empty layer twice; returns the tag."""
    write_image(history_spec(HistoryEntry("2024-01-09T00:00:00Z",
                                          '/bin/sh -c #(nop) CMD ["sh"]', empty_layer=True)),
                parse_image_name(f"oci:{root}:two"))
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
