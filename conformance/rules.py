"""The rule each check enforces: which spec, which section, the sentence, and its level.

A vendor acts on what the suite reports, so every verdict names its source: a broken MUST is
a failure, a missed SHOULD a warning, and a MAY (an optional feature) is "unsupported" when
absent and held to its own rules when present. Checks of Docker's registry API that the OCI
spec does not require (schema1, ``_catalog``) cite that API and form the ``docker`` group,
which is reported apart and never counted as an OCI failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pytest

OCI = "OCI distribution-spec v1.1"
DOCKER = "Docker registry API / compatibility"
# The OCI spec leaves authentication out of scope; registries and clients implement this one.
TOKEN_AUTH = "Docker registry token authentication (distribution docs: auth/token, auth/scope)"
DOCKER_GROUP = "docker"
MARK = "conformance_rule"


class Level(StrEnum):
    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"


@dataclass(frozen=True)
class Rule:
    """The spec text a check enforces."""

    level: Level
    section: str
    text: str
    spec: str = OCI

    @property
    def citation(self) -> str:
        """``<spec>, "<section>"``: where a reader finds the sentence."""
        return f'{self.spec}, "{self.section}"'

    @property
    def docker(self) -> bool:
        return self.spec == DOCKER


def _mark(rule: Rule) -> pytest.MarkDecorator:
    decorator: pytest.MarkDecorator = getattr(pytest.mark, MARK)
    return decorator(rule)


def must(section: str, text: str, spec: str = OCI) -> pytest.MarkDecorator:
    """The check enforces a MUST (or MUST NOT) of *section*; breaking it is a failure."""
    return _mark(Rule(Level.MUST, section, text, spec))


def should(section: str, text: str, spec: str = OCI) -> pytest.MarkDecorator:
    """The check enforces a SHOULD; missing it is a warning (a failure under ``--strict``)."""
    return _mark(Rule(Level.SHOULD, section, text, spec))


def may(section: str, text: str, spec: str = OCI) -> pytest.MarkDecorator:
    """An optional feature: unsupported when absent, its own rules enforced when present."""
    return _mark(Rule(Level.MAY, section, text, spec))


def rule_of(item: pytest.Item) -> Rule | None:
    """The rule of *item*: a parameter's own rule (``pytest.param(marks=...)``) wins over
    the function's."""
    marks = [m.args[0] for m in item.iter_markers(MARK) if m.args]
    params = getattr(getattr(item, "callspec", None), "marks", [])
    own = [m.args[0] for m in params if m.name == MARK and m.args]
    found = own or marks
    return found[0] if found else None
