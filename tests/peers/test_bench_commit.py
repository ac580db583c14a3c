"""The commit benchmarks measure what they say: ``commit`` gives both sides a layer their
store has never seen on every run (so buildah cannot take its layer-reuse shortcut), and
``commit-unchanged`` commits the very same layer again."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from bench import commit
from bench.api import MiB, Run, Scale
from harness.builder.names import local_name
from harness.peers.clients import Buildah
from harness.store.store import Store


def _diff_ids(inputs: Path, changed: bool) -> tuple[list[list[str]], list[list[str]]]:
    """Run both sides of the benchmark twice; the diffIDs of each side's two images."""
    benchmark = {b.name: b for b in commit.BENCHMARKS}["commit" if changed else
                                                        "commit-unchanged"]
    with benchmark.setup(inputs, Scale(size=MiB, quick=True)) as workload:
        assert workload.ours is not None and workload.peer is not None
        for index in range(2):
            for side in (workload.ours, workload.peer):
                run = Run(scratch=Path(tempfile.mkdtemp(dir=inputs)), index=index)
                subprocess.run(side(run), env={**os.environ, **workload.env}, check=True,
                               capture_output=True)
    store = Store.open(inputs / "ours")
    tops = [store.image(local_name(f"bench-{i}")).top_layer for i in range(2)]
    ours = [[layer.diff_digest for layer in store.layer_chain(top)] for top in tops]
    buildah = Buildah(inputs / "buildah")
    theirs = [json.loads(buildah.run("inspect", "--type", "image", f"bench-{i}").stdout)
              ["OCIv1"]["rootfs"]["diff_ids"] for i in range(2)]
    return ours, theirs


@pytest.mark.requires_peer("buildah")
def test_every_commit_run_stores_a_new_layer_on_both_sides(tmp_path: Path) -> None:
    ours, theirs = _diff_ids(tmp_path, changed=True)
    assert ours[0] != ours[1] and theirs[0] != theirs[1]
    assert len(ours[0]) == len(theirs[0]) == 1


@pytest.mark.requires_peer("buildah")
def test_commit_unchanged_commits_the_same_layer_again(tmp_path: Path) -> None:
    ours, theirs = _diff_ids(tmp_path, changed=False)
    assert ours[0] == ours[1] and theirs[0] == theirs[1]
