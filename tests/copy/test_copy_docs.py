"""The examples of docs/transports.md run as written (paths moved into a temp folder)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "transports.md"
DEMO = "/tmp/demo"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


@pytest.mark.requires_peer("umoci")
def test_console_then_python_examples_run(tmp_path: Path) -> None:
    (tmp_path / "policy.json").write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    [console] = _blocks("console")
    commands = [line[2:] for line in console.splitlines() if line.startswith("$ ")]
    assert len(commands) >= 8
    for command in commands:
        done = subprocess.run(command.replace(DEMO, str(tmp_path)), shell=True,
                              capture_output=True, text=True, check=False, timeout=120)
        assert done.returncode == 0, f"{command}\n{done.stderr}"
    assert (tmp_path / "digest").read_text().startswith("sha256:")
    assert (tmp_path / "pushed" / "index.json").exists()
    [example] = _blocks("python")
    exec(compile(example.replace(DEMO, str(tmp_path)), str(DOC), "exec"), {})
    assert (tmp_path / "api.tar").exists()
    assert (tmp_path / "from-store" / "manifest.json").exists()
