"""The suite passes against the fake's spec profile and reports exactly each profile's quirks."""

from __future__ import annotations

import pytest
from conformance_helpers import not_passed, run_against

import fakeregistry
from conformance.results import Status
from fakeregistry.profiles import PROFILES, Profile

REFERRERS = ("subject_header", "subject_missing_accepted", "referrers_list",
             "referrers_unknown_subject", "referrers_filter")
SCHEMA1 = ("manifest_push[v2s1]", "manifest_get_by_tag[v2s1]", "manifest_get_by_digest[v2s1]",
           "manifest_head[v2s1]", "manifest_content_type[v2s1]", "manifest_accept[v2s1]",
           "manifest_blob_unknown[v2s1]", "schema1_bad_signature",
           "harness_push_round_trip[v2s1]")
DELETES = ("delete_manifest", "delete_manifest_untags", "delete_tag", "delete_blob",
           "delete_unknown_manifest")


def expected_results(profile: Profile) -> dict[str, Status]:
    """What the suite must report for *profile*, derived from its declared switches."""
    out: dict[str, Status] = {}
    fail, unsupported = Status.FAIL, Status.UNSUPPORTED
    if not profile.tags_sorted:
        out["tag_list_sorted"] = fail
    if not profile.tags_paginate:
        out |= dict.fromkeys(("tag_list_n", "tag_list_last"), fail)
        out["tag_list_link"] = unsupported
    if not profile.chunk_ranges_checked:
        out["push_chunk_out_of_order"] = fail
    if not profile.monolithic_post:
        out["push_monolithic_post"] = unsupported
    if profile.grammar_errors_not_found:
        out["tag_invalid"] = fail
    if not profile.delete_by_tag:
        out["delete_tag"] = unsupported
    if not profile.referrers:
        out |= dict.fromkeys(REFERRERS, unsupported)
    if not profile.schema1:
        out |= dict.fromkeys(SCHEMA1, unsupported)
    if not profile.delete:
        out |= dict.fromkeys(DELETES, unsupported)
    if profile.mount != "spec":
        out["mount_from"] = unsupported
    if profile.mount_without_from == "invalid":
        out["mount_without_from"] = fail
    if profile.mount_unknown_from == "unauthorized":
        out["mount_unknown_from"] = fail
    return out


def test_spec_profile_passes_everything() -> None:
    run = run_against(fakeregistry.Registry(profile="spec"))
    assert len(run.checks) >= 75
    assert not_passed(run) == {}


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
