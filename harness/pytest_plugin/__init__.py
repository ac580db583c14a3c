"""The pytest plugin (entry point ``pytest11``): fixtures, markers, assertion helpers.

Fixtures (see docs/pytest-plugin.md): ``fake_registry``, ``fake_registry_server``,
``make_fake_registry``, ``registry`` (once per ``--registry-target``), ``image_store``,
``builder``, ``random_image``. Helpers: :func:`assert_pushed`, :func:`assert_same_image`.

``@pytest.mark.requires_peer("skopeo", ...)`` skips a test when a real peer is missing (a
failure under ``REQUIRE_REAL_PEERS=1``); the terminal summary counts, per peer, the tests
that really ran against it. ``@pytest.mark.registry_profile("ecr", **switches)`` makes the
test's fakes answer like that registry.

Loading the plugin must stay cheap (it loads in every pytest run): this module and
:mod:`.fixtures` import only pytest; the rest is imported when first used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from harness.pytest_plugin.fixtures import (
    PROFILE_MARKER,
    TARGET_OPTION,
    USED_REGISTRIES,
    builder,
    fake_registry,
    fake_registry_server,
    image_store,
    make_fake_registry,
    random_image,
    real_registries,
    registry,
)

if TYPE_CHECKING:
    from harness.pytest_plugin.assertions import assert_pushed, assert_same_image
    from harness.pytest_plugin.registries import RegistryUnderTest

__all__ = ["assert_pushed", "assert_same_image", "builder", "fake_registry",
           "fake_registry_server", "image_store", "make_fake_registry", "random_image",
           "real_registries", "registry"]

_PEERS_PROPERTY = "requires_peer"
_FIXTURES_MODULE = "harness.pytest_plugin.fixtures"


_LAZY = {"assert_pushed", "assert_same_image"}


def __getattr__(name: str) -> Any:
    """The assertion helpers, imported on first use (they pull in the transports)."""
    if name in _LAZY:
        from harness.pytest_plugin import assertions  # noqa: PLC0415

        return getattr(assertions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("oci-harness").addoption(
        TARGET_OPTION, action="append", default=[], metavar="TARGET",
        help="run tests using the 'registry' fixture against TARGET: fake (default), "
             "distribution, distribution-container or url=URL; repeat for several")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires_peer(*names): needs these real peers (skopeo, docker-registry, ...)"
    )
    config.addinivalue_line(
        "markers", f"{PROFILE_MARKER}(name, **switches): the test's fake registries answer "
                   "like that registry (spec, distribution-2.8, ecr, quay, harbor, ...)"
    )
    config.pluginmanager.register(PeerSummary())
    _check_targets(config.getoption(TARGET_OPTION, default=[]) or [])


def _check_targets(targets: list[str]) -> None:
    """A mistyped ``--registry-target`` is a usage error now, not an error in every test."""
    real = [spec for spec in targets if spec != "fake"]
    if not real:
        return
    from harness.peers.targets import launcher_for  # noqa: PLC0415
    from harness.util.errors import HarnessError  # noqa: PLC0415

    for spec in real:
        try:
            launcher_for(spec)
        except HarnessError as error:
            raise pytest.UsageError(f"{TARGET_OPTION}: {error}; or fake") from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that uses *this plugin's* ``registry`` once per target (a test module
    or conftest may define its own ``registry``; that one is left alone)."""
    if "registry" not in metafunc.fixturenames:
        return
    definitions = metafunc.definition._fixtureinfo.name2fixturedefs.get("registry", ())
    if not definitions or definitions[-1].baseid != "" \
            or getattr(definitions[-1].func, "__module__", None) != _FIXTURES_MODULE:
        return
    targets = metafunc.config.getoption(TARGET_OPTION) or ["fake"]
    metafunc.parametrize("registry", list(dict.fromkeys(targets)), indirect=True)


def pytest_runtest_setup(item: pytest.Item) -> None:
    names = [name for marker in item.iter_markers("requires_peer") for name in marker.args]
    if not names:
        return
    # user_properties travel from xdist workers to the controller with the report.
    item.user_properties.append((_PEERS_PROPERTY, ",".join(names)))
    from harness.peers.detect import require_peer  # noqa: PLC0415

    for name in names:
        require_peer(name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report shows what each registry it used saw."""
    report = yield
    if report.failed and USED_REGISTRIES in item.stash:
        registries: list[RegistryUnderTest] = item.stash[USED_REGISTRIES]
        for number, used in enumerate(registries, 1):
            report.sections.append((f"registry {number}: {used.target} {used.url}",
                                    used.failure_report()))
    return report


class PeerSummary:
    """Counts, per peer, the tests that ran against it; one per session (a ``pytester``
    run inside a test has its own), registered by :func:`pytest_configure`."""

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == _PEERS_PROPERTY:
                self.runs.update(str(value).split(","))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.runs:
            return
        terminalreporter.section("real peers exercised")
        for name, count in sorted(self.runs.items()):
            terminalreporter.write_line(f"{name}: {count} tests ran against it")
