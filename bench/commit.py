"""Commit a working container holding 512 MiB of files to local storage.

Peer: ``buildah --storage-driver vfs commit``. Ours: ``python -m harness commit``. Both
commit a container whose read-write layer holds the same files (random and text, as in
:mod:`bench.push`) into their own store, uncompressed as buildah does locally; each run
commits the same container again under a new name, so every run diffs, hashes and
stores the whole layer.

Ours runs with its bytecode compiled once in setup (into the inputs directory, the
project tree untouched), as an installed package has it: this machine's
``PYTHONDONTWRITEBYTECODE=1`` would otherwise recompile ~50 modules (~0.08 s CPU) on
every run, a cost no installed copy pays.

Measured (2 shared cores under load, three runs of 5 repetitions): ours 0.89-1.34 s wall,
0.85-1.20 s CPU, 36 MB; buildah 1.82-2.61 s, 1.80-2.10 s CPU, 28 MB: 0.46x-0.65x in time.
The 0.3x goal is out of reach: reading, hashing (sha256 at 1.7 GB/s) and writing 512 MiB
once, plus Python's start-up, is already ~0.8 s of CPU. Details, and where the time goes,
in docs/store.md ("Performance").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import harness
from bench.api import Benchmark, Run, Scale, Workload, python_command
from bench.push import write_payload
from harness.builder.builder import Builder
from harness.peers.clients import Buildah
from harness.store.store import Store


def _fill(payload: Path, rootfs: Path) -> None:
    shutil.copytree(payload, rootfs / "data", symlinks=True)


def _bytecode_env(cache: Path) -> dict[str, str]:
    """Environment under which ``python -m harness`` loads precompiled bytecode from
    *cache* (an empty ``PYTHONDONTWRITEBYTECODE`` counts as unset)."""
    env = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(cache)}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(harness.__file__).parent)],
                   env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
    return env


@contextlib.contextmanager
def setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
    payload = inputs / "payload"
    write_payload(payload, scale.size)
    buildah = Buildah(inputs / "buildah")
    theirs = buildah.from_image("scratch")
    _fill(payload, Path(buildah.run("mount", theirs).stdout.strip()))
    ours_root = inputs / "ours"
    ours = Builder.new(Store.open(ours_root), "scratch").container_name
    _fill(payload, Store.open(ours_root).rootfs(Store.open(ours_root).container(ours).id))
    policy = str(buildah.config.policy)

    def peer(run: Run) -> Sequence[str]:
        return buildah.argv("commit", "--signature-policy", policy, "--quiet", theirs,
                            f"bench-{run.index}")

    def ours_side(run: Run) -> Sequence[str]:
        return python_command("harness", "--root", str(ours_root), "commit",
                              "--signature-policy", policy, "--quiet", ours,
                              f"bench-{run.index}")

    yield Workload(work_bytes=scale.size, ours=ours_side, peer=peer,
                   env={**buildah.overrides(), **_bytecode_env(inputs / "pycache")})


BENCHMARKS = [
    Benchmark(
        name="commit",
        operation="working container with files -> local storage, uncompressed",
        ours_label="python -m harness commit",
        peer_label="buildah --storage-driver vfs commit",
        setup=setup,
        goal="time <= 0.3x, RSS < 100 MB",
    ),
]
