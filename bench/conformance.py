"""The whole conformance suite against a local registry: the issue asks for under a minute.

``ours`` is ``python -m conformance`` against a fresh distribution registry 2.8.2 (with its
known deviations as expected failures, so the run exits 0), and against the embedded fake.
There is no peer: the OCI distribution-spec conformance suite is a Go test binary that is
not installed here and cannot be fetched, so that side is reported as not available.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from bench.api import Benchmark, Run, Scale, Workload, python_command
from conformance import config

DEVIATIONS = Path(config.__file__).parent / "deviations" / "distribution-2.8.json"
NO_PEER = ("the OCI distribution-spec conformance suite (a Go test binary) is not installed "
           "and nothing can be fetched here")


@contextlib.contextmanager
def distribution_setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
    def ours(run: Run) -> list[str]:
        assert run.registry is not None
        return python_command("conformance", "--registry", run.registry.url,
                              "--namespace", f"bench/run{run.index}",
                              "--crossmount-namespace", f"bench/other{run.index}",
                              "--expect", str(DEVIATIONS),
                              # a fresh registry thrown away after the run: no sweeping
                              "--keep")

    yield Workload(work_bytes=0, ours=ours, peer=None, peer_missing=NO_PEER)


@contextlib.contextmanager
def fake_setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
    yield Workload(work_bytes=0, ours=lambda run: python_command("conformance"), peer=None,
                   peer_missing=NO_PEER)


BENCHMARKS = [
    Benchmark(name="conformance-distribution",
              operation="full conformance run against a fresh distribution 2.8.2",
              ours_label="python -m conformance --registry URL", peer_label="OCI conformance",
              setup=distribution_setup, fresh_registry=True, goal="time < 60 s"),
    Benchmark(name="conformance-fake", operation="full conformance run, embedded fake",
              ours_label="python -m conformance", peer_label="OCI conformance",
              setup=fake_setup, goal="time < 60 s"),
]
