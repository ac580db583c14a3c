"""Push an image from local storage to a registry, compressing its one layer with gzip.

Peer: ``buildah push`` from buildah's own store (vfs). Ours: ``python -m harness push``
from the project's store. Setup commits the same files (one large directory, gzip ratio
~0.24, see :func:`bench.push.write_payload`) into both stores; each run pushes to its own
fresh distribution registry, so no blob is ever already there. Ours runs with its bytecode
compiled in setup (:func:`bench.api.bytecode_env`), as an installed package has it and as
the ``push`` row runs.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.api import Benchmark, Run, Scale, Workload, bytecode_env, python_command
from bench.push import harness_has_command, write_payload
from harness.peers.clients import Buildah, run_peer

IMAGE = "bench-image"


def _destination(run: Run) -> str:
    assert run.registry is not None  # the benchmark asks for a fresh registry per run
    return f"docker://{run.registry.image(f'bench/buildah-push-{run.index}:latest')}"


def _commit_with_harness(store: Path, payload: Path) -> None:
    harness = [sys.executable, "-m", "harness", "--root", str(store)]
    container = run_peer([*harness, "from", "scratch"]).stdout.strip()
    run_peer([*harness, "add", container, str(payload), "/data"])
    run_peer([*harness, "commit", container, IMAGE])


@contextlib.contextmanager
def setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
    payload = inputs / "payload"
    write_payload(payload, scale.size)
    buildah = Buildah(inputs / "buildah")
    container = buildah.from_image("scratch")
    buildah.copy(container, payload, "/data")
    buildah.commit(container, IMAGE)
    store = inputs / "store"
    available = harness_has_command("push")
    if available:
        _commit_with_harness(store, payload)

    def peer(run: Run) -> Sequence[str]:
        client = Buildah(inputs / "buildah", run.registry)  # the same store and config
        return client.argv(*client.push_args(IMAGE, _destination(run)))

    def ours(run: Run) -> Sequence[str]:
        return python_command("harness", "--root", str(store), "push",
                              "--compression-format", "gzip", "--tls-verify=false", IMAGE,
                              _destination(run))

    yield Workload(work_bytes=scale.size, ours=ours if available else None, peer=peer,
                   ours_missing="" if available else "`python -m harness push` does not "
                                                     "exist yet",
                   env={**buildah.overrides(), **bytecode_env(inputs / "pycache")})


BENCHMARKS = [
    Benchmark(
        name="buildah-push",
        operation="local image, one uncompressed layer -> distribution, gzip",
        ours_label="python -m harness push",
        peer_label="buildah push",
        setup=setup,
        fresh_registry=True,
        goal="time <= 1.0x at 32 MiB",
    ),
]
