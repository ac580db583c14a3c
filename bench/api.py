"""The benchmark interface: what a ``bench/<name>.py`` module declares for the runner.

A module lists its benchmarks in ``BENCHMARKS``. Each :class:`Benchmark` has a ``setup``
that builds the inputs once (a context manager, so it may also start servers) and yields a
:class:`Workload`: two command factories, the project's ("ours") and the real peer's, each
turned into an argv per run. Both sides run as whole processes, so the runner can time them
and read their peak RSS the same way; a side that does not exist yet is ``None`` with a
reason, and the report says "not available" instead of inventing a number.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import harness

if TYPE_CHECKING:  # the measured wrappers import this module: keep it light
    from harness.peers.launchers import RunningRegistry

MiB = 1024 * 1024


@dataclass(frozen=True)
class Scale:
    """How big the work should be: ``--quick`` asks for a small size that runs in seconds."""

    size: int  # bytes of input to build (e.g. the layer size)
    quick: bool


@dataclass(frozen=True)
class Run:
    """Where one timed process works."""

    scratch: Path  # an empty folder for this run only, removed afterwards
    index: int  # the repetition, 0-based: use it for unique names (repositories, tags)
    registry: RunningRegistry | None = None  # fresh for this run if the benchmark asks


Side = Callable[[Run], Sequence[str]]
"""Makes the argv of one run, at most preparing that run's input; it must not start the
work itself (what it does is not timed)."""


@dataclass(frozen=True)
class Workload:
    """What ``setup`` built: the commands to compare and how much work one run does."""

    work_bytes: int  # bytes one run processes, for throughput (MB/s) in the chart
    ours: Side | None
    peer: Side | None
    ours_missing: str = ""  # why ``ours`` is None, shown in the table
    peer_missing: str = ""  # why ``peer`` is None
    env: Mapping[str, str] = field(default_factory=dict)  # added to both sides' environment


@dataclass(frozen=True)
class Benchmark:
    """One operation measured for the project and for its real peer, side by side."""

    name: str  # unique; ``python -m bench --only NAME``
    operation: str  # what one run does, e.g. "push 512 MiB layer, gzip, to distribution"
    ours_label: str  # e.g. "python -m harness copy"
    peer_label: str  # e.g. "skopeo copy"
    setup: Callable[[Path, Scale], AbstractContextManager[Workload]]  # (input dir, scale)
    fresh_registry: bool = False  # give every run its own new distribution registry
    # With fresh_registry, ours gets a fresh served fake (``python -m fakeregistry serve``)
    # instead, started before timing as distribution is: each side then times only its client.
    fake_for_ours: bool = False
    goal: str = ""  # the target from the issue, e.g. "time <= 0.6x, RSS < 100 MB"


def python_command(module: str, *args: str) -> list[str]:
    """The argv that runs ``python -m module args`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def bytecode_env(cache: Path) -> dict[str, str]:
    """Environment under which ``python -m harness`` loads precompiled bytecode from
    *cache* (an empty ``PYTHONDONTWRITEBYTECODE`` counts as unset)."""
    env = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(cache)}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(harness.__file__).parent)],
                   env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
    return env
