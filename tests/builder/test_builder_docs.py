"""The examples in docs/store.md run as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "store.md"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def test_the_console_session_runs(tmp_path: Path) -> None:
    (tmp_path / "policy.json").write_text(json.dumps(
        {"default": [{"type": "insecureAcceptAnything"}]}))
    commands = [line.removeprefix("$ ") for line in _blocks("console")[0].splitlines()]
    script = "set -euo pipefail\n" + "\n".join(commands).replace("python -m",
                                                                  f"{sys.executable} -m")
    env = {**os.environ, "HOME": str(tmp_path)}
    (tmp_path / ".config/containers").mkdir(parents=True)
    (tmp_path / ".config/containers/policy.json").write_text(
        (tmp_path / "policy.json").read_text())
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "localhost/hello" in proc.stdout
    assert (tmp_path / "layout/index.json").exists()


def test_the_python_example_runs() -> None:
    (example,) = _blocks("python")
    exec(compile(example, str(DOC), "exec"), {})
