"""README.md stays true: its set-up commands match CI, and its examples run as written."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.DOTALL)


def _block(language: str, containing: str) -> str:
    found = [body for lang, body in BLOCKS if lang == language and containing in body]
    assert len(found) == 1, f"README.md: expected one {language} block with {containing!r}"
    return found[0]


def test_the_two_set_up_commands_come_first_and_ci_runs_the_test_command() -> None:
    setup = [body.strip() for lang, body in BLOCKS[:2]]
    assert setup[0].endswith("python -m conformance")
    test_command = setup[1].rsplit("&& ", 1)[1]
    assert test_command == "python -m pytest -n 2"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]'" in ci
    assert re.search(r"^python -m pytest -n 2\b", ci, flags=re.MULTILINE)


@pytest.mark.requires_peer("skopeo")
def test_the_build_commit_push_example_runs(tmp_path: Path) -> None:
    """As written, with port 5000 taken (Docker's default, often busy): the example asks
    for a free port and writes only into its own temporary directory."""
    script = _block("sh", "python -m harness from scratch")
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # mktemp -d lands in here
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(OSError):  # already taken is as good
            taken = stack.enter_context(socket.socket())
            taken.bind(("127.0.0.1", 5000))
            taken.listen()
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=120,
                                check=False)
    assert result.returncode == 0, result.stderr
    inspected = json.loads(result.stdout[result.stdout.index("{"):])
    assert inspected["RepoTags"] == ["v1"]
    # commit's --identity-label, on by default as buildah's
    assert inspected["Labels"] == {"demo": "yes", "io.buildah.version": "1.28.2"}
    assert "Writing manifest to image destination" in result.stdout + result.stderr
    (workdir,) = tmp_path.iterdir()  # the example's own directory, nothing else
    assert {p.name for p in workdir.iterdir()} == {"store", "serve.log", "hello.txt"}
    host = inspected["Name"].split("/")[0]
    assert host.startswith("127.0.0.1:") and host != "127.0.0.1:5000"
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                          f"docker://{host}/demo:v1"], capture_output=True,
                         text=True, check=False)
    # The registry was stopped by the example's last line: nothing may still answer.
    assert raw.returncode != 0


def test_the_plugin_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(_block("python", "def test_a_short_429_storm_is_ridden_out"))
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
