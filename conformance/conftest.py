"""Fixtures and hooks of the suite: the target registry, per-check recording, statuses.

Configuration comes from the environment (see :mod:`conformance.config`) so that the runner,
``pytest --pyargs conformance`` and pytest-xdist workers all see the same target.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from conformance.client import Client, Target
from conformance.config import ENV_EXPECT, ENV_REPORT_DIR, Settings
from conformance.expect import UNSUPPORTED_PREFIX
from conformance.repo import Repo
from conformance.report import write_reports
from conformance.results import CheckResult, RunResult, Status, load_deviations

_KEY = "conformance"


def check_id(item: pytest.Item) -> str:
    """The check's name as reports and known-deviations files spell it."""
    return item.name.removeprefix("test_")


def group_of(item: pytest.Item) -> str:
    return item.path.stem.removeprefix("test_")


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(_Collector(config), "conformance-collector")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = Settings.from_env()
    expected = {d.check: d for d in load_deviations(Path(os.environ[ENV_EXPECT]))} \
        if os.environ.get(ENV_EXPECT) else {}
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


def _status(item: pytest.Item, call: pytest.CallInfo[None]) -> tuple[Status, str]:
    expected = call.when == "call" and item.get_closest_marker("xfail") is not None
    excinfo = call.excinfo
    if excinfo is None:
        return (Status.UNEXPECTED_PASS, "listed as a known deviation, but it passed") \
            if expected else (Status.PASS, "")
    message = str(excinfo.value).strip()[:1000]
    if excinfo.errisinstance(pytest.skip.Exception):
        return Status.UNSUPPORTED, message.removeprefix(UNSUPPORTED_PREFIX)
    if excinfo.errisinstance(AssertionError):
        return (Status.EXPECTED_FAILURE if expected else Status.FAIL), message
    return Status.ERROR, f"{excinfo.typename}: {message}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    report = (yield).get_result()
    status, reason = _status(item, call)
    doc = getattr(item, "obj", None).__doc__ or ""
    info = {"check": check_id(item), "group": group_of(item), "rule": doc.strip().split("\n")[0],
            "status": str(status), "reason": reason, "duration": call.duration}
    report.user_properties = [*report.user_properties, (_KEY, info)]


class _Collector:
    """On the controlling process: fold phase reports into results and write the reports."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, CheckResult] = {}
        self.started = time.monotonic()
        settings = Settings.from_env()
        name = settings.target.name if settings.target else f"fake:{settings.fake_profile}"
        self.run = RunResult(name)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        info = props.get(_KEY)
        if not isinstance(info, dict):
            return
        result = self.results.setdefault(report.nodeid, CheckResult(
            info["check"], info["group"], info["rule"]))
        result.duration += float(info["duration"])
        exchanges = props.get("exchanges")
        if isinstance(exchanges, list):
            result.exchanges = exchanges
        status = Status(info["status"])
        if result.status == Status.PASS and status != Status.PASS:
            result.status, result.reason = status, str(info["reason"])

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.run.checks = list(self.results.values())
        self.run.duration = time.monotonic() - self.started
        report_dir = os.environ.get(ENV_REPORT_DIR)
        if report_dir:
            write_reports(Path(report_dir), [self.run])

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        from conformance.report import terminal_table  # noqa: PLC0415 - only when printing

        terminalreporter.section(f"conformance: {self.run.target}")
        for line in terminal_table([self.run]):
            terminalreporter.write_line(line)


def _start_fake(profile: str) -> Iterator[Target]:
    import fakeregistry  # noqa: PLC0415 - only when no registry URL was given

    with fakeregistry.inprocess(fakeregistry.Registry(profile=profile)) as url:
        yield Target(url=url, name=f"fake:{profile}", isolate=True)


@pytest.fixture(scope="session")
def target() -> Iterator[Target]:
    """The registry under test: the URL from the environment, else the embedded fake."""
    settings = Settings.from_env()
    if settings.target is not None:
        yield settings.target
    else:
        yield from _start_fake(settings.fake_profile)


@pytest.fixture
def client(target: Target, request: pytest.FixtureRequest) -> Iterator[Client]:
    """A client whose exchanges end up in the report of the check that made them."""
    recorder = Client(target)
    yield recorder
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
