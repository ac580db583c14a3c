"""Find the benchmarks, run both sides of each as whole processes, and collect samples.

Peak RSS comes from ``wait4`` on each command (the kernel's maximum resident set of that
process and of what it waited for), taken by the small ``spawn.py`` so that the runner's
own size is not charged to it; a Go peer and a Python command are measured the same way.
The sides alternate within a repetition so that neither always runs on a cold or warm
page cache.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pkgutil
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench.api import Benchmark, Run, Scale, Side, python_command
from harness.peers.detect import missing_reason
from harness.peers.launchers import DistributionLauncher, RunningRegistry

RUNNER_MODULES = {"__main__", "api", "runner", "report", "spawn"}
SPAWN = Path(__file__).resolve().parent / "spawn.py"
RUN_TIMEOUT = 600.0
FAKE_START_TIMEOUT = 30.0
_LISTENING = "listening on "
_ERROR_TAIL = 300


@dataclass(frozen=True)
class Sample:
    """One finished process: wall and CPU seconds, peak resident set in bytes."""

    wall: float
    cpu: float
    max_rss: int


@dataclass
class SideResult:
    """All repetitions of one side, or why there are none."""

    label: str
    samples: list[Sample] = field(default_factory=list)
    missing: str = ""  # the side does not exist (yet)
    error: str = ""  # the side ran and failed


@dataclass
class BenchmarkResult:
    benchmark: Benchmark
    work_bytes: int = 0
    ours: SideResult = field(default_factory=lambda: SideResult(""))
    peer: SideResult = field(default_factory=lambda: SideResult(""))
    error: str = ""  # setup failed; no side ran
    elapsed: float = 0.0  # seconds the whole benchmark took, setup included


class RunFailed(Exception):
    """A measured command exited non-zero or ran too long."""


def discover(package_dir: Path, package: str = "bench") -> tuple[list[Benchmark], list[str]]:
    """The ``BENCHMARKS`` of every module beside the runner, and one line per broken module.

    A module that fails to import must not hide everyone else's numbers.
    """
    found: list[Benchmark] = []
    broken: list[str] = []
    for info in sorted(pkgutil.iter_modules([str(package_dir)]), key=lambda i: i.name):
        if info.name in RUNNER_MODULES:
            continue
        try:
            module = importlib.import_module(f"{package}.{info.name}")
        except Exception as exc:  # another engineer's module: report it, keep going
            broken.append(f"{package}/{info.name}.py: {type(exc).__name__}: {exc}")
            continue
        found.extend(getattr(module, "BENCHMARKS", []))
    return found, broken


def measure(argv: Sequence[str], env: Mapping[str, str], cwd: Path,
            timeout: float = RUN_TIMEOUT) -> Sample:
    """Run *argv* to completion through ``spawn.py``; raise :class:`RunFailed` with its
    stderr tail when it fails or runs longer than *timeout* seconds."""
    stderr_path, report_path = cwd / "stderr.txt", cwd / "measured.txt"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(SPAWN), str(report_path), *argv], cwd=cwd,
            env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=stderr, start_new_session=True)  # its own group: a timeout kills all
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RunFailed(f"{argv[0]} ran longer than {timeout:.0f}s") from None
    if process.returncode != 0 or not report_path.exists():
        raise RunFailed(f"could not run {argv[0]}: {_tail(stderr_path)}")
    wall, cpu, max_rss_kib, code = report_path.read_text().split()
    if int(code) != 0:
        raise RunFailed(f"{argv[0]} exited with {code}: {_tail(stderr_path)}")
    return Sample(wall=float(wall), cpu=float(cpu), max_rss=int(max_rss_kib) * 1024)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace").strip()[-_ERROR_TAIL:]


@contextlib.contextmanager
def _registry(wanted: str) -> Iterator[RunningRegistry | None]:
    """No registry (""), a fresh "distribution", or a fresh served "fake"."""
    if not wanted:
        yield None
        return
    launch = DistributionLauncher(log_level="warn").start() if wanted == "distribution" \
        else fake_registry()
    with launch as registry:
        yield registry


@contextlib.contextmanager
def fake_registry(timeout: float = FAKE_START_TIMEOUT) -> Iterator[RunningRegistry]:
    """``python -m fakeregistry serve --port 0`` as a child process, its storage in a
    temporary folder, as the launchers run distribution: started before the timed process,
    stopped (SIGTERM) and removed after it."""
    with tempfile.TemporaryDirectory(prefix="oci-harness-fake-") as tmp:
        log_path = Path(tmp) / "log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                python_command("fakeregistry", "serve", "--port", "0",
                               "--storage", str(Path(tmp) / "storage")),
                cwd=Path(__file__).resolve().parent.parent, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = _listening_url(process, log_path, timeout)
            yield RunningRegistry(url=url, host=urlsplit(url).netloc, log_path=log_path)
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _listening_url(process: subprocess.Popen[bytes], log_path: Path, timeout: float) -> str:
    """The URL the served fake prints on its first line, once it listens."""
    deadline = time.monotonic() + timeout
    while True:
        first = log_path.read_text(errors="replace").partition("\n")
        if first[1] and first[0].startswith(_LISTENING):
            return first[0].removeprefix(_LISTENING).strip()
        if process.poll() is not None or time.monotonic() > deadline:
            raise RunFailed(f"the fake registry did not start: {_tail(log_path)}")
        time.sleep(0.02)


def _run_once(side: Side, registry_kind: str, env: Mapping[str, str], workdir: Path,
              index: int) -> Sample:
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=workdir))
    try:
        with _registry(registry_kind) as registry:
            argv = side(Run(scratch=scratch, index=index, registry=registry))
            # Every run starts with no dirty pages of an earlier one: a side that leaves its
            # writes in the page cache (buildah's vfs driver does) would otherwise have the
            # writeback charged to whichever run comes next, at its next fsync.
            os.sync()
            return measure(argv, env, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_benchmark(benchmark: Benchmark, scale: Scale, repetitions: int, workdir: Path,
                  budget: float | None = None) -> BenchmarkResult:
    """Set the benchmark up once, then run ours and the peer *repetitions* times each.

    With a *budget*, a side stops repeating once its runs have taken that many seconds
    (it always runs once): ``--quick`` stays quick even when one side is slow.
    """
    start = time.perf_counter()
    result = _run_benchmark(benchmark, scale, repetitions, workdir, budget)
    result.elapsed = time.perf_counter() - start
    return result


def _over_budget(side: SideResult, budget: float | None) -> bool:
    if budget is None or not side.samples:  # every side runs at least once
        return False
    return sum(sample.wall for sample in side.samples) >= budget


def _run_benchmark(benchmark: Benchmark, scale: Scale, repetitions: int, workdir: Path,
                   budget: float | None) -> BenchmarkResult:
    result = BenchmarkResult(benchmark, ours=SideResult(benchmark.ours_label),
                             peer=SideResult(benchmark.peer_label))
    if benchmark.fresh_registry and missing_reason("docker-registry"):
        result.error = str(missing_reason("docker-registry"))
        return result
    inputs = workdir / "inputs"
    inputs.mkdir(parents=True)
    try:
        with benchmark.setup(inputs, scale) as workload:
            result.work_bytes = workload.work_bytes
            result.ours.missing = "" if workload.ours else workload.ours_missing or "missing"
            result.peer.missing = "" if workload.peer else workload.peer_missing or "missing"
            fresh = "distribution" if benchmark.fresh_registry else ""
            sides = [(workload.ours, result.ours,
                      "fake" if fresh and benchmark.fake_for_ours else fresh),
                     (workload.peer, result.peer, fresh)]
            for index in range(repetitions):
                for side, side_result, kind in sides[::1 if index % 2 == 0 else -1]:
                    if side is None or side_result.error or _over_budget(side_result, budget):
                        continue
                    try:
                        side_result.samples.append(_run_once(
                            side, kind, workload.env, workdir, index))
                    except RunFailed as exc:
                        side_result.error = str(exc)
    except Exception as exc:  # a broken setup is reported in the table, not a crash
        result.error = f"setup failed: {type(exc).__name__}: {exc}"
    return result

