"""The fake's shape: small modules, and resources that read a profile's switches, never
its name (issue 13: a profile is data)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from fakeregistry.profiles import PROFILES

PACKAGE = Path(__file__).resolve().parents[2] / "fakeregistry"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 300
# Where requests are answered; profiles.py is where presets are named, and the command
# line and the front take a preset name as an argument.
HANDLING = [path for path in MODULES
            if path.name not in {"profiles.py", "__main__.py", "registry.py"}]


def _id(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


@pytest.mark.parametrize("path", MODULES, ids=_id)
def test_no_module_is_over_300_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{_id(path)} has {lines} lines (at most {MAX_LINES})"


def profile_name_branches(source: str) -> list[str]:
    """Comparisons that decide on which registry a profile imitates: ``X.name`` of
    something called profile, or a preset's name as a literal."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            items = operands + [e for o in operands for e in getattr(o, "elts", [])]
            found += [ast.unparse(node) for item in items if _names_a_profile(item)][:1]
    return found


def _names_a_profile(node: ast.expr) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr == "name" and "profile" in ast.unparse(node.value).lower()
    return isinstance(node, ast.Constant) and node.value in PROFILES


@pytest.mark.parametrize("path", HANDLING, ids=_id)
def test_handlers_do_not_branch_on_profile_names(path: Path) -> None:
    assert profile_name_branches(path.read_text()) == []


def test_the_check_sees_a_branch_on_a_profile_name() -> None:
    assert profile_name_branches('if self.profile.name == "ecr": pass') != []
    assert profile_name_branches('if name in ("quay",): pass') != []
    assert profile_name_branches("if profile.tag_page_limit is None: pass") == []


def test_the_size_check_covers_the_resources() -> None:
    names = {path.relative_to(PACKAGE).as_posix() for path in MODULES}
    assert {"resources/blobs.py", "resources/uploads.py", "resources/manifests.py",
            "resources/tags.py", "resources/referrers.py", "routes.py"} <= names
