"""``python -m conformance``: pick the targets, run the suite against each, report one matrix.

Each target is turned into the environment the suite reads (:mod:`conformance.config`)
and the pytest suite runs in this process once per target. Exit status: 0 when no OCI
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
from harness.util.errors import HarnessError

EXIT_OK, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2
DISTRIBUTION_TARGETS = ("distribution", "distribution-container", "distribution-native")
_SUITE_ENV = ("OCI_ROOT_URL", "OCI_NAMESPACE", "OCI_CROSSMOUNT_NAMESPACE", "OCI_USERNAME",
              "OCI_PASSWORD", config.ENV_TARGET, config.ENV_GROUPS, config.ENV_EXPECT,
              config.ENV_REPORT_DIR, config.ENV_TOKEN, config.ENV_CA_FILE,
              config.ENV_INSECURE, config.ENV_NAME, config.ENV_ISOLATE)


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
    return p


def parse_options(argv: Sequence[str], env: Mapping[str, str]) -> Options:
    """Turn arguments (and the OCI_* environment) into :class:`Options`."""
    args = parser().parse_args(argv)
    url = args.registry or env.get("OCI_ROOT_URL")
    registry = None
    if url:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"registry URL {url!r} must start with http:// or https://")
        if args.token and args.username:
            raise UsageError("give either --token or --username/--password, not both")
        from_env = config.Settings.from_env({**env, "OCI_ROOT_URL": url.rstrip("/")}).target
        assert from_env is not None
        given = {"namespace": args.namespace, "crossmount_namespace": args.crossmount_namespace,
                 "username": args.username, "password": args.password, "token": args.token,
                 "verify": str(args.ca_file) if args.ca_file else
                 (False if args.insecure else None)}
        registry = dataclasses.replace(
            from_env, **{key: value for key, value in given.items() if value is not None})
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
                   args.expect, config.is_true(env.get("OCI_DEBUG")), args.strict)


def target_env(target: Target) -> dict[str, str]:
    """The environment that points the suite at *target*."""
    env = {"OCI_ROOT_URL": target.url, "OCI_NAMESPACE": target.namespace,
           "OCI_CROSSMOUNT_NAMESPACE": target.crossmount_namespace,
           config.ENV_NAME: target.name}
    if target.username:
        env["OCI_USERNAME"] = target.username
    if target.password:
        env["OCI_PASSWORD"] = target.password
    if target.token:
        env[config.ENV_TOKEN] = target.token
    if isinstance(target.verify, str):
        env[config.ENV_CA_FILE] = target.verify
    elif not target.verify:
        env[config.ENV_INSECURE] = "1"
    if target.isolate:
        env[config.ENV_ISOLATE] = "1"
    return env


@contextlib.contextmanager
def started(name: str, options: Options) -> Iterator[dict[str, str]]:
    """Start (and afterwards stop) target *name*; yield the suite's environment for it."""
    if name.startswith("fake:"):
        yield {config.ENV_TARGET: name}
        return
    if name == "url":
        assert options.registry is not None
        check_reachable(options.registry)
        yield target_env(options.registry)
        return
    concrete = resolve_distribution(name)
    launcher: Launcher = (DistributionContainerLauncher(schema1=True, delete=True)
                          if concrete == "distribution-container"
                          else DistributionLauncher(schema1=True, delete=True))
    with launcher.start() as running:
        yield target_env(Target(url=running.url, name=concrete, isolate=True,
                                verify=running.verify))


def resolve_distribution(name: str) -> str:
    """``distribution`` means in a container when a Docker engine answers, else native."""
    if name != "distribution":
        return name
    return "distribution-container" if missing_reason("docker") is None \
        else "distribution-native"


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in _SUITE_ENV}
    for key in _SUITE_ENV:
        os.environ.pop(key, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_suite(env: Mapping[str, str], *, groups: Sequence[str] = config.GROUPS,
              keyword: str | None = None, workers: int | None = None,
              expect: Path | None = None, quiet: bool = True) -> RunResult:
    """Run the suite once, in this process, with the suite environment *env*."""
    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n")
        values = {**env, config.ENV_REPORT_DIR: tmp, config.ENV_GROUPS: ",".join(groups)}
        if expect is not None:
            values[config.ENV_EXPECT] = str(expect)
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
        with _environment(values), contextlib.redirect_stdout(output if quiet else sys.stdout):
            code = pytest.main(args)
        results = Path(tmp) / "results.json"
        if code == pytest.ExitCode.NO_TESTS_COLLECTED:
            raise UsageError(f"no check matches the selection (groups {', '.join(groups)}"
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
            with started(name, options) as suite_env:
                runs.append(run_suite(suite_env, groups=options.groups,
                                      keyword=options.keyword, workers=options.workers,
                                      expect=options.expect, quiet=not options.debug))
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
