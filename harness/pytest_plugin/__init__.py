"""The pytest plugin (entry point ``pytest11``): fixtures, markers, assertion helpers.

``@pytest.mark.requires_peer("skopeo", ...)`` skips a test when a real peer is missing (a
failure under ``REQUIRE_REAL_PEERS=1``); the terminal summary counts, per peer, the tests
that really ran against it.
"""

from __future__ import annotations

from collections import Counter

import pytest

from harness.peers.detect import require_peer

_PEERS_PROPERTY = "requires_peer"
_peer_runs: Counter[str] = Counter()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires_peer(*names): needs these real peers (skopeo, docker-registry, ...)"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    names = [name for marker in item.iter_markers("requires_peer") for name in marker.args]
    if names:
        # user_properties travel from xdist workers to the controller with the report.
        item.user_properties.append((_PEERS_PROPERTY, ",".join(names)))
    for name in names:
        require_peer(name)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    for key, value in report.user_properties:
        if key == _PEERS_PROPERTY:
            _peer_runs.update(str(value).split(","))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _peer_runs:
        return
    terminalreporter.section("real peers exercised")
    for name, count in sorted(_peer_runs.items()):
        terminalreporter.write_line(f"{name}: {count} tests ran against it")
