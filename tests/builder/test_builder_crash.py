"""A commit killed with SIGKILL at any moment leaves the store consistent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.model.digest import Digest
from harness.store.check import check, stale_files
from harness.store.store import Store

_COMMITTER = """
import json, os, sys
from pathlib import Path
from harness.builder.builder import Builder
from harness.builder.commit import CommitOptions
from harness.store.store import Store
store = Store.open(Path(sys.argv[1]))
builder = Builder.new(store, "scratch")
for n in range(4):
    (builder.rootfs / f"blob{n}").write_bytes(os.urandom(1 << 20))
print("ready", flush=True)
options = CommitOptions(signature_policy_path=Path(sys.argv[2]))
for i in range(1000):
    (builder.rootfs / "counter").write_text(str(i))
    builder.commit(f"crash:{i}", options)
"""


@pytest.mark.parametrize("delay", [0.0, 0.07, 0.19, 0.43])
def test_kill_9_mid_commit_leaves_no_half_image(tmp_path: Path, policy: Path,
                                                delay: float) -> None:
    root = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-c", _COMMITTER, str(root), str(policy)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = Store.open(root)
    assert check(store) == []
    leftovers = stale_files(store, min_age_s=0)
    assert all(p.name.startswith(".") or p.parent.name == "sha256" for p in leftovers)
    for path in leftovers:
        path.unlink()
    assert check(store) == []
    for image in store.images():  # every visible image is whole and usable
        manifest = json.loads(store.read_blob(image.digest))
        assert all(store.has_blob(Digest.parse(x["digest"])) for x in manifest["layers"])
        ctr = store.create_container(image.id, f"probe-{image.id[:12]}")
        assert (store.rootfs(ctr.id) / "counter").exists()
