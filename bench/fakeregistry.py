"""The fake registry against the real one: the same ``skopeo copy`` into each, and start-up.

Both sides of each benchmark run the same small wrapper (``python -m bench.fakeregistry``)
so Python's own start-up is charged to both; only the registry differs. For the push, the
wrapper runs ``skopeo copy`` of one 512 MiB uncompressed layer (gzip on the way) into
either the fake, served over HTTP from inside the wrapper (so the wrapper's peak RSS is
the fake's), or a fresh distribution registry. For start-up, the wrapper starts one
registry and pings it: the fake in process, or ``docker-registry`` as a child process.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import requests

from bench.api import Benchmark, Run, Scale, Workload, python_command
from bench.push import build_layout
from fakeregistry import Registry, inprocess, serve
from harness.peers.clients import Skopeo
from harness.peers.launchers import DistributionLauncher, RunningRegistry

MODULE = "bench.fakeregistry"
# The runner starts each side in a scratch folder; ``bench`` is not an installed package.
ENV = {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}


def _copy(layout: str, registry: RunningRegistry, workdir: Path, repo: str) -> None:
    skopeo = Skopeo(workdir, registry)
    skopeo.copy(layout, f"docker://{registry.image(repo + ':latest')}",
                "--dest-compress-format", "gzip")


@contextlib.contextmanager
def push_setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
    layout = build_layout(inputs, scale.size)
    workdir = str(inputs / "skopeo")

    def ours(run: Run) -> Sequence[str]:
        return python_command(MODULE, "copy-into-fake", layout, workdir)

    def peer(run: Run) -> Sequence[str]:
        assert run.registry is not None
        return python_command(MODULE, "copy-into", layout, workdir, run.registry.url,
                              run.registry.host)

    yield Workload(work_bytes=scale.size, ours=ours, peer=peer, env=ENV)


@contextlib.contextmanager
def start_setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
    yield Workload(work_bytes=0, ours=lambda run: python_command(MODULE, "start-fake"),
                   peer=lambda run: python_command(MODULE, "start-distribution"), env=ENV)


def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    commands = parser.add_subparsers(dest="command", required=True)
    fake = commands.add_parser("copy-into-fake")
    fake.add_argument("layout")
    fake.add_argument("workdir", type=Path)
    real = commands.add_parser("copy-into")
    real.add_argument("layout")
    real.add_argument("workdir", type=Path)
    real.add_argument("url")
    real.add_argument("host")
    commands.add_parser("start-fake")
    commands.add_parser("start-distribution")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.command == "copy-into-fake":
        with serve(Registry()) as server:
            _copy(args.layout, RunningRegistry(url=server.url, host=server.host),
                  args.workdir, "bench/fake")
    elif args.command == "copy-into":
        _copy(args.layout, RunningRegistry(url=args.url, host=args.host), args.workdir,
              "bench/real")
    elif args.command == "start-fake":
        with inprocess(Registry()) as url:
            requests.get(f"{url}/v2/", timeout=5).raise_for_status()
    else:
        with DistributionLauncher().start():  # returns once /v2/ answers
            pass
    print(f"{args.command}: {(time.perf_counter() - started) * 1000:.2f} ms", file=sys.stderr)


BENCHMARKS = [
    Benchmark(
        name="fakeregistry-push",
        operation="skopeo copy, one uncompressed layer, gzip -> the registry over HTTP",
        ours_label="fakeregistry (serve)",
        peer_label="docker-registry 2.8",
        setup=push_setup,
        fresh_registry=True,
        goal="time <= 1.2x, RSS < 150 MB",
    ),
    Benchmark(
        name="fakeregistry-start",
        operation="start a registry and answer /v2/ (whole process, imports included)",
        ours_label="fakeregistry (in process)",
        peer_label="docker-registry 2.8",
        setup=start_setup,
        goal="the start itself < 5 ms (docs/fakeregistry.md)",
    ),
]

if __name__ == "__main__":
    _main(sys.argv[1:])
