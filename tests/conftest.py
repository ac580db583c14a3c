"""Shared test configuration: pytester for plugin tests, the hypothesis profile."""

import os
from importlib import metadata

from hypothesis import HealthCheck, settings

pytest_plugins = ["pytester"]


def pytest_report_header() -> str:
    """The Python registry client the fake is tested with (the real peers' versions are
    in the "real peers exercised" summary)."""
    return f"oras-py {metadata.version('oras')}"

# --- hypothesis: one profile for the whole suite ------------------------------------------
# Speed is never what a property claims, and two cores shared by xdist workers and other
# jobs make any wall-clock bound flaky: no deadline, no too_slow check. The examples are
# derived from each test's name (derandomize) and nothing is replayed from a local
# database, so a run is the same on every machine and under any load. Test-level
# @settings only bound example counts. HYPOTHESIS_PROFILE=explore draws fresh examples.
settings.register_profile(
    "oci-harness", deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "explore", parent=settings.get_profile("oci-harness"), derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "oci-harness"))


# --- real registry (harness.peers.launchers) ------------------------------------------------
import contextlib  # noqa: E402
from collections.abc import Callable, Generator, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from harness.peers.detect import require_peer  # noqa: E402
from harness.peers.launchers import DistributionLauncher, RunningRegistry  # noqa: E402

_LOG_OFFSETS = pytest.StashKey[dict[str, int]]()
_STARTED = pytest.StashKey[list[RunningRegistry]]()
DistributionFactory = Callable[..., RunningRegistry]


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


@pytest.fixture
def make_distribution(request: pytest.FixtureRequest) -> Iterator[DistributionFactory]:
    """Start registries of your own, e.g. ``make_distribution(auth="basic", tls=True)``.

    Each is stopped after the test; on failure their logs are attached to the report.
    """
    started: list[RunningRegistry] = []
    request.node.stash[_STARTED] = started
    with contextlib.ExitStack() as stack:

        def make(**options: Any) -> RunningRegistry:
            require_peer("docker-registry")
            registry = stack.enter_context(DistributionLauncher(**options).start())
            if not started:
                request.node.user_properties.append(("requires_peer", "docker-registry"))
            started.append(registry)
            return registry

        yield make


def _registries_of(item: pytest.Item) -> list[RunningRegistry]:
    shared = getattr(item, "funcargs", {}).get("distribution")
    own = item.stash.get(_STARTED, [])
    return ([shared] if isinstance(shared, RunningRegistry) else []) + own


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    registries = _registries_of(item)
    if report.when == "setup":
        item.stash[_LOG_OFFSETS] = {r.host: r.log_size() for r in registries}
    elif report.failed:
        offsets = item.stash.get(_LOG_OFFSETS, {})
        for registry in registries:
            log = registry.read_log(since=offsets.get(registry.host, 0))
            report.sections.append((f"docker-registry log ({registry.host})", log or "(empty)"))
    return report


@pytest.fixture(params=["requests", "http.client"])
def http_library(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once per library registry sessions can be built on: requests (the
    library default) and http.client (``python -m harness``); both keep one contract."""
    from harness.transports import httpclient  # noqa: PLC0415

    previous = httpclient.selected()
    httpclient.select(request.param)
    yield request.param
    httpclient.select(previous)


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    """A permissive signature policy, so no test depends on /etc/containers/policy.json."""
    path = tmp_path / "policy.json"
    path.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    return path


@pytest.fixture
def root(tmp_path: Path, policy: Path) -> str:
    """A store (``--root``) holding ``app:v1``: an empty image, committed from scratch."""
    from harness.cli.main import main  # noqa: PLC0415 - only the tests that ask load the CLI

    root = str(tmp_path / "root")
    assert main(["--root", root, "from", "--signature-policy", str(policy), "-q",
                 "scratch"]) == 0
    assert main(["--root", root, "commit", "-q", "working-container", "app:v1"]) == 0
    return root
