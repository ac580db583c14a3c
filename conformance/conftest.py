"""Fixtures and hooks of the suite: the target registry, per-check recording, statuses.

The run's :class:`~conformance.config.Settings` come from the runner's plugin object, from
``workerinput`` on an xdist worker, or from the environment under plain pytest.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator

import pytest

from conformance.client import Client, Target
from conformance.collector import KEY, register_collector
from conformance.config import settings_of
from conformance.expect import UNSUPPORTED_PREFIX, ShouldMissed
from conformance.repo import Repo
from conformance.results import Status, load_deviations
from conformance.rules import DOCKER_GROUP, MARK, Level, Rule, rule_of
from harness.model.access import RegistryAccess


def check_id(item: pytest.Item) -> str:
    """The check's name as reports and known-deviations files spell it."""
    return item.name.removeprefix("test_")


def group_of(item: pytest.Item) -> str:
    """The module's group, or ``docker`` for a check of a Docker-only rule."""
    rule = rule_of(item)
    return DOCKER_GROUP if rule is not None and rule.docker else \
        item.path.stem.removeprefix("test_")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK}(rule): the spec rule a conformance check enforces")
    register_collector(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = settings_of(config)
    expected = {d.check: d for d in load_deviations(settings.expect)} if settings.expect else {}
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        (keep if group_of(item) in settings.groups else drop).append(item)
        deviation = expected.get(check_id(item))
        if deviation is not None:
            item.add_marker(pytest.mark.xfail(strict=True, raises=AssertionError,
                                              reason=deviation.observed))
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _status(item: pytest.Item, call: pytest.CallInfo[None],
            rule: Rule | None) -> tuple[Status, str]:
    """A broken MUST (or a broken rule of an optional feature that is present) fails, a
    missed SHOULD warns, an optional feature found absent is unsupported, anything else the
    check could not decide is an error."""
    expected = call.when == "call" and item.get_closest_marker("xfail") is not None
    excinfo = call.excinfo
    if excinfo is None:
        return (Status.UNEXPECTED_PASS, "listed as a known deviation, but it passed") \
            if expected else (Status.PASS, "")
    message = str(excinfo.value).strip()[:1000]
    if excinfo.errisinstance(pytest.skip.Exception):
        return Status.UNSUPPORTED, message.removeprefix(UNSUPPORTED_PREFIX)
    if excinfo.errisinstance(AssertionError):
        if expected:
            return Status.EXPECTED_FAILURE, message
        missed = excinfo.errisinstance(ShouldMissed) or (
            rule is not None and rule.level == Level.SHOULD)
        return (Status.WARN if missed else Status.FAIL), message
    return Status.ERROR, f"{excinfo.typename}: {message}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    report = (yield).get_result()
    rule = rule_of(item)
    status, reason = _status(item, call, rule)
    recorder = getattr(item, "funcargs", {}).get("client")
    if isinstance(recorder, Client):  # a reason may quote a body that echoed credentials
        reason = recorder.mask(reason)
    doc = getattr(item, "obj", None).__doc__ or ""
    info = {"check": check_id(item), "group": group_of(item), "rule": doc.strip().split("\n")[0],
            "status": str(status), "reason": reason, "duration": call.duration,
            "level": str(rule.level) if rule else "", "citation": rule.citation if rule else "",
            "text": rule.text if rule else ""}
    report.user_properties = [*report.user_properties, (KEY, info)]


def _start_fake(profile: str) -> Iterator[Target]:
    import fakeregistry  # noqa: PLC0415 - only when no registry URL was given

    with fakeregistry.inprocess(fakeregistry.Registry(profile=profile)) as url:
        yield Target(RegistryAccess(url=url), name=f"fake:{profile}", isolate=True)


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Iterator[Target]:
    """The registry under test: the URL given, else the embedded fake."""
    settings = settings_of(pytestconfig)
    if settings.target is not None:
        yield settings.target
    else:
        yield from _start_fake(settings.fake_profile)


@pytest.fixture
def client(target: Target, request: pytest.FixtureRequest) -> Iterator[Client]:
    """A client whose exchanges end up in the report of the check that made them; afterwards
    it deletes what the check stored, where the run sweeps (:mod:`conformance.cleanup`)."""
    recorder = Client(target)
    yield recorder
    if settings_of(request.config).sweeps:
        told = len(recorder.exchanges)
        left = recorder.ledger.sweep(recorder)
        del recorder.exchanges[told:]  # the sweep is not part of what the check did
        request.node.user_properties.append(("leftovers", left))
    recorder.session.close()
    request.node.user_properties.append(
        ("exchanges", [e.as_dict() for e in recorder.exchanges]))


def _repository(namespace: str, target: Target, item: pytest.Item) -> str:
    if not target.isolate:
        return namespace
    return f"{namespace}/{re.sub(r'[^a-z0-9]+', '-', check_id(item).lower()).strip('-')}"


@pytest.fixture
def repo(client: Client, target: Target, request: pytest.FixtureRequest) -> Repo:
    """The repository under test (``OCI_NAMESPACE``, or a repository of its own per check)."""
    return Repo(client, _repository(target.namespace, target, request.node))


@pytest.fixture
def other_repo(client: Client, target: Target, request: pytest.FixtureRequest) -> Repo:
    """A second repository, the source of cross-repository mounts (``OCI_CROSSMOUNT_NAMESPACE``)."""
    return Repo(client, _repository(target.crossmount_namespace, target, request.node))
