"""Check results: pytest reports folded into one status per check.

pytest's own outcomes do not say "unsupported" or tell a broken rule from a check that
could not run, so the suite records its own status: an ``AssertionError`` in the check is a
failure (a warning when the rule is a SHOULD), any other exception an error, a skip whose
reason starts with "unsupported: " a valid answer for an optional feature, and the
``--expect`` list turns known failures into expected ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from conformance.rules import DOCKER_GROUP
from harness.util.errors import HarnessError


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    UNSUPPORTED = "unsupported"
    ERROR = "error"
    EXPECTED_FAILURE = "expected failure"
    UNEXPECTED_PASS = "unexpected pass"


# Statuses that make a run exit 1 (WARN too under --strict), outside the docker group.
BAD = frozenset({Status.FAIL, Status.ERROR, Status.UNEXPECTED_PASS})
STRICT_BAD = BAD | {Status.WARN}


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
    level: str = ""
    """MUST, SHOULD or MAY (:class:`conformance.rules.Level`)."""
    citation: str = ""
    """The spec and section the rule comes from."""
    text: str = ""
    """The sentence of the spec the check enforces."""

    @property
    def docker(self) -> bool:
        """A Docker compatibility check: reported, never an OCI failure."""
        return self.group == DOCKER_GROUP

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
    url: str = ""
    started: str = ""
    """When the run began (ISO 8601, UTC)."""
    version_headers: dict[str, str] = field(default_factory=dict)
    """Headers naming the registry's software or API version, as seen in its answers."""
    suite_version: str = ""
    cleanup: str = ""
    """"swept" (each check deleted what it pushed), "kept" (--keep) or "discarded" (the
    suite started the registry and threw it away)."""
    leftovers: list[str] = field(default_factory=list)
    """What a sweep could not delete, with the registry's answer."""

    def by_status(self, *statuses: Status) -> list[CheckResult]:
        return [c for c in self.checks if c.status in statuses]

    def failing(self, *, strict: bool = False) -> list[CheckResult]:
        """The OCI checks that make this run fail (warnings too when *strict*)."""
        bad = STRICT_BAD if strict else BAD
        return [c for c in self.checks if c.status in bad and not c.docker]

    @property
    def ok(self) -> bool:
        return not self.failing()

    def as_dict(self) -> dict[str, Any]:
        return {**vars(self), "checks": [c.as_dict() for c in self.checks]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        return cls(**{**data, "checks": [CheckResult.from_dict(c) for c in data["checks"]]})


class DeviationsError(HarnessError):
    """A known-deviations file cannot be read."""


@dataclass(frozen=True)
class Deviation:
    """A rule a registry is known to break: the check, the spec rule and what it does."""

    check: str
    rule: str
    observed: str
    status: str = "fail"
    """What the check reports without --expect: "fail", or "warn" for a missed SHOULD."""


def load_deviations(path: Path) -> list[Deviation]:
    """Read a known-deviations file (``{"target": ..., "deviations": [...]}``)."""
    try:
        data = json.loads(path.read_text())
        return [Deviation(d["check"], d["rule"], d["observed"], d.get("status", "fail"))
                for d in data["deviations"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DeviationsError(f"cannot read known deviations from {path}: {exc}") from exc
