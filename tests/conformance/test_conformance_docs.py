"""docs/conformance.md: its Python example runs; every check states its rule in one line."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKS = sorted((ROOT / "conformance" / "checks").glob("test_*.py"))


def test_python_example_runs() -> None:
    text = (ROOT / "docs" / "conformance.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", text, re.S)
    exec(compile(example, "docs/conformance.md", "exec"), {})


def test_every_check_cites_its_rule_with_a_level() -> None:
    """Each check is decorated with must/should/may(section, sentence[, spec])."""
    for path in CHECKS:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                levels = [d.func.id for d in node.decorator_list
                          if isinstance(d, ast.Call) and isinstance(d.func, ast.Name)
                          and d.func.id in {"must", "should", "may"}]
                assert len(levels) == 1, f"{path.name}::{node.name} cites {levels}"


def test_every_check_has_a_one_line_rule_and_a_unique_name() -> None:
    names: list[str] = []
    for path in CHECKS:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                doc = ast.get_docstring(node) or ""
                assert doc and "\n" not in doc.strip(), f"{path.name}::{node.name}: {doc!r}"
                names.append(node.name)
    assert len(names) == len(set(names)) >= 50
