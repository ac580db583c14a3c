"""Diffs of a read-write directory against its snapshot: entries, whiteouts, determinism."""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
from pathlib import Path

import pytest

from harness.store.apply import apply_layer
from harness.store.diff import Snapshot, diff_stream, take_snapshot


def _entries(root: Path, snapshot: Snapshot | None = None, timestamp: int | None = None
             ) -> dict[str, tarfile.TarInfo]:
    data = diff_stream(root, snapshot or {}, timestamp).read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name.rstrip("/"): m for m in tar.getmembers()}


def test_scratch_diff_carries_types_owners_modes_and_links(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "bin").mkdir(parents=True)
    (root / "bin/tool").write_bytes(b"#!/bin/sh\n")
    os.chown(root / "bin/tool", 12, 34)
    (root / "bin/tool").chmod(0o4755)  # after chown, which clears set-uid
    os.link(root / "bin/tool", root / "bin/alias")
    (root / "lnk").symlink_to("bin/tool")
    os.mkfifo(root / "fifo")
    os.setxattr(root / "bin/tool", "user.origin", b"test")
    entries = _entries(root)
    assert list(entries) == ["bin", "bin/alias", "bin/tool", "fifo", "lnk"]
    alias, tool = entries["bin/alias"], entries["bin/tool"]
    assert alias.isfile() and alias.size == 10  # the first name carries the data
    assert tool.islnk() and tool.linkname == "bin/alias"
    assert (alias.mode, alias.uid, alias.gid) == (0o104755, 12, 34)  # with the type bits
    assert alias.pax_headers["SCHILY.xattr.user.origin"] == "test"
    assert entries["lnk"].issym() and entries["lnk"].linkname == "bin/tool"
    assert entries["fifo"].isfifo()
    assert entries["bin"].isdir()


def _base(tmp_path: Path) -> tuple[Path, Snapshot]:
    root = tmp_path / "r"
    for rel in ("keep/a", "gone/x/y", "file", "recreated/old", "chmod-me"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(rel.encode())
    return root, take_snapshot(root)


def test_a_same_size_rewrite_right_after_the_snapshot_is_seen(tmp_path: Path) -> None:
    """Kernels without multigrain timestamps (before 6.13) give such a rewrite the same
    times unless the snapshot waited for the clock tick to pass."""
    root = tmp_path / "r"
    root.mkdir()
    for n in range(20):
        (root / f"f{n}").write_bytes(b"before")
    snapshot = take_snapshot(root)
    for n in range(20):
        (root / f"f{n}").write_bytes(b"after!")  # same size, same inode
    assert set(_entries(root, snapshot)) == {f"f{n}" for n in range(20)}


def test_unchanged_tree_diffs_to_an_empty_tar(tmp_path: Path) -> None:
    root, snapshot = _base(tmp_path)
    assert _entries(root, snapshot) == {}


def test_changes_give_entries_and_whiteouts_as_containers_storage(tmp_path: Path) -> None:
    """ChangesDirs' rules: a directory holding a change is written, a directory
    removed and recreated is diffed as the same directory (no opaque marker)."""
    root, snapshot = _base(tmp_path)
    shutil.rmtree(root / "gone")
    (root / "file").unlink()
    (root / "recreated").rename(tmp_path / "old-recreated")
    (root / "recreated").mkdir()
    (root / "recreated/new").write_bytes(b"n")
    (root / "chmod-me").chmod(0o600)
    (root / "keep/b").write_bytes(b"b")
    entries = _entries(root, snapshot)
    # Whiteouts sort under the path they delete.
    assert list(entries) == ["chmod-me", ".wh.file", ".wh.gone", "keep", "keep/b",
                             "recreated", "recreated/new", "recreated/.wh.old"]
    assert entries["chmod-me"].mode == 0o100600


def test_changes_are_sorted_by_path_and_a_scratch_tree_by_walk(tmp_path: Path) -> None:
    """``a.txt`` sorts before ``a/b`` among changes (ExportChanges sorts by path); a tree
    without a parent layer is written in walk order, ``a/b`` first (TarWithOptions)."""
    root = tmp_path / "r"
    (root / "a").mkdir(parents=True)
    snapshot = take_snapshot(root)
    (root / "a/b").write_bytes(b"1")
    (root / "a.txt").write_bytes(b"2")
    assert list(_entries(root, snapshot)) == ["a", "a.txt", "a/b"]
    data = diff_stream(root, None).read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert [m.name for m in tar] == ["a", "a/b", "a.txt"]


def test_a_directory_is_changed_by_its_mode_not_its_times(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "d").mkdir(parents=True)
    snapshot = take_snapshot(root)
    os.utime(root / "d", (1, 1))
    assert _entries(root, snapshot) == {}
    (root / "d").chmod(0o700)
    assert list(_entries(root, snapshot)) == ["d"]


def test_only_capability_and_user_xattrs_count(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "f").write_bytes(b"x")
    snapshot = take_snapshot(root)
    os.setxattr(root / "f", "trusted.other", b"1")
    assert _entries(root, snapshot) == {}
    os.setxattr(root / "f", "user.k", b"v")
    entry = _entries(root, snapshot)["f"]
    assert entry.pax_headers == {"SCHILY.xattr.user.k": "v"}


def test_diff_is_deterministic_with_a_timestamp(tmp_path: Path) -> None:
    trees = []
    for name in ("one", "two"):
        root = tmp_path / name
        (root / "d").mkdir(parents=True)
        (root / "d/f").write_bytes(b"same")
        (root / "z").symlink_to("d/f")
        trees.append(diff_stream(root, {}, timestamp=1_700_000_000).read())
    assert trees[0] == trees[1]
    with tarfile.open(fileobj=io.BytesIO(trees[0])) as tar:
        assert {m.mtime for m in tar} == {1_700_000_000}


def test_diff_then_apply_restores_metadata(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "d").mkdir(parents=True)
    (src / "d/f").write_bytes(b"x")
    os.chown(src / "d/f", 5, 6)
    (src / "d/f").chmod(0o640)
    os.utime(src / "d/f", (1000, 1000))
    os.setxattr(src / "d/f", "user.k", b"v")
    os.link(src / "d/f", src / "h")
    os.mknod(src / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    (src / "lnk").symlink_to("d/f")
    os.lchown(src / "lnk", 9, 9)
    dst.mkdir()
    apply_layer(dst, diff_stream(src, {}))
    st = (dst / "d/f").stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777, st.st_mtime) == (5, 6, 0o640, 1000)
    assert os.getxattr(dst / "d/f", "user.k") == b"v"
    assert st.st_ino == (dst / "h").stat().st_ino
    null = (dst / "null").lstat()
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert (dst / "lnk").lstat().st_uid == 9 and (dst / "lnk").readlink() == Path("d/f")


@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, (1 << 20) + 7])
def test_file_sizes_around_block_boundaries(tmp_path: Path, size: int) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    payload = os.urandom(size)
    (src / "f").write_bytes(payload)
    apply_layer(dst, diff_stream(src, {}))
    assert (dst / "f").read_bytes() == payload
