"""The suite passes against the fake's spec profile and reports exactly each profile's quirks."""

from __future__ import annotations

import pytest
from conformance_helpers import AUTH, expected_results, not_passed, run_against

import fakeregistry
from conformance.results import Status
from fakeregistry.profiles import PROFILES


def test_spec_profile_passes_everything() -> None:
    """Everything but the auth checks, which find no authentication to check."""
    run = run_against(fakeregistry.Registry(profile="spec"))
    assert len(run.checks) >= 75
    assert not_passed(run) == dict.fromkeys(AUTH, Status.UNSUPPORTED)


@pytest.mark.parametrize("name", [n for n in PROFILES if n != "spec"])
def test_profile_reports_exactly_its_quirks(name: str) -> None:
    profile = PROFILES[name]
    run = run_against(fakeregistry.Registry(profile=profile))
    assert not_passed(run) == expected_results(profile)


@pytest.mark.parametrize("switches", [
    {"delete": False}, {"schema1": False}, {"referrers": False}, {"mount": "disabled"},
    {"tags_sorted": False, "tags_paginate": False}, {"chunk_min_length": 100},
], ids=",".join)
def test_optional_features_switched_off_are_unsupported_not_failed(
        switches: dict[str, object]) -> None:
    profile = PROFILES["spec"].replace(**switches)
    run = run_against(fakeregistry.Registry(profile=profile))
    assert not_passed(run) == expected_results(profile)
