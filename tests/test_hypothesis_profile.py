"""The suite's hypothesis profile (tests/conftest.py): no wall-clock bound, same examples."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

TESTS = Path(__file__).resolve().parent


def test_the_profile_has_no_deadline_and_is_derandomized() -> None:
    assert settings.default.deadline is None
    assert settings.default.derandomize
    assert settings.default.database is None


def test_no_test_sets_its_own_deadline() -> None:
    """A deadline given per test would override the profile: the profile is the one place."""
    setting = re.compile(r"settings\([^)]*\bdeadline\s*=")
    offenders = [str(path.relative_to(TESTS)) for path in TESTS.rglob("*.py")
                 if path.name != "conftest.py" and path != Path(__file__)
                 and setting.search(path.read_text(encoding="utf-8"))]
    assert offenders == []


def _examples() -> list[bytes]:
    drawn: list[bytes] = []

    @settings(max_examples=20)
    @given(st.binary(max_size=64))
    def record(value: bytes) -> None:
        drawn.append(value)

    record()
    return drawn


def test_two_runs_draw_the_same_examples() -> None:
    first = _examples()
    assert len(first) > 1
    assert _examples() == first
