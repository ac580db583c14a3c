"""The pytest plugin (entry point ``pytest11``): fixtures, markers, assertion helpers.

Fixtures (see docs/pytest-plugin.md): ``fake_registry``, ``fake_registry_server``,
``make_fake_registry``, ``registry`` (once per ``--registry-target``), ``image_store``,
``builder``, ``random_image``. Helpers: :func:`assert_pushed`, :func:`assert_same_image`.

``@pytest.mark.requires_peer("skopeo", ...)`` skips a test when a real peer is missing (a
failure under ``REQUIRE_REAL_PEERS=1``); the terminal summary counts, per peer, the tests
that really ran against it, with the version the peer reports.
``@pytest.mark.registry_profile("ecr", **switches)`` makes the test's fakes answer like
that registry. ``--registry-username/-password/-token/-ca-file/-insecure`` say how to
reach ``url=`` targets, as ``python -m conformance`` spells them.

Loading the plugin must stay cheap (it loads in every pytest run): this module and
:mod:`.fixtures` import only pytest; the rest is imported when first used.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.pytest_plugin.fixtures import (
    ACCESS,
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
    from harness.peers.launchers import Access
    from harness.pytest_plugin.assertions import assert_pushed, assert_same_image
    from harness.pytest_plugin.registries import RegistryUnderTest

__all__ = ["assert_pushed", "assert_same_image", "builder", "fake_registry",
           "fake_registry_server", "image_store", "make_fake_registry", "random_image",
           "real_registries", "registry"]

_PEERS_PROPERTY = "requires_peer"
_FIXTURES_MODULE = "harness.pytest_plugin.fixtures"


_LAZY = {"assert_pushed", "assert_same_image"}
# How to reach url= targets: conformance's --username, --password, --token, --ca-file and
# --insecure, with the same meanings (and the same OCI_USERNAME/OCI_PASSWORD fallback).
USERNAME, PASSWORD, TOKEN = "--registry-username", "--registry-password", "--registry-token"
CA_FILE, INSECURE = "--registry-ca-file", "--registry-insecure"
ACCESS_OPTIONS = (USERNAME, PASSWORD, TOKEN, CA_FILE, INSECURE)


def __getattr__(name: str) -> Any:
    """The assertion helpers, imported on first use (they pull in the transports)."""
    if name in _LAZY:
        from harness.pytest_plugin import assertions  # noqa: PLC0415

        return getattr(assertions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("oci-harness")
    group.addoption(
        TARGET_OPTION, action="append", default=[], metavar="TARGET",
        help="run tests using the 'registry' fixture against TARGET: fake (default), "
             "distribution, distribution-container or url=URL; repeat for several")
    group.addoption(USERNAME, metavar="USER",
                    help="user for Basic or token auth on url= targets (else OCI_USERNAME)")
    group.addoption(PASSWORD, metavar="PASSWORD",
                    help="its password (else OCI_PASSWORD)")
    group.addoption(TOKEN, metavar="TOKEN",
                    help="a bearer token to send as is to url= targets")
    group.addoption(CA_FILE, metavar="PATH",
                    help="CA bundle to verify https:// url= targets with")
    group.addoption(INSECURE, action="store_true",
                    help="do not verify the TLS certificates of https:// url= targets")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires_peer(*names): needs these real peers (skopeo, docker-registry, ...)"
    )
    config.addinivalue_line(
        "markers", f"{PROFILE_MARKER}(name, **switches): the test's fake registries answer "
                   "like that registry (spec, distribution-2.8, ecr, quay, harbor, ...)"
    )
    config.pluginmanager.register(PeerSummary())
    _check_targets(config)


def _check_targets(config: pytest.Config) -> None:
    """A mistyped ``--registry-target``, or access options that cannot be used, are a
    usage error now, not an error in every test."""
    real = [spec for spec in config.getoption(TARGET_OPTION, default=[]) or []
            if spec != "fake"]
    given = [name for name in ACCESS_OPTIONS if config.getoption(name, default=None)]
    if not real and not given:
        return
    from harness.peers.launchers import URLLauncher  # noqa: PLC0415
    from harness.peers.targets import UnknownTargetError, launcher_for  # noqa: PLC0415
    from harness.util.errors import HarnessError  # noqa: PLC0415

    def check(spec: str) -> bool:
        """Whether *spec* is a url= target."""
        try:
            return isinstance(launcher_for(spec), URLLauncher)
        except UnknownTargetError as error:
            raise pytest.UsageError(f"{TARGET_OPTION}: {error}; or fake") from None
        except HarnessError as error:
            raise pytest.UsageError(f"{TARGET_OPTION} {spec}: {error}") from None

    urls = [spec for spec in real if check(spec)]
    if not urls:
        if given:
            raise pytest.UsageError(f"{', '.join(given)}: apply to url= targets only, and "
                                    f"none was given ({TARGET_OPTION} url=URL)")
        return
    try:
        config.stash[ACCESS] = {spec: _access(config, spec) for spec in urls}
    except HarnessError as error:
        raise pytest.UsageError(str(error)) from None


def _access(config: pytest.Config, spec: str) -> Access:
    """How to reach the ``url=`` target *spec*: the ``--registry-*`` options and the
    ``OCI_*`` variables, by the rules ``python -m conformance`` follows too. Nothing is
    asked on the terminal: pytest holds stdin, and xdist workers have none."""
    from harness.model.access import access_from  # noqa: PLC0415

    ca_file: str | None = config.getoption(CA_FILE)
    return access_from(spec.removeprefix("url="), username=config.getoption(USERNAME),
                       password=config.getoption(PASSWORD), token=config.getoption(TOKEN),
                       ca_file=Path(ca_file) if ca_file else None,
                       insecure=bool(config.getoption(INSECURE)), env=os.environ,
                       flag_prefix="--registry-", url_name=f"{TARGET_OPTION} {spec}")


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
    """A failed test's report shows what each registry it used saw. After the teardown's
    report nothing reads them: the item lets them go (pytest keeps every item until the
    session ends, and with them each test's fakes, blobs and transcripts)."""
    report = yield
    if report.failed and USED_REGISTRIES in item.stash:
        registries: list[RegistryUnderTest] = item.stash[USED_REGISTRIES]
        for number, used in enumerate(registries, 1):
            report.sections.append((f"registry {number}: {used.target} {used.url}",
                                    used.failure_report()))
    if call.when == "teardown" and USED_REGISTRIES in item.stash:
        del item.stash[USED_REGISTRIES]
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
        from harness.peers.detect import PEERS, version  # noqa: PLC0415

        terminalreporter.section("real peers exercised")
        for name, count in sorted(self.runs.items()):
            shown = version(name) if name in PEERS else ""
            terminalreporter.write_line(f"{name}: {count} tests ran against it"
                                        + (f" ({shown})" if shown else ""))
