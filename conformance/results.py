"""Check results: pytest reports folded into one status per check.

pytest's own outcomes do not say "unsupported" or tell a broken rule from a check that
could not run, so the suite records its own status: an ``AssertionError`` in the check is a
failure, any other exception an error, a skip whose reason starts with "unsupported: " a
valid answer for an optional feature, and the ``--expect`` list turns known failures into
expected ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from conformance.expect import UNSUPPORTED_PREFIX
from harness.util.errors import HarnessError


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNSUPPORTED = "unsupported"
    ERROR = "error"
    EXPECTED_FAILURE = "expected failure"
    UNEXPECTED_PASS = "unexpected pass"


# Statuses that make a run exit 1.
BAD = frozenset({Status.FAIL, Status.ERROR, Status.UNEXPECTED_PASS})


@dataclass
class CheckResult:
    """One check against one target."""

    check: str
    group: str
    rule: str
    status: Status = Status.PASS
    reason: str = ""
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    duration: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**vars(self), "status": str(self.status)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls(**{**data, "status": Status(data["status"])})


@dataclass
class RunResult:
    """Every check of one run against one target."""

    target: str
    checks: list[CheckResult] = field(default_factory=list)
    duration: float = 0.0

    def by_status(self, *statuses: Status) -> list[CheckResult]:
        return [c for c in self.checks if c.status in statuses]

    @property
    def ok(self) -> bool:
        return not self.by_status(*BAD)

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "duration": self.duration,
                "checks": [c.as_dict() for c in self.checks]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        return cls(data["target"], [CheckResult.from_dict(c) for c in data["checks"]],
                   data.get("duration", 0.0))


class DeviationsError(HarnessError):
    """A known-deviations file cannot be read."""


@dataclass(frozen=True)
class Deviation:
    """A rule a registry is known to break: the check, the spec rule and what it does."""

    check: str
    rule: str
    observed: str


def load_deviations(path: Path) -> list[Deviation]:
    """Read a known-deviations file (``{"target": ..., "deviations": [...]}``)."""
    try:
        data = json.loads(path.read_text())
        return [Deviation(d["check"], d["rule"], d["observed"]) for d in data["deviations"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DeviationsError(f"cannot read known deviations from {path}: {exc}") from exc


def status_of(outcome: str, *, assertion: bool, skip_reason: str,
              xfailed: bool, xpassed: bool) -> tuple[Status, str]:
    """Map one pytest phase outcome to a status and its reason."""
    if xpassed:
        return Status.UNEXPECTED_PASS, "listed as a known deviation, but the check passed"
    if xfailed:
        return Status.EXPECTED_FAILURE, skip_reason
    if outcome == "passed":
        return Status.PASS, ""
    if outcome == "skipped":
        return Status.UNSUPPORTED, skip_reason.removeprefix(UNSUPPORTED_PREFIX)
    return (Status.FAIL if assertion else Status.ERROR), skip_reason
