"""What a command imports when it runs as its own process, as users run it."""

from __future__ import annotations

import subprocess
import sys


def modules_of_process(*args: str) -> set[str]:
    """Run ``python -m harness ARGS`` as its own process (the command line's HTTP client,
    prepare hook and exit); the modules it imported (``-X importtime``)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "harness", *args],
                          capture_output=True, text=True, timeout=300, check=False)
    lines = proc.stderr.splitlines()
    assert proc.returncode == 0, [line for line in lines if not line.startswith("import ")]
    return {line.rpartition("|")[2].strip() for line in lines
            if line.startswith("import time:")}
