"""No other user reaches a rootfs: the store's directories are 0700 (as in
containers/storage), older looser stores are tightened, and a stranger (``nobody``)
can neither run nor even find a setuid-root file of a container."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.store.store import Store
from harness.util.errors import HarnessError

NOBODY = 65534


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user may traverse (pytest's own temporary tree is private)."""
    with tempfile.TemporaryDirectory(prefix="oci-harness-perm-") as name:
        path = Path(name)
        path.chmod(0o755)
        yield path


def _as_nobody(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["stat", "--format=reached", str(path)], user=NOBODY,
                          group=NOBODY, extra_groups=[], capture_output=True, text=True,
                          check=False, cwd="/")


def test_new_store_directories_are_private(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "new" / "store")
    assert store.root is not None
    for folder in (store.root, store.root / "blobs", store.root / "containers"):
        assert _mode(folder) == 0o700, folder


def test_existing_loose_store_is_tightened(tmp_path: Path) -> None:
    root = tmp_path / "store"
    for folder in (root, root / "blobs", root / "containers"):
        folder.mkdir(mode=0o755)
        folder.chmod(0o755)
    Store.open(root)
    assert _mode(root / "blobs") == _mode(root / "containers") == 0o700
    assert _mode(root) == 0o755  # the root a user made is theirs; what is inside is private


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to user nobody needs root")
def test_nobody_cannot_reach_a_setuid_file_in_a_rootfs(shared_dir: Path) -> None:
    (shared_dir / "public").write_text("anyone may read this\n")
    assert _as_nobody(shared_dir / "public").stdout == "reached\n"  # the probe can succeed
    root = shared_dir / "store"
    root.mkdir(mode=0o755)  # a root made by hand, e.g. the README's $PWD/store
    root.chmod(0o755)
    store = Store.open(root)
    container = store.create_container(None, "work")
    suid = store.rootfs(container.id) / "suid-id"
    suid.write_bytes(b"#!/bin/sh\nid\n")
    suid.chmod(0o4755)
    probe = _as_nobody(suid)
    assert probe.returncode != 0 and "Permission denied" in probe.stderr, probe


def test_refusal_names_the_directory_and_its_mode(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "store"
    (root / "containers").mkdir(parents=True, mode=0o755)
    (root / "containers").chmod(0o755)

    def refuse(self: Path, mode: int) -> None:
        raise PermissionError(1, "Operation not permitted")
    monkeypatch.setattr(Path, "chmod", refuse)
    with pytest.raises(HarnessError, match=r"containers is open to other users \(mode 0755\)"):
        Store.open(root)
