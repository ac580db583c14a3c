"""The start-up benchmark's workload is what it says: both modules pass, one uses the fake."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.plugin import BENCHMARKS, write_tests


def test_both_sides_pass_and_only_one_uses_the_fixture(pytester: pytest.Pytester,
                                                       tmp_path: Path) -> None:
    with_fake, without = write_tests(tmp_path, count=3)
    assert "fake_registry" in with_fake.read_text()
    assert "fake_registry" not in without.read_text()
    for module in (with_fake, without):
        result = pytester.runpytest("-p", "no:randomly", str(module), "--setup-plan")
        result.assert_outcomes()
        uses = "SETUP    F fake_registry" in result.stdout.str()
        assert uses == (module == with_fake)
        pytester.runpytest(str(module)).assert_outcomes(passed=3)


def test_the_benchmark_is_declared() -> None:
    assert [b.name for b in BENCHMARKS] == ["plugin-fake-registry"]
