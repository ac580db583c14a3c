"""``python -m conformance``: pick the targets, run the suite against each, report one matrix.

Each target is turned into :class:`~conformance.config.Settings`, handed to the pytest
suite (run in this process once per target) as a plugin object. Exit status: 0 when no OCI
check failed (a broken MUST) or errored (warnings, unsupported features, expected failures
and the docker group do not count; ``--strict`` counts warnings), 1 otherwise, 2 when the
arguments are wrong, select no check, or a registry cannot be reached.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from conformance import config
from conformance.client import Target
from conformance.reach import check_reachable
from conformance.report import load_results, terminal_table, write_reports
from conformance.results import RunResult, load_deviations
from fakeregistry.profiles import get_profile
from harness.peers.container import DistributionContainerLauncher
from harness.peers.detect import missing_reason
from harness.peers.launchers import DistributionLauncher, Launcher
from harness.util.cli import ask_password, is_true
from harness.util.errors import HarnessError

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2
DISTRIBUTION_TARGETS = ("distribution", "distribution-container", "distribution-native")
class UsageError(HarnessError):
    """The command line or a target cannot be used; the runner exits 2 with this line."""


@dataclass(frozen=True)
class Options:
    """What one invocation asks for, after parsing."""

    targets: tuple[str, ...]  # "url", DISTRIBUTION_TARGETS or "fake:NAME"
    registry: Target | None
    groups: tuple[str, ...]
    keyword: str | None = None
    workers: int | None = None
    report_dir: Path | None = None
    expect: Path | None = None
    debug: bool = False  # show the suite's own pytest output (OCI_DEBUG)
    strict: bool = False  # a missed SHOULD (warn) fails the run too
    keep: bool = False  # leave what the checks pushed on a --registry target


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one line (exit 2) instead of usage text."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see python -m conformance --help)")


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m conformance",
        description="Check an OCI distribution registry against the spec and what buildah "
                    "and skopeo need. With no target, runs against the embedded fake registry.")
    p.add_argument("--registry", metavar="URL", help="a registry to check (else OCI_ROOT_URL)")
    p.add_argument("--username", help="user for Basic or token auth (OCI_USERNAME)")
    p.add_argument("--password", help="password (OCI_PASSWORD)")
    p.add_argument("--token", help="a bearer token to send as is")
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    p.add_argument("--ca-file", type=Path, help="CA bundle to verify the registry with")
    p.add_argument("--namespace", help="repository to use (OCI_NAMESPACE)")
    p.add_argument("--crossmount-namespace", help="second repository, the mount source "
                   "(OCI_CROSSMOUNT_NAMESPACE)")
    p.add_argument("--target", action="append", default=[],
                   help="distribution (in a container if a Docker engine answers, else native) "
                        "| distribution-container | distribution-native | fake:PROFILE "
                        "(repeatable)")
    p.add_argument("-k", dest="keyword", help="only checks matching this pytest expression")
    p.add_argument("--group", action="append", default=[], choices=config.GROUPS,
                   help="only this group (repeatable)")
    p.add_argument("-n", dest="workers", type=int, help="parallel workers (pytest-xdist)")
    p.add_argument("--report-dir", type=Path,
                   help="write junit.xml, report.html, results.json (else OCI_REPORT_DIR)")
    p.add_argument("--expect", type=Path, help="known-deviations file: listed failures are "
                   "expected failures; a listed check that passes is reported")
    p.add_argument("--strict", action="store_true",
                   help="a missed SHOULD (warn) fails the run too (exit 1)")
    p.add_argument("--keep", action="store_true",
                   help="leave the blobs, manifests and tags the checks push (by default "
                        "each check deletes them from a --registry target afterwards)")
    return p


def parse_options(argv: Sequence[str], env: Mapping[str, str]) -> Options:
    """Turn arguments (and the OCI_* environment) into :class:`Options`."""
    args = parser().parse_args(argv)
    registry = config.target_from(
        env, url=args.registry, username=args.username, password=args.password,
        token=args.token, ca_file=args.ca_file, insecure=args.insecure,
        namespace=args.namespace, crossmount_namespace=args.crossmount_namespace,
        ask_password=ask_password)
    for target in args.target:
        if target.startswith("fake:"):
            get_profile(target.removeprefix("fake:"))  # an unknown profile: a one-line error
        elif target not in DISTRIBUTION_TARGETS:
            raise UsageError(f"unknown target {target!r}: use {', '.join(DISTRIBUTION_TARGETS)} "
                             "or fake:PROFILE")
    targets = tuple(args.target) + (("url",) if registry else ())
    if args.expect is not None:
        load_deviations(args.expect)  # a bad file is a usage error, found before any run
    if args.workers is not None and args.workers < 1:
        raise UsageError("-n needs a positive number of workers")
    groups = tuple(args.group) or config.selected_groups(env)
    return Options(targets or ("fake:spec",), registry, groups, args.keyword, args.workers,
                   args.report_dir or (Path(env["OCI_REPORT_DIR"])
                                       if env.get("OCI_REPORT_DIR") else None),
                   args.expect, is_true(env.get("OCI_DEBUG")), args.strict, args.keep)


@contextlib.contextmanager
def started(name: str, options: Options) -> Iterator[config.Settings]:
    """Start (and afterwards stop) target *name*; yield the suite's settings for it."""
    chosen = config.Settings(groups=options.groups, expect=options.expect, keep=options.keep)
    if name.startswith("fake:"):
        yield dataclasses.replace(chosen, fake_profile=name.removeprefix("fake:"))
        return
    if name == "url":
        assert options.registry is not None
        check_reachable(options.registry)
        yield dataclasses.replace(chosen, target=options.registry)
        return
    concrete = resolve_distribution(name)
    launcher: Launcher = (DistributionContainerLauncher(schema1=True, delete=True)
                          if concrete == "distribution-container"
                          else DistributionLauncher(schema1=True, delete=True))
    with launcher.start() as running:
        yield dataclasses.replace(chosen, target=Target(running, name=concrete, isolate=True))


