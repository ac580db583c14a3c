"""What a ``kill -9`` leaves is found: a killed ``from`` leaves a container folder and a
killed commit its staging in the store's own temporary area, which ``check`` lists and
``check --clean`` removes; an archive destination's staging sits beside the archive and
the next run to it removes it. A folder a live process holds is never taken."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.store.check import stale_files
from harness.store.store import Store
from harness.transports.alltransports import parse_image_name
from harness.transports.types import SystemContext
from harness.util.scratch import GRACE_S, ScratchDir, hold, leftovers, sweep

# Each script stops for good at one point of the operation (patched), prints "stuck",
# and is then killed with SIGKILL there.
_FROM = """
import sys, time
from pathlib import Path
import harness.store.diff as module
from harness.store.store import Store
def stuck(*args):
    print("stuck", flush=True)
    time.sleep(3600)
module.take_snapshot = stuck
Store.open(Path(sys.argv[1])).create_container(None, "doomed")
"""

_COMMIT = """
import os, sys, time
from pathlib import Path
from harness.builder.builder import Builder
from harness.builder.commit import CommitOptions
from harness.store.store import Store
import harness.transports.oci_archive as module
def stuck(self):
    print("stuck", flush=True)
    time.sleep(3600)
if sys.argv[4] == "stuck":
    module.OCIArchiveImageDestination.publish = stuck
store = Store.open(Path(sys.argv[1]))
builder = Builder.new(store, "scratch")
(builder.rootfs / "data").write_bytes(os.urandom(1 << 20))
builder.commit(f"oci-archive:{sys.argv[2]}:v1", CommitOptions(
    signature_policy_path=Path(sys.argv[3])))
"""


def _run_until_stuck(script: str, *args: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            text=True, env=env)
    assert proc.stdout is not None and proc.stdout.readline() == "stuck\n"
    assert stale_files(Store.open(Path(args[0])), min_age_s=0) == []  # held: not leftovers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _check(capsys: pytest.CaptureFixture[str], root: Path, *flags: str) -> str:
    assert main(["--root", str(root), "check", "--min-age", "0", *flags]) == 0
    return capsys.readouterr().out


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.json"
    path.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    return path


def test_killed_from_leaves_a_folder_check_finds(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "store"
    _run_until_stuck(_FROM, str(root))
    (orphan,) = (root / "containers").iterdir()
    assert stale_files(Store.open(root), min_age_s=0) == [orphan]
    assert f"stale: {orphan} " in _check(capsys, root)
    assert f"removed: {orphan}" in _check(capsys, root, "--clean")
    assert not orphan.exists()
    assert stale_files(Store.open(root), min_age_s=0) == []


def test_killed_commit_to_an_archive_leaves_nothing_in_tmp(
        tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, archive = tmp_path / "store", tmp_path / "out" / "image.tar"
    system_tmp = tmp_path / "system-tmp"  # the process's own $TMPDIR, to be watched
    system_tmp.mkdir()
    _run_until_stuck(_COMMIT, str(root), str(archive), str(policy), "stuck",
                     env={**os.environ, "TMPDIR": str(system_tmp)})
    (staging,) = (root / "tmp").iterdir()
    (archive_staging,) = archive.parent.iterdir()
    assert archive_staging.name.startswith(".image.tar.tmp-")
    assert list(system_tmp.iterdir()) == []
    assert stale_files(Store.open(root), min_age_s=0) == [staging]
    assert f"removed: {staging}" in _check(capsys, root, "--clean")
    assert list((root / "tmp").iterdir()) == []

    old = time.time() - 2 * GRACE_S  # the next run to that archive removes the leftover
    os.utime(archive_staging, (old, old))
    done = subprocess.run([sys.executable, "-c", _COMMIT, str(root), str(archive),
                           str(policy), "finish"], check=False)
    assert done.returncode == 0
    assert list(archive.parent.iterdir()) == [archive]


def test_only_unheld_old_folders_are_leftovers(tmp_path: Path) -> None:
    old = time.time() - 2 * GRACE_S
    dead, young = tmp_path / "x-dead", tmp_path / "x-young"
    dead.mkdir()
    young.mkdir()
    (tmp_path / "other").mkdir()
    os.utime(dead, (old, old))
    with ScratchDir(tmp_path, "x-") as live:
        os.utime(live.path, (old, old))
        assert leftovers(tmp_path, "x-") == [dead]
        sweep(tmp_path, "x-")
        assert live.path.is_dir() and young.is_dir() and not dead.exists()
    assert not live.path.exists()


def test_oci_archive_source_sweeps_dead_extractions(tmp_path: Path) -> None:
    parent = Path(tempfile.gettempdir())
    dead = Path(tempfile.mkdtemp(prefix="oci-harness-archive-", dir=parent))
    held = Path(tempfile.mkdtemp(prefix="oci-harness-archive-", dir=parent))
    old = time.time() - 2 * GRACE_S
    for path in (dead, held):
        os.utime(path, (old, old))
    fd = hold(held)
    try:
        archive = tmp_path / "missing.tar"
        with pytest.raises(Exception, match="does not exist"):
            parse_image_name(f"oci-archive:{archive}").new_image_source(SystemContext())
        assert not dead.exists() and held.is_dir()
    finally:
        os.close(fd)
        held.rmdir()
