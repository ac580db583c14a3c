"""The results collector: on the controlling pytest process (not on xdist workers), fold
phase reports into one result per check and write the reports at the end.

The runner loads this module with ``-p`` so the collector exists on an xdist controller,
which never loads the suite's conftest; the conftest registers it otherwise.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import re
import time
from typing import Any

import pytest

from conformance.config import Settings, settings_of
from conformance.report import terminal_table, write_reports
from conformance.results import CheckResult, RunResult, Status

KEY = "conformance"
_NAME = "conformance-collector"


def register_collector(config: pytest.Config) -> None:
    """Register the collector once, on the controlling process."""
    if not hasattr(config, "workerinput") and not config.pluginmanager.has_plugin(_NAME):
        config.pluginmanager.register(_Collector(settings_of(config)), _NAME)


def pytest_configure(config: pytest.Config) -> None:
    register_collector(config)


class _Collector:
    """On the controlling process: fold phase reports into results and write the reports."""

    def __init__(self, settings: Settings) -> None:
        self.results: dict[str, CheckResult] = {}
        self.started = time.monotonic()
        self.report_dir = settings.report_dir
        self.run = RunResult(
            settings.name, url=settings.target.access.url if settings.target else "(in process)",
            started=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            suite_version=_suite_version(),
            cleanup="swept" if settings.sweeps else "kept" if settings.keep else "discarded")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties)
        info = props.get(KEY)
        if not isinstance(info, dict):
            return
        result = self.results.setdefault(report.nodeid, CheckResult(
            info["check"], info["group"], info["rule"], level=info["level"],
            citation=info["citation"], text=info["text"]))
        result.duration += float(info["duration"])
        exchanges = props.get("exchanges")
        if isinstance(exchanges, list):
            result.exchanges = exchanges
        leftovers = props.get("leftovers")
        if isinstance(leftovers, list):
            self.run.leftovers += leftovers
        status = Status(info["status"])
        if result.status == Status.PASS and status != Status.PASS:
            result.status, result.reason = status, str(info["reason"])

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.run.checks = list(self.results.values())
        self.run.duration = time.monotonic() - self.started
        self.run.version_headers = version_headers(
            e for c in self.run.checks for e in c.exchanges)
        if self.report_dir is not None:
            write_reports(self.report_dir, [self.run])

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.section(f"conformance: {self.run.target}")
        for line in terminal_table([self.run]):
            terminalreporter.write_line(line)


# Headers through which registries name their software or API version.
_VERSION_HEADER = re.compile(r"^(server|docker-distribution-api-version|x-.*version.*|"
                             r".*registry.*version.*)$", re.I)


def version_headers(exchanges: Any) -> dict[str, str]:
    """Every version-naming header in the registry's answers, with the values seen."""
    seen: dict[str, set[str]] = {}
    for exchange in exchanges:
        for name, value in exchange["response_headers"].items():
            if _VERSION_HEADER.match(name):
                seen.setdefault(name, set()).add(value)
    return {name: ", ".join(sorted(values)) for name, values in sorted(seen.items())}


def _suite_version() -> str:
    try:
        return importlib.metadata.version("oci-harness")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (oci-harness is not installed)"
