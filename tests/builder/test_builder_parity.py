"""Parity with ``buildah --storage-driver vfs``: the same files committed by both give the
same layer entries and metadata, media types, history length and config fields."""

from __future__ import annotations

import datetime
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from harness.builder.builder import Builder
from harness.builder.commit import CommitOptions
from harness.model import mediatype
from harness.model.compression import decompress
from harness.model.digest import Digest
from harness.peers.clients import Buildah
from harness.store.store import Store

pytestmark = pytest.mark.requires_peer("buildah")

EPOCH = 0
Entry = tuple[str, str, int, int, int, int, str, int, tuple[tuple[str, str], ...]]


def _populate(root: Path) -> None:
    """A tree with the metadata a layer must carry."""
    (root / "etc").mkdir()
    (root / "etc/conf").write_text("k=v\n")
    (root / "etc/conf").chmod(0o640)
    os.chown(root / "etc/conf", 7, 8)
    (root / "bin").mkdir(mode=0o755)
    (root / "bin/tool").write_bytes(b"\x7fELF" + bytes(1000))
    (root / "bin/tool").chmod(0o4755)
    os.link(root / "bin/tool", root / "bin/tool-alias")
    (root / "bin/sh").symlink_to("tool")
    (root / "empty").write_bytes(b"")
    (root / "var/lib/deep").mkdir(parents=True)
    os.setxattr(root / "etc/conf", "user.note", b"kept")


def _entries(tar_bytes: bytes) -> dict[str, Entry]:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        out: dict[str, Entry] = {}
        for m in tar.getmembers():
            name = m.name.removeprefix("./").rstrip("/")
            xattrs = tuple(sorted((k, v) for k, v in m.pax_headers.items()
                                  if k.startswith("SCHILY.xattr.")))
            out[name] = (name, m.type.decode(), m.mode & 0o7777, m.uid, m.gid,
                         m.size if m.isfile() else 0, m.linkname, int(m.mtime), xattrs)
        return out


class _Side:
    def __init__(self, manifest: dict[str, Any], config: dict[str, Any],
                 layers: list[bytes]) -> None:
        self.manifest, self.config, self.layers = manifest, config, layers


def _buildah_side(buildah: Buildah, ctr: str, fmt: str, name: str,
                  layout: Path) -> _Side:
    buildah.commit(ctr, name, "--format", fmt, "--timestamp", str(EPOCH), "--quiet")
    info = json.loads(buildah.run("inspect", "--type", "image", name).stdout)
    buildah.run("push", "--signature-policy", str(buildah.config.policy), name,
                f"oci:{layout}:{fmt}")
    index = json.loads((layout / "index.json").read_text())
    pushed = next(m for m in index["manifests"]
              if m["annotations"]["org.opencontainers.image.ref.name"] == fmt)
    oci_manifest = json.loads((layout / "blobs/sha256" / pushed["digest"][7:]).read_text())
    layers = [decompress(io.BytesIO((layout / "blobs/sha256" / x["digest"][7:]).read_bytes()))
              .read() for x in oci_manifest["layers"]]
    return _Side(json.loads(info["Manifest"]), json.loads(info["Config"]), layers)


def _our_side(store: Store, builder: Builder, fmt: str, name: str, policy: Path) -> _Side:
    result = builder.commit(name, CommitOptions(
        preferred_manifest_type=mediatype.FORMAT_NAMES[fmt],
        history_timestamp=datetime.datetime.fromtimestamp(EPOCH, datetime.UTC),
        signature_policy_path=policy))
    manifest = json.loads(result.manifest)
    config = json.loads(store.read_blob(Digest.parse(manifest["config"]["digest"])))
    layers = []
    for layer in manifest["layers"]:
        stream, _ = store.open_blob(Digest.parse(layer["digest"]))
        with decompress(stream) as raw:
            layers.append(raw.read())
    return _Side(manifest, config, layers)


def _media_types(side: _Side) -> tuple[str, str, list[str]]:
    return (side.manifest["mediaType"], side.manifest["config"]["mediaType"],
            [x["mediaType"] for x in side.manifest["layers"]])


def _config_shape(config: dict[str, Any]) -> tuple[list[str], list[str], int]:
    run = {k for k in config["config"] if k != "Labels"}
    return sorted(set(config) - {"container"}), sorted(run), len(config["history"])


@pytest.mark.parametrize("fmt", ["oci", "docker"])
def test_same_files_commit_alike(tmp_path: Path, policy: Path, fmt: str) -> None:
    buildah = Buildah(tmp_path / "buildah")
    ctr = buildah.from_image("scratch")
    mount = Path(buildah.run("mount", ctr).stdout.strip())
    _populate(mount)
    buildah.config_set(ctr, "--cmd", '["/bin/tool"]', "--env", "A=1", "--workingdir", "/etc",
                       "--author", "parity")
    store = Store.open(tmp_path / "ours")
    builder = Builder.new(store, "scratch")
    _populate(builder.rootfs)
    builder.set_field("Cmd", ["/bin/tool"])
    builder.set_env("A", "1")
    builder.set_field("WorkingDir", "/etc")
    builder.set_author("parity")
    theirs = _buildah_side(buildah, ctr, fmt, "base", tmp_path / "layout")
    ours = _our_side(store, builder, fmt, "base", policy)
    assert _media_types(ours) == _media_types(theirs)
    assert _config_shape(ours.config) == _config_shape(theirs.config)
    for key in ("Cmd", "Env", "WorkingDir"):
        assert ours.config["config"][key] == theirs.config["config"][key]
    assert ours.config["history"] == theirs.config["history"]
    assert _entries(ours.layers[0]) == _entries(theirs.layers[0])

    # A second layer on top: deletions become the same whiteouts.
    buildah.commit(ctr, "base-img", "--quiet")
    child = buildah.from_image("base-img")
    child_mount = Path(buildah.run("mount", child).stdout.strip())
    ours_child = Builder.new(store, "base")
    for root in (child_mount, ours_child.rootfs):
        (root / "etc/conf").unlink()
        subprocess.run(["rm", "-rf", str(root / "var/lib")], check=True)
        (root / "etc/new").write_text("n")
    theirs2 = _buildah_side(buildah, child, fmt, "child", tmp_path / "layout2")
    ours2 = _our_side(store, ours_child, fmt, "child", policy)
    assert len(ours2.config["history"]) == len(theirs2.config["history"]) == 2
    assert _media_types(ours2) == _media_types(theirs2)
    assert _entries(ours2.layers[1]) == _entries(theirs2.layers[1])
