"""The image kit's given-content layers and config settings: what a test writes is what
the layer and the config hold, and a description that cannot be built is refused."""

from __future__ import annotations

import io
import json
import stat
import tarfile
from pathlib import Path

import pytest

from harness.model import mediatype
from harness.model.compression import Algorithm
from harness.model.config import HistoryEntry
from harness.model.descriptor import Platform
from harness.pytest_plugin.images import ImageSpec, read_image, write_image, write_index
from harness.pytest_plugin.trees import ImageSpecError, TreeEntry, files_tree, layer_tar
from harness.transports.alltransports import parse_image_name


def test_given_files_and_symlinks_are_the_layer() -> None:
    tree = files_tree({"bin/tool": b"#!/bin/sh\n", "empty": b""}, {"bin/sh": "tool"},
                      mode=0o755)
    with tarfile.open(fileobj=io.BytesIO(layer_tar(tree))) as tar:
        assert [(m.name, m.type) for m in tar.getmembers()] == [
            ("bin", tarfile.DIRTYPE), ("bin/sh", tarfile.SYMTYPE),
            ("bin/tool", tarfile.REGTYPE), ("empty", tarfile.REGTYPE)]
        tool = tar.getmember("bin/tool")
        assert tool.mode == stat.S_IFREG | 0o755  # Go's mode, with the type bits
        member = tar.extractfile(tool)
        assert member is not None and member.read() == b"#!/bin/sh\n"
        assert tar.getmember("bin/sh").linkname == "tool"


def test_content_only_for_files_of_its_length() -> None:
    assert TreeEntry.holding("a", b"abc").size == 3
    with pytest.raises(ImageSpecError, match="only a file has content"):
        TreeEntry("a", size=2, content=b"abc")
    with pytest.raises(ImageSpecError, match="only a file has content"):
        TreeEntry("a", "dir", content=b"")


def test_run_settings_and_history_are_the_config(tmp_path: Path) -> None:
    history = (HistoryEntry("2024-01-01T00:00:00Z", "ADD a"),
               HistoryEntry("2024-01-02T00:00:00Z", "ENV x", empty_layer=True))
    spec = ImageSpec((files_tree({"a": b"a"}),), mediatype.DOCKER_V2S2_MANIFEST,
                     Algorithm.NONE, "arm64", run={"Env": ["A=b"], "Labels": {"k": "v"}},
                     created="2024-01-03T00:00:00Z", history=history)
    reference = parse_image_name(f"dir:{tmp_path}/d")
    image = write_image(spec, reference)
    config = json.loads(image.config)
    assert (config["architecture"], config["created"], config["config"]) == (
        "arm64", "2024-01-03T00:00:00Z", {"Env": ["A=b"], "Labels": {"k": "v"}})
    assert [h.get("empty_layer", False) for h in config["history"]] == [False, True]
    assert image.layers[0].media_type == mediatype.DOCKER_LAYER
    assert read_image(reference).blobs[image.layers[0].digest] == image.layer_tars()[0]
    with pytest.raises(ImageSpecError, match="1 steps that add a layer, the image 2 layers"):
        ImageSpec((files_tree({"a": b"a"}),) * 2, history=history)


def test_an_index_lists_its_images_in_the_order_given(tmp_path: Path) -> None:
    platforms = (Platform("arm", "linux", variant="v7"), Platform("amd64", "windows"))
    index = write_index(parse_image_name(f"dir:{tmp_path}/list"), platforms, docker=True)
    assert index.media_type == mediatype.DOCKER_MANIFEST_LIST
    entries = json.loads(index.manifest)["manifests"]
    assert [e["digest"] for e in entries] == [str(i.digest) for i in index.images]
    assert [i.media_type for i in index.images] == [mediatype.DOCKER_V2S2_MANIFEST] * 2
    assert [e["platform"]["architecture"] for e in entries] == ["arm", "amd64"]
    assert [layer_tar(i.spec.layers[1]) for i in index.images] == [
        layer_tar(files_tree({"arch": b"linux/arm/v7"})),
        layer_tar(files_tree({"arch": b"windows/amd64"}))]
