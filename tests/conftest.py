"""Shared test configuration: pytester for plugin tests."""

pytest_plugins = ["pytester"]


# --- real registry (harness.peers.launchers) ------------------------------------------------
from collections.abc import Generator, Iterator  # noqa: E402

import pytest  # noqa: E402

from harness.peers.detect import require_peer  # noqa: E402
from harness.peers.launchers import DistributionLauncher, RunningRegistry  # noqa: E402

_LOG_OFFSET = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def _distribution_session() -> Iterator[RunningRegistry]:
    require_peer("docker-registry")
    with DistributionLauncher(schema1=True, delete=True).start() as registry:
        yield registry


@pytest.fixture
def distribution(request: pytest.FixtureRequest,
                 _distribution_session: RunningRegistry) -> RunningRegistry:
    """A native distribution registry (schema1 and delete enabled), shared by the session.

    Tests must use their own repository names: the storage is shared. On failure the
    registry's log lines written during the test are attached to the report.
    """
    # Counted in the plugin's "real peers exercised" summary like @requires_peer.
    request.node.user_properties.append(("requires_peer", "docker-registry"))
    return _distribution_session


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    registry = getattr(item, "funcargs", {}).get("distribution")
    if isinstance(registry, RunningRegistry):
        if report.when == "setup":
            item.stash[_LOG_OFFSET] = registry.log_size()
        elif report.failed:
            log = registry.read_log(since=item.stash.get(_LOG_OFFSET, 0))
            report.sections.append(("docker-registry log", log or "(empty)"))
    return report
