"""The files of an ``oci:`` layout, byte for byte as skopeo 1.9 (containers/image 5.23)
writes them: the same generated images copied by both tools, step by step, into a fresh
layout, into one umoci made and into one whose ``index.json`` has a ``mediaType`` and
annotations; after each step ``index.json``, ``oci-layout`` and every blob are compared
(bytes and modes). The steps add a second name, move a name (the old entry stays
unnamed, and a later copy of that manifest takes it over in place), copy without a name
twice, and copy an image index with ``--all``, also over an existing name."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.peers.detect import require_peer
from harness.pytest_plugin.images import ImageSpec, write_image, write_index
from harness.pytest_plugin.trees import files_tree
from harness.transports.alltransports import parse_image_name

STEPS = (  # (source, name in the layout, extra flags)
    ("a", "v1", ()), ("b", "v2", ()), ("b", "v1", ()), ("a", "v3", ()), ("a", "", ()),
    ("a", "", ()), ("index", "multi", ("--all",)), ("index", "v2", ("--all",)),
)

TYPED_INDEX = (b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'
               b'"manifests":[],"annotations":{"org.example.b":"2","org.example.a":"1"}}')


def _files(layout: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under *layout*: its mode and bytes."""
    return {str(p.relative_to(layout)): (p.stat().st_mode, p.read_bytes())
            for p in sorted(layout.rglob("*")) if p.is_file()}


def _umoci_layout(path: Path) -> None:
    """A layout umoci 0.4.7 made (its ``index.json`` is 0600, its ``oci-layout`` compact)."""
    for args in (["init", "--layout", str(path)], ["new", "--image", f"{path}:base"]):
        subprocess.run(["umoci", *args], check=True, capture_output=True, timeout=60)


@pytest.mark.requires_peer("skopeo")
@pytest.mark.parametrize("start", [
    "fresh", "typed", pytest.param("umoci", marks=pytest.mark.requires_peer("umoci"))])
def test_layout_files_are_skopeos(start: str, tmp_path: Path, policy: Path) -> None:
    require_peer("skopeo")
    sources = {name: f"oci:{tmp_path}/src:{name}" for name in ("a", "b", "index")}
    for name, text in (("a", b"image a\n"), ("b", b"image b\n")):
        write_image(ImageSpec((files_tree({"etc/motd": text}),)), parse_image_name(sources[name]))
    write_index(parse_image_name(sources["index"]))
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    if start == "umoci":
        require_peer("umoci")
        _umoci_layout(ours)
        shutil.copytree(ours, theirs)  # umoci's config records when it was made
    if start == "typed":  # containers/image keeps its mediaType and annotations
        for layout in (ours, theirs):
            (layout / "blobs").mkdir(parents=True)
            (layout / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
            (layout / "index.json").write_bytes(TYPED_INDEX)
    for step, (source, name, flags) in enumerate(STEPS):
        dest = f"{{}}:{name}" if name else "{}"
        assert main(["copy", "-q", "--policy", str(policy), *flags, sources[source],
                     "oci:" + dest.format(ours)]) == 0
        done = subprocess.run(["skopeo", "--policy", str(policy), "copy", "-q", *flags,
                               sources[source], "oci:" + dest.format(theirs)],
                              capture_output=True, text=True, check=False, timeout=120)
        assert done.returncode == 0, done.stderr
        mine, skopeos = _files(ours), _files(theirs)
        for top in ("oci-layout", "index.json"):
            assert mine.pop(top) == skopeos.pop(top), f"step {step}: {top}"
        assert mine == skopeos, f"step {step}: blobs"
