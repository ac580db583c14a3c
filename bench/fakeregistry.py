"""The fake registry against the real one: the same ``skopeo copy`` into each, and start-up.

Both sides of each benchmark run the same small wrapper (``python -m bench.fakeregistry``)
so Python's own start-up is charged to both; only the registry differs. For the push, the
wrapper runs ``skopeo copy`` of one 512 MiB uncompressed layer (gzip on the way) into
either the fake, served over HTTP from inside the wrapper (so the wrapper's peak RSS is
the fake's), or a fresh distribution registry. For start-up, the wrapper starts one
registry and pings it: the fake in process, or ``docker-registry`` as a child process.
For the burst, the wrapper opens 500 connections at once, each sending ``GET /v2/``, to
the fake served from inside the wrapper or to one docker-registry started for the
benchmark, and prints the slowest and median answer times (it fails on any error).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
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


BURST = 500


@contextlib.contextmanager
def burst_setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
    with DistributionLauncher(log_level="warn").start() as registry:
        yield Workload(work_bytes=0, ours=lambda run: python_command(MODULE, "burst-fake"),
                       peer=lambda run: python_command(MODULE, "burst", registry.host),
                       env=ENV)


def _burst(host: str) -> None:
    """:data:`BURST` clients at once, each ``GET /v2/`` on a connection of its own."""
    address, port = host.rsplit(":", 1)
    start = threading.Barrier(BURST)

    def ping(_: int) -> float:
        start.wait()
        began = time.perf_counter()
        with socket.create_connection((address, int(port)), timeout=120) as sock:
            sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            status = sock.makefile("rb").readline()
        if b" 200 " not in status and b" 401 " not in status:
            raise RuntimeError(f"GET /v2/ answered {status!r}")
        return time.perf_counter() - began

    with ThreadPoolExecutor(BURST) as pool:
        times = sorted(pool.map(ping, range(BURST)))
    print(f"burst: {BURST} answered, slowest {times[-1] * 1000:.0f} ms, median "
          f"{statistics.median(times) * 1000:.0f} ms", file=sys.stderr)


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
    commands.add_parser("burst-fake")
    commands.add_parser("burst").add_argument("host")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.command == "copy-into-fake":
        with serve(Registry()) as server:
            _copy(args.layout, RunningRegistry(url=server.url, host=server.host),
                  args.workdir, "bench/fake")
    elif args.command == "copy-into":
        _copy(args.layout, RunningRegistry(url=args.url, host=args.host), args.workdir,
              "bench/real")
    elif args.command == "burst-fake":
        with serve(Registry()) as server:
            _burst(server.host)
    elif args.command == "burst":
        _burst(args.host)
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
    Benchmark(
        name="fakeregistry-burst",
        operation=f"{BURST} clients at once, each GET /v2/ on its own connection",
        ours_label="fakeregistry (serve)",
        peer_label="docker-registry 2.8",
        setup=burst_setup,
        goal="the slowest answer < 1 s (printed on stderr)",
    ),
]

if __name__ == "__main__":
    _main(sys.argv[1:])
