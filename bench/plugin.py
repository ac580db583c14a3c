"""What the pytest plugin's ``fake_registry`` adds to a run: 1,000 tests that each use it,
against the same 1,000 tests without it.

Both sides are a whole ``pytest`` process over a generated test module, with the plugin
loaded (it loads in every run), so pytest's own start-up and per-test cost are charged to
both; the difference of the two wall times is what the fixture adds: importing the fake
on first use, then a fresh registry routed in process for every test. The goals: that
difference under 5 s for 1,000 tests, and a peak RSS within the peer's + 20 MB.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.api import Benchmark, Run, Scale, Workload

TESTS = 1000
_MODULE = '''
import pytest


@pytest.mark.parametrize("n", range({count}))
def test_one({fixture}n):
    assert {check}
'''


def write_tests(directory: Path, count: int = TESTS) -> tuple[Path, Path]:
    """Two modules of *count* tests: with ``fake_registry`` and without it."""
    directory.mkdir(parents=True, exist_ok=True)
    with_fake = directory / "test_with_fake_registry.py"
    without = directory / "test_without_fixture.py"
    with_fake.write_text(_MODULE.format(count=count, fixture="fake_registry, ",
                                        check='fake_registry.url.startswith("https://")'))
    without.write_text(_MODULE.format(count=count, fixture="", check="n >= 0"))
    return with_fake, without


def _pytest(module: Path) -> Sequence[str]:
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
            "--rootdir", str(module.parent), str(module)]


@contextlib.contextmanager
def setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
    with_fake, without = write_tests(inputs / "tests")

    def ours(run: Run) -> Sequence[str]:
        return _pytest(with_fake)

    def peer(run: Run) -> Sequence[str]:
        return _pytest(without)

    yield Workload(work_bytes=0, ours=ours, peer=peer)


BENCHMARKS = [
    Benchmark(
        name="plugin-fake-registry",
        operation=f"pytest: {TESTS} tests each using fake_registry",
        ours_label="pytest + fake_registry",
        peer_label="pytest, same tests, no fixture",
        setup=setup,
        goal=f"ours - peer < 5 s wall for {TESTS} tests; RSS <= peer + 20 MB",
    ),
]
