"""Every example in docs/pytest-plugin.md runs as written, as a test module of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "pytest-plugin.md"


def _examples() -> dict[str, str]:
    """The doc's complete test modules by heading (they start with their imports)."""
    text = DOC.read_text()
    found: dict[str, str] = {}
    for heading, body in re.findall(r"^### (.+?)\n(.*?)(?=^##|\Z)", text, re.M | re.S):
        blocks = [block for block in re.findall(r"```python\n(.*?)```", body, re.S)
                  if block.startswith(("import ", "from "))]
        if blocks:
            found[heading] = blocks[0]
    return found


EXAMPLES = _examples()


def test_the_doc_has_the_promised_examples() -> None:
    assert set(EXAMPLES) >= {
        "A 429 storm", "A dropped chunk and a resume", "A registry that refuses schema1",
        "An ECR-like mount refusal", "A token scope error", "A tag race",
        "Images of given files, as Docker or OCI",
    }


@pytest.mark.parametrize("heading", EXAMPLES)
def test_example_passes(heading: str, pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_example=EXAMPLES[heading])
    result = pytester.runpytest("-p", "no:randomly", "-rs")
    outcomes = result.parseoutcomes()
    # An example needing a missing peer skips (it errors under REQUIRE_REAL_PEERS=1).
    ran = set(outcomes) - {"warnings", "deselected"}
    assert ran and ran <= {"passed", "skipped"}, result.stdout.str()[-3000:]
