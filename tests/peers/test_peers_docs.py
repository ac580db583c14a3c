"""The complete examples in docs/peers.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "peers.md"


def _complete_examples() -> list[str]:
    """Python blocks that stand alone (they start with their imports)."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return [block for block in blocks if block.startswith(("import ", "from "))]


SCRIPTS = [block for block in _complete_examples() if "def test_" not in block]
TEST_MODULES = [block for block in _complete_examples() if "def test_" in block]


def test_the_doc_has_complete_examples() -> None:
    assert (len(SCRIPTS), len(TEST_MODULES)) == (2, 1)


@pytest.mark.requires_peer("docker-registry", "buildah", "skopeo", "busybox")
@pytest.mark.parametrize("example", SCRIPTS)
def test_script_runs(example: str) -> None:
    exec(compile(example, str(DOC), "exec"), {})


@pytest.mark.requires_peer("docker-registry", "buildah", "skopeo")
@pytest.mark.parametrize("example", TEST_MODULES)
def test_example_test_passes(example: str, pytester: pytest.Pytester) -> None:
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    pytester.makepyfile(test_example=example)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
