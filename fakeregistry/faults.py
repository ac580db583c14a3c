"""Fault injection: rules that make chosen requests fail the way networks and registries do.

A rule matches on method, path glob, repository and the nth matching request, then does
one thing: answer an error status (with a spec error body), answer 429 with
``Retry-After``, add latency, drop the connection after N body bytes, truncate the body
(and its Content-Length), or send a wrong ``Docker-Content-Digest``. Random choices
(``probability``) come from one generator seeded by the registry, so a run is repeatable.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import random
import threading
from dataclasses import dataclass, field

from harness.util.errors import HarnessError


class FaultRuleError(HarnessError, ValueError):
    """A fault rule given as text could not be parsed."""


@dataclass
class FaultRule:
    """Match fields (None matches anything), then the fault to inject."""

    method: str | None = None
    path: str | None = None
    repository: str | None = None
    nth: int | None = None
    """Fire only on the nth matching request (1-based)."""
    times: int | None = None
    """Fire at most this many times."""
    probability: float = 1.0
    status: int | None = None
    code: str = "UNSUPPORTED"
    retry_after: int | None = None
    latency: float = 0.0
    drop_after: int | None = None
    truncate: int | None = None
    wrong_digest: bool = False
    matched: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def describe(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                 if f.name not in {"matched", "fired"} and getattr(self, f.name) != f.default}
        return ",".join(f"{k}={v}" for k, v in shown.items())

    def matches(self, method: str, path: str, repository: str | None) -> bool:
        return ((self.method is None or self.method.upper() == method)
                and (self.path is None or fnmatch.fnmatchcase(path, self.path))
                and (self.repository is None or self.repository == repository))

    @classmethod
    def parse(cls, text: str) -> FaultRule:
        """``key=value,...`` with the field names, e.g. ``method=PUT,nth=2,status=503``."""
        types = {f.name: f.type for f in dataclasses.fields(cls)
                 if f.name not in {"matched", "fired"}}
        values: dict[str, object] = {}
        for item in filter(None, text.split(",")):
            key, sep, raw = item.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or key not in types:
                raise FaultRuleError(
                    f"bad fault rule item {item!r}: use key=value with keys {', '.join(types)}"
                )
            values[key] = _convert(key, str(types[key]), raw.strip())
        return cls(**values)  # type: ignore[arg-type]


def _convert(key: str, type_name: str, raw: str) -> object:
    try:
        if "bool" in type_name:
            return raw.lower() in {"1", "true", "yes", "on"}
        if "float" in type_name:
            return float(raw)
        if "int" in type_name:
            return int(raw)
    except ValueError:
        raise FaultRuleError(f"bad fault rule value {key}={raw!r}: not a number") from None
    return raw


class Faults:
    """The active rules; :meth:`pick` returns the first rule that fires for a request."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def pick(self, method: str, path: str, repository: str | None) -> FaultRule | None:
        with self._lock:
            for rule in self.rules:
                if not rule.matches(method, path, repository):
                    continue
                rule.matched += 1
                if rule.nth is not None and rule.matched != rule.nth:
                    continue
                if rule.times is not None and rule.fired >= rule.times:
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                rule.fired += 1
                return rule
        return None
