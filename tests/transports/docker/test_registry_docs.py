"""The complete examples in docs/registry-client.md run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "registry-client.md"


def _complete_examples() -> list[str]:
    """Python blocks that stand alone (they start with their imports)."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return [block for block in blocks if block.startswith(("import ", "from "))]


def test_the_doc_has_complete_examples() -> None:
    assert len(_complete_examples()) == 3


# What each complete example prints, in order.
PRINTED = [r"pushed sha256:[0-9a-f]{64}\n", r"", r"404 (MANIFEST_UNKNOWN|NAME_UNKNOWN)\n"]


@pytest.mark.parametrize(("example", "printed"),
                         list(zip(_complete_examples(), PRINTED, strict=True)))
def test_example_runs(example: str, printed: str, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(example, str(DOC), "exec"), {})
    assert re.fullmatch(printed, capsys.readouterr().out)
