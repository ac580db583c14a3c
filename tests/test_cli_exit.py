"""``python -m harness`` ends without tearing the interpreter down (see
:func:`harness.util.cli.exit_without_teardown`), yet does all an ordinary exit does: the
exit code, the atexit callbacks, every byte written to a piped stdout; and it leaves the
ordinary exit to a process with a thread still running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.builder.builder import Builder
from harness.store.store import Store

_CALLBACKS_AND_FLUSH = """
import atexit, os
from harness.util.cli import exit_without_teardown

class Torn:
    def __del__(self):
        os.write(1, b"torn down\\n")

kept = Torn()
print("before")  # stdout is a pipe: buffered until the exit flushes it
atexit.register(print, "atexit ran")
exit_without_teardown(3)
"""

_RUNNING_THREAD = """
import threading
from harness.util.cli import exit_without_teardown

release = threading.Event()

def work():
    release.wait()
    print("thread done", flush=True)

threading.Thread(target=work).start()
try:
    exit_without_teardown(4)
except SystemExit:
    print("ordinary exit", flush=True)
    release.set()
    raise
"""


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run Python with *argv*, its stdout a pipe and buffered (as it is unless the
    environment says PYTHONUNBUFFERED)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                          check=False, timeout=120, env=env)


def test_the_exit_keeps_code_callbacks_and_output_and_skips_the_teardown() -> None:
    proc = _run("-c", _CALLBACKS_AND_FLUSH)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "before\natexit ran\n"  # no "torn down": nothing was freed
    assert proc.stderr == ""


def test_a_thread_still_running_gets_the_ordinary_exit() -> None:
    proc = _run("-c", _RUNNING_THREAD)
    assert proc.returncode == 4, proc.stderr
    assert proc.stdout == "ordinary exit\nthread done\n"


def test_a_command_output_through_a_pipe_is_complete(tmp_path: Path) -> None:
    root = tmp_path / "root"
    store = Store.open(root)
    for index in range(10):
        builder = Builder.new(store, "scratch")
        (Path(builder.rootfs) / "file.txt").write_text(str(index))
        builder.commit(f"app:{index}")
    proc = _run("-m", "harness", "--root", str(root), "images")  # all still in the buffer
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines(keepends=True)
    assert len(lines) == 11 and all(line.endswith("\n") for line in lines)
    assert sorted(line.split()[1] for line in lines[1:]) == sorted(str(i) for i in range(10))


def test_a_failed_command_keeps_its_exit_code_and_one_line(tmp_path: Path) -> None:
    proc = _run("-m", "harness", "copy", f"oci:{tmp_path / 'missing'}:v1",
                f"dir:{tmp_path / 'out'}")
    assert proc.returncode == 125
    assert proc.stderr.startswith("Error: ") and proc.stderr.count("\n") == 1


def test_a_command_started_without_stdout_or_stderr_exits_as_usual(tmp_path: Path) -> None:
    def close_stdout_and_stderr() -> None:
        os.close(1)
        os.close(2)

    proc = subprocess.run([sys.executable, "-m", "harness", "--root", str(tmp_path / "root"),
                           "images"], check=False, timeout=120,
                          preexec_fn=close_stdout_and_stderr)
    assert proc.returncode == 0
