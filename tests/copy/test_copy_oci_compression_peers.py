"""An ``oci:`` destination compresses uncompressed layers as skopeo 1.9's does
(containers/image 5.23's ``DesiredLayerCompression``), unless
``--dest-oci-accept-uncompressed-layers``: the same uncompressed image, from ``dir:``,
``docker-archive:`` and ``oci:``, copied by both tools to an OCI layout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.model import mediatype
from harness.model.compression import Algorithm
from harness.model.digest import Digest
from harness.pytest_plugin.images import ImageSpec, plain_layers, read_image, write_image
from harness.pytest_plugin.trees import files_tree
from harness.transports.alltransports import parse_image_name

SOURCES = {"dir": ("dir:{d}/src", mediatype.OCI_MANIFEST),
           "docker-archive": ("docker-archive:{d}/src.tar:localhost/src:v1",
                              mediatype.DOCKER_V2S2_MANIFEST),
           "oci": ("oci:{d}/src:v1", mediatype.OCI_MANIFEST)}
FLAG = "--dest-oci-accept-uncompressed-layers"


def _copy(argv: list[str], src: str, dest: str, policy: Path, flags: list[str]) -> None:
    done = subprocess.run([*argv, "copy", "--quiet", "--policy", str(policy), *flags, src,
                           dest], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr


def _without_blob_ids(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with its layers' digests and sizes left out: the gzip bytes differ
    by compressor only (item 4 of docs/store.md's deliberate differences)."""
    layers = [{k: v for k, v in layer.items() if k not in ("digest", "size")}
              for layer in manifest["layers"]]
    return {**manifest, "layers": layers}


@pytest.mark.requires_peer("skopeo")
@pytest.mark.parametrize("flags", [[], [FLAG]], ids=["default", "accept-uncompressed"])
@pytest.mark.parametrize("kind", sorted(SOURCES))
@pytest.mark.parametrize("dest", ["oci", "oci-archive"])
def test_oci_destination_compresses_as_skopeo(kind: str, flags: list[str], dest: str,
                                              tmp_path: Path, policy: Path) -> None:
    pattern, manifest_type = SOURCES[kind]
    src = pattern.format(d=tmp_path)
    spec = ImageSpec((files_tree({"etc/motd": b"hello\n"}),
                      files_tree({"srv/data": b"x" * 5000, "srv/more": b"y\n"})),
                     manifest_type=manifest_type, compression=Algorithm.NONE)
    write_image(spec, parse_image_name(src))
    where = {"oci": "{d}/{who}:v1", "oci-archive": "{d}/{who}.tar:v1"}[dest]
    ours = f"{dest}:{where.format(d=tmp_path, who='ours')}"
    theirs = f"{dest}:{where.format(d=tmp_path, who='theirs')}"
    _copy([sys.executable, "-m", "harness"], src, ours, policy, flags)
    _copy(["skopeo"], src, theirs, policy, flags)

    mine, skopeos = read_image(parse_image_name(ours)), read_image(parse_image_name(theirs))
    ours_manifest, their_manifest = json.loads(mine.raw), json.loads(skopeos.raw)
    assert plain_layers(parse_image_name(ours)) == plain_layers(parse_image_name(theirs))
    config = Digest.parse(ours_manifest["config"]["digest"])
    assert str(config) == their_manifest["config"]["digest"]
    assert mine.blobs[config] == skopeos.blobs[config]
    expected = mediatype.OCI_LAYER if flags else mediatype.OCI_LAYER_GZIP
    assert [x["mediaType"] for x in ours_manifest["layers"]] == [expected] * 2
    if flags and kind == "docker-archive":
        # skopeo 1.9 labels the uncompressed layers it keeps from a Docker manifest
        # tar+gzip; we label them tar (docs/store.md names this deliberate difference).
        assert [x["mediaType"] for x in their_manifest["layers"]] \
            == [mediatype.OCI_LAYER_GZIP] * 2
        for layer in their_manifest["layers"]:
            layer["mediaType"] = mediatype.OCI_LAYER
        assert ours_manifest == their_manifest
        return
    assert [x["mediaType"] for x in their_manifest["layers"]] == [expected] * 2
    if flags:  # nothing recompressed: every byte equal, the manifest digest too
        assert mine.raw == skopeos.raw
    else:
        assert _without_blob_ids(ours_manifest) == _without_blob_ids(their_manifest)
