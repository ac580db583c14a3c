"""The complete examples in docs/peers.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "peers.md"


def _complete_examples() -> list[str]:
    """Python blocks that stand alone (they start with their imports)."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return [block for block in blocks if block.startswith(("import ", "from "))]


def test_the_doc_has_complete_examples() -> None:
    assert len(_complete_examples()) == 2


@pytest.mark.requires_peer("docker-registry", "buildah", "skopeo", "busybox")
@pytest.mark.parametrize("example", _complete_examples())
def test_example_runs(example: str) -> None:
    exec(compile(example, str(DOC), "exec"), {})
