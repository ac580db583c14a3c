"""Against the real distribution registry 2.8.2 the suite reports exactly its known deviations."""

from __future__ import annotations

from pathlib import Path

import pytest
from conformance_helpers import AUTH, TOKEN, expected_results, not_passed

from conformance import config
from conformance.client import Target
from conformance.report import load_results
from conformance.results import Status, load_deviations
from conformance.runner import main, run_suite
from fakeregistry.profiles import PROFILES
from harness.peers.container import DistributionContainerLauncher
from harness.peers.launchers import DistributionLauncher, RunningRegistry

DEVIATIONS = Path(config.__file__).parent / "deviations" / "distribution-2.8.json"
KNOWN = {d.check: Status(d.status) for d in load_deviations(DEVIATIONS)}
# Optional features 2.8 does not have: valid answers, not failures.
UNSUPPORTED = {"subject_header", "referrers_list", "referrers_unknown_subject",
               "referrers_filter", "push_monolithic_post", "tag_list_link", *AUTH}
# What the fake's distribution-2.8 profile does not imitate, and why.
NOT_IMITATED = {
    "manifest_malformed_digest": "the fake answers a malformed digest with a 4xx; "
                                 "distribution's 500 is a bug no client needs imitated",
    "upload_status_stale": "the fake's upload Location carries no state token, so no Location "
                           "it gave goes stale",
}


def expected() -> dict[str, Status]:
    return {**KNOWN, **dict.fromkeys(UNSUPPORTED, Status.UNSUPPORTED)}


def settings_for(registry: RunningRegistry, namespace: str,
                 expect: Path | None = None) -> config.Settings:
    return config.Settings(Target(registry, namespace=f"{namespace}/main",
                                  crossmount_namespace=f"{namespace}/other", isolate=True,
                                  name="distribution"), expect=expect)


@pytest.mark.requires_peer("docker-registry")
def test_native_distribution_fails_exactly_the_known_deviations(
        distribution: RunningRegistry) -> None:
    run = run_suite(settings_for(distribution, "conf-native"))
    assert not_passed(run) == expected()


@pytest.mark.requires_peer("docker-registry")
def test_known_deviations_become_expected_failures(distribution: RunningRegistry) -> None:
    run = run_suite(settings_for(distribution, "conf-expect", DEVIATIONS))
    assert run.ok
    assert {c.check for c in run.by_status(Status.EXPECTED_FAILURE)} == set(KNOWN)
    assert not run.by_status(Status.UNEXPECTED_PASS)


@pytest.mark.requires_peer("docker-registry", "docker")
def test_distribution_in_a_container_fails_exactly_the_known_deviations() -> None:
    with DistributionContainerLauncher(schema1=True, delete=True).start() as registry:
        run = run_suite(settings_for(registry, "conf-container"))
    assert not_passed(run) == expected()


def test_every_deviation_states_its_rule_and_what_the_registry_does() -> None:
    deviations = load_deviations(DEVIATIONS)
    assert len(deviations) == len(KNOWN) >= 5
    for deviation in deviations:
        assert deviation.rule and deviation.observed, deviation
        assert deviation.status in {"fail", "warn"}, deviation


@pytest.mark.requires_peer("docker-registry", "docker")
def test_target_distribution_prefers_a_container_when_an_engine_answers(tmp_path: Path) -> None:
    code = main(["--target", "distribution", "--target", "distribution-native", "-k", "ping",
                 "--report-dir", str(tmp_path)], env={})
    assert code == 0
    runs = load_results(tmp_path / "results.json")
    assert [(r.target, [c.status for c in r.checks]) for r in runs] == [
        ("distribution-container", [Status.PASS]), ("distribution-native", [Status.PASS])]


@pytest.mark.requires_peer("docker-registry")
def test_distribution_with_htpasswd_auth_gives_the_same_results() -> None:
    with DistributionLauncher(schema1=True, delete=True, auth="basic").start() as registry:
        assert registry.credentials is not None
        target = Target(registry, namespace="conf-auth/main",
                        crossmount_namespace="conf-auth/other", isolate=True, name="auth")
        run = run_suite(config.Settings(target))
    basic = {check: status for check, status in expected().items()
             if check not in set(AUTH) - set(TOKEN)}  # the challenge checks pass under Basic
    assert not_passed(run) == basic


def test_the_fakes_distribution_profile_reports_what_the_real_registry_does() -> None:
    """Both sides are checked against real runs elsewhere: here they must agree, but for
    the named list of what the profile does not imitate."""
    fake = expected_results(PROFILES["distribution-2.8"])
    real = expected()
    differ = {c for c in set(fake) | set(real) if fake.get(c) != real.get(c)}
    assert differ == set(NOT_IMITATED)
