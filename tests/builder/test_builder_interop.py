"""Images made by other tools (umoci, buildah) are pulled, applied and built on."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness.builder.builder import Builder
from harness.builder.commit import CommitOptions
from harness.peers.clients import Buildah
from harness.store.check import check
from harness.store.store import Store


def _tree(root: Path) -> None:
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/app.conf").write_text("port=80\n")
    os.chown(root / "etc/app.conf", 33, 33)
    (root / "etc/app.conf").chmod(0o600)
    (root / "bin").mkdir()
    (root / "bin/run").write_bytes(b"#!/bin/sh\necho hi\n")
    (root / "bin/run").chmod(0o755)
    (root / "bin/alias").symlink_to("run")


def _check_tree(root: Path) -> None:
    conf = (root / "etc/app.conf").stat()
    assert (conf.st_uid, conf.st_mode & 0o777) == (33, 0o600)
    assert (root / "bin/run").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert (root / "bin/alias").readlink() == Path("run")


@pytest.mark.requires_peer("umoci")
def test_an_umoci_image_is_applied(tmp_path: Path, policy: Path) -> None:
    layout, bundle = tmp_path / "layout", tmp_path / "bundle"
    for args in (["init", "--layout", str(layout)], ["new", "--image", f"{layout}:t"],
                 ["unpack", "--image", f"{layout}:t", str(bundle)]):
        subprocess.run(["umoci", *args], check=True, capture_output=True)
    _tree(bundle / "rootfs")
    # repack, not insert: umoci 0.4.7's insert writes a tar without its end blocks,
    # which GNU tar, Go's archive/tar and this project all refuse.
    subprocess.run(["umoci", "repack", "--image", f"{layout}:t", str(bundle)], check=True,
                   capture_output=True)
    store = Store.open(tmp_path / "store")
    builder = Builder.new(store, f"oci:{layout}:t", signature_policy_path=policy)
    _check_tree(builder.rootfs)
    (builder.rootfs / "bin/run").unlink()
    builder.commit("changed", CommitOptions(signature_policy_path=policy))
    again = Builder.new(store, "changed")
    assert not (again.rootfs / "bin/run").exists()
    assert check(store) == []


@pytest.mark.requires_peer("buildah")
def test_a_buildah_image_is_applied(tmp_path: Path, policy: Path) -> None:
    buildah = Buildah(tmp_path / "buildah")
    ctr = buildah.from_image("scratch")
    _tree(Path(buildah.run("mount", ctr).stdout.strip()))
    buildah.commit(ctr, f"oci:{tmp_path / 'layout'}:b", "--quiet")
    builder = Builder.new(Store.open(tmp_path / "store"), f"oci:{tmp_path / 'layout'}:b",
                          signature_policy_path=policy)
    _check_tree(builder.rootfs)