def resolve_distribution(name: str) -> str:
    """``distribution`` means in a container when a Docker engine answers, else native."""
    if name != "distribution":
        return name
    return "distribution-container" if missing_reason("docker") is None \
        else "distribution-native"


def run_suite(settings: config.Settings, *, keyword: str | None = None,
              workers: int | None = None, quiet: bool = True) -> RunResult:
    """Run the suite once, in this process, with *settings* (handed to pytest as a plugin
    object; its report directory is replaced by a temporary one the result is read from)."""
    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n")
        given = config.SettingsPlugin(dataclasses.replace(settings, report_dir=Path(tmp)))
        # unraisableexception runs gc.collect() repeatedly at exit: slow in a big process.
        args = ["-c", str(ini), "--rootdir", tmp, "-p", "no:cacheprovider",
                "-p", "no:unraisableexception", "-p", "no:benchmark",
                "-p", "conformance.collector", "--pyargs",
                "conformance.checks", "--tb=short", "-q"]
        if keyword:
            args += ["-k", keyword]
        if workers:
            args += ["-n", str(workers)]
        output = io.StringIO()
        with contextlib.redirect_stdout(output if quiet else sys.stdout):
            code = pytest.main(args, plugins=[given])
        results = Path(tmp) / "results.json"
        if code == pytest.ExitCode.NO_TESTS_COLLECTED:
            raise UsageError(f"no check matches the selection (groups "
                             f"{', '.join(settings.groups)}"
                             + (f", -k {keyword!r}" if keyword else "") + ")")
        if code not in {0, 1} or not results.exists():
            raise UsageError(f"the suite could not run (pytest exit status {int(code)}): "
                             f"{output.getvalue().strip()[-300:]}")
        (run,) = load_results(results)
        return run


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """The command line; returns the exit status."""
    try:
        options = parse_options(sys.argv[1:] if argv is None else argv,
                                os.environ if env is None else env)
        runs = []
        for name in options.targets:
            with started(name, options) as settings:
                runs.append(run_suite(settings, keyword=options.keyword,
                                      workers=options.workers, quiet=not options.debug))
    except HarnessError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    for line in terminal_table(runs):
        print(line)
    if options.report_dir is not None:
        write_reports(options.report_dir, runs)
        print(f"reports: {options.report_dir / 'report.html'}, results.json, junit.xml")
    else:
        print("reports: none written (give --report-dir DIR for report.html, results.json, "
              "junit.xml)")
    bad = sorted(f"{run.target}:{check.check} ({check.status})" for run in runs
                 for check in run.failing(strict=options.strict))
    if bad:  # one line on stderr too, for logs that keep only that
        print(f"conformance: {len(bad)} check(s) did not pass: {', '.join(bad)}",
              file=sys.stderr)
    return EXIT_OK if not bad else EXIT_FAILED
