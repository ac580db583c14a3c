"""buildah and this project writing one containers/storage store at the same time leave
it consistent: every image of both is listed by buildah, readable here, and ``check``
finds nothing wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.peers.clients import Buildah
from harness.store.containers import conf
from harness.store.containers.check import check
from harness.store.containers.store import ContainersStore

pytestmark = pytest.mark.requires_peer("buildah")
ROUNDS = 4
HANG = 300  # seconds: only to turn a deadlock into a failure, never reached otherwise


def _images_to_copy(tmp_path: Path, driver: str) -> Path:
    """ROUNDS distinct two-file images in an OCI layout, tagged img-0..."""
    maker = Buildah(tmp_path / "maker", driver=driver)
    layout = tmp_path / "layout"
    for n in range(ROUNDS):
        (tmp_path / f"ours-{n}").write_text(f"written by this project, round {n}\n" * 50)
        ctr = maker.from_image("scratch")
        maker.copy(ctr, tmp_path / f"ours-{n}", "/data")
        maker.commit(ctr, f"oci:{layout}:img-{n}", "--quiet")
    maker.run("rm", "--all")
    return layout


@pytest.mark.parametrize("driver", ["vfs", "overlay"])
def test_both_tools_writing_at_once_leave_the_store_consistent(
        tmp_path: Path, policy: Path, driver: str) -> None:
    layout = _images_to_copy(tmp_path, driver)
    buildah = Buildah(tmp_path / "shared", driver=driver)
    env = {**os.environ, **buildah.overrides()}
    for n in range(ROUNDS):
        (tmp_path / f"theirs-{n}").write_text(f"written by buildah, round {n}\n" * 50)
        tool = " ".join(buildah.argv())
        theirs = subprocess.Popen(
            ["sh", "-c", f"set -e; c=$({tool} from scratch); {tool} copy $c "
             f"{tmp_path}/theirs-{n} /data; {tool} commit --quiet --signature-policy "
             f"{buildah.config.policy} $c localhost/theirs-{n}; {tool} rm $c"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ours = subprocess.Popen(
            [sys.executable, "-m", "harness", "copy", "--quiet", "--policy", str(policy),
             f"oci:{layout}:img-{n}",
             f"containers-storage:{buildah.store_spec}localhost/ours-{n}:latest"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for proc in (theirs, ours):
            _, err = proc.communicate(timeout=HANG)
            assert proc.returncode == 0, err
    listed = json.loads(buildah.run("images", "--json").stdout)
    names = sorted(name for image in listed for name in image["names"])
    assert names == sorted([f"localhost/ours-{n}:latest" for n in range(ROUNDS)]
                           + [f"localhost/theirs-{n}:latest" for n in range(ROUNDS)])
    store = ContainersStore(conf.StoreOptions(driver, buildah.root, buildah.runroot))
    assert check(store) == []
    for n in range(ROUNDS):
        for who in ("ours", "theirs"):
            done = subprocess.run(
                [sys.executable, "-m", "harness", "copy", "--quiet", "--policy", str(policy),
                 f"containers-storage:{buildah.store_spec}localhost/{who}-{n}",
                 f"oci:{tmp_path / 'back'}:{who}-{n}"], capture_output=True, text=True,
                check=False)
            assert done.returncode == 0, done.stderr
    cli = subprocess.run([sys.executable, "-m", "harness", "check", "--containers-storage",
                          buildah.store_spec], capture_output=True, text=True, check=False)
    assert (cli.returncode, cli.stdout) == (0, "")
