"""The command line's malloc tuning: freed stream buffers are reused, not faulted in again."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Four 1 MiB buffers alive at once, then freed, as in a streaming copy's queues.
CHURN = """
import resource, sys
from harness.util.memory import reuse_freed_buffers
if sys.argv[1] == "tuned":
    assert reuse_freed_buffers()
start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(64):
    buffers = [b"x" * (1 << 20) for _ in range(4)]
    del buffers
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - start)
"""


def _page_faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True,
                          check=True, timeout=60)
    return int(done.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_buffers_are_reused_instead_of_faulted_in_again() -> None:
    untuned, tuned = _page_faults("default"), _page_faults("tuned")
    assert untuned > 32 * 256  # 32 MiB or more of the 256 MiB that passed was faulted in again
    assert tuned < untuned / 10

