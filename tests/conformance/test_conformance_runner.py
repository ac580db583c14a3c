"""The command line: targets, selection, exit statuses, reports, --expect, OCI_* settings."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import requests
from conformance_helpers import not_passed, run_against, statuses

import fakeregistry
from conformance import config
from conformance.report import load_results
from conformance.results import Status
from conformance.runner import main, run_suite
from fakeregistry import FaultRule
from fakeregistry.auth import AuthConfig
from fakeregistry.profiles import PROFILES
from harness.model.access import Credentials
from harness.peers.launchers import DistributionLauncher
from harness.util.net import free_port


def test_no_arguments_checks_the_embedded_fake_and_exits_0(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main([], env={}) == 0
    out = capsys.readouterr().out
    header, *rows, verdict, reports = out.splitlines()
    named = [row for row in rows if row.startswith("  ")]
    rows = rows[:len(rows) - len(named)]
    assert header.split()[:2] == ["group", "fake:spec"]
    assert [row.split()[0] for row in rows] == [*config.GROUPS, "all"]
    assert all(row.split()[2] == "pass" and len(row.split()) == 3 for row in rows
               if row.split()[0] not in {"auth", "all"})
    # the embedded fake asks for no credentials: each auth check says so
    assert len(named) == 6 and all(line.startswith("  UNSUPPORTED ") and "auth/" in line
                                   for line in named)
    assert verdict == "verdict [fake:spec]: no MUST of the OCI distribution spec broken"
    assert reports.startswith("reports: none written (give --report-dir DIR")


def test_failing_checks_exit_1_and_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--target", "fake:distribution-2.8", "--group", "tags"], env={}) == 1
    out, err = capsys.readouterr()
    assert err == ("conformance: 3 check(s) did not pass: "
                   "fake:distribution-2.8:tag_list_last (fail), "
                   "fake:distribution-2.8:tag_list_n (fail), "
                   "fake:distribution-2.8:tag_list_sorted (fail)\n")
    assert ("FAIL MUST [fake:distribution-2.8] tags/tag_list_sorted: The tag list is in lexical "
            "(case-insensitive) or ASCII order.") in out
    assert ("UNSUPPORTED MAY [fake:distribution-2.8] tags/tag_list_link: A Link header on a "
            "partial page (optional) names the next page") in out
    assert out.splitlines()[-1].startswith("reports: ")


@pytest.mark.parametrize("argv", [
    ["--target", "nonsense"], ["--target", "fake:nope"], ["--group", "nope"], ["-n", "0"],
    ["--registry", "ftp://example"], ["--expect", "/nonexistent/deviations.json"],
    ["--registry", "http://127.0.0.1:1", "--token", "t", "--username", "u"],
])
def test_bad_arguments_exit_2_with_one_line(argv: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv, env={}) == 2
    err = capsys.readouterr().err
    assert err.startswith("conformance: ") and err.count("\n") == 1


def test_unreachable_registry_exits_2_without_traceback() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run([sys.executable, "-m", "conformance", "--registry", url],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr == (f"conformance: cannot reach registry {url}: nothing listening on "
                           f"{url.removeprefix('http://')}: is the registry running on that "
                           "port?\n")
    assert "Traceback" not in done.stdout + done.stderr


def test_wrong_scheme_and_unknown_host_say_what_to_do(
        capsys: pytest.CaptureFixture[str]) -> None:
    with fakeregistry.serve(fakeregistry.Registry(), tls=True) as tls:
        plain = tls.url.replace("https://", "http://")
        assert main(["--registry", plain, "-k", "ping"], env={}) == 2
        where = plain.removeprefix("http://")
        assert capsys.readouterr().err == (
            f"conformance: registry {plain}: {where} speaks TLS (it answered plain HTTP with "
            f"400): use https://{where}\n")
    with fakeregistry.serve(fakeregistry.Registry()) as server:
        secure = server.url.replace("http://", "https://")
        assert main(["--registry", secure, "-k", "ping"], env={}) == 2
        where = secure.removeprefix("https://")
        assert capsys.readouterr().err == (
            f"conformance: cannot reach registry {secure}: server gave HTTP response to HTTPS "
            f"client: {where} speaks plain HTTP, use http://{where}\n")
    assert main(["--registry", "http://no-such-host.invalid:5000", "-k", "ping"], env={}) == 2
    assert capsys.readouterr().err == (
        "conformance: cannot reach registry http://no-such-host.invalid:5000: cannot resolve "
        "host no-such-host.invalid: check the URL\n")


def serve_html(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    body = b"<!doctype html><html><body>Welcome</body></html>"
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]


def test_a_web_server_is_not_a_registry(capsys: pytest.CaptureFixture[str]) -> None:
    """An HTML 200 to everything: one line and exit 2 at once, not 90 checks of errors."""
    registry = fakeregistry.Registry()
    registry.wsgi_app = serve_html  # type: ignore[method-assign]
    with fakeregistry.inprocess(registry, "http://web.test") as url:
        assert main(["--registry", url], env={}) == 2
    assert capsys.readouterr().err == (
        f"conformance: registry {url}: not a registry: GET /v2/ answered 200 with an HTML "
        "page (a web server, not the OCI distribution API); check the URL\n")


def test_missing_credentials_name_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    registry = fakeregistry.Registry(auth=AuthConfig.with_passwords("basic", {"a": "b"}))
    with fakeregistry.inprocess(registry, "http://auth.test") as url:
        assert main(["--registry", url], env={}) == 2
    assert capsys.readouterr().err == (
        f"conformance: registry {url}: the registry answered 401 on /v2/: it needs "
        "credentials, give --username/--password or --token\n")


def test_reports_hold_every_check_with_level_citation_status_and_exchange(
        tmp_path: Path) -> None:
    assert main(["--target", "fake:spec", "--target", "fake:distribution-2.8", "--report-dir",
                 str(tmp_path)], env={}) == 1
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert [r["target"] for r in runs] == ["fake:spec", "fake:distribution-2.8"]
    old = {c["check"]: c for c in runs[1]["checks"]}
    sorted_check = old["tag_list_sorted"]
    assert (sorted_check["status"], sorted_check["level"]) == ("fail", "MUST")
    assert sorted_check["citation"] == 'OCI distribution-spec v1.1, "Listing Tags"'
    assert "MUST be in lexical order" in sorted_check["text"]
    assert (old["manifest_oversize"]["status"], old["manifest_oversize"]["level"]) == (
        "warn", "SHOULD")
    assert old["manifest_oversize"]["exchanges"][-1]["status"] == 400
    assert old["manifest_push[v2s1]"]["group"] == "docker"
    assert old["manifest_push[v2s1]"]["citation"].startswith(
        "Docker registry API / compatibility")
    assert runs[1]["version_headers"] == {"Docker-Distribution-API-Version": "registry/2.0"}
    failed = sum(c["status"] == "fail" for c in old.values())
    suites = ET.parse(tmp_path / "junit.xml").getroot().findall("testsuite")
    assert [s.get("failures") for s in suites] == ["0", str(failed)]
    assert len(suites[1].findall("testcase")) == len(old)
    case = next(c for c in suites[1].iter("testcase") if c.get("name") == "tag_list_sorted")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["level"] == "MUST" and props["citation"] == sorted_check["citation"]
    html = (tmp_path / "report.html").read_text()
    assert "<b>Verdict:</b> no MUST of the OCI distribution spec broken" in html
    assert f"<b>Verdict:</b> {failed} OCI check(s) did not pass" in html
    for fact in (f"date: {runs[1]['started']}", f"suite version: {runs[1]['suite_version']}",
                 "target: (in process)", "Docker-Distribution-API-Version: registry/2.0"):
        assert fact in html, fact
    matrix = html[html.index("<h2>All checks</h2>"):]
    first_row = matrix[matrix.index("<tr><td>"):]
    assert first_row.startswith("<tr><td>management</td><td>delete_tag</td><td>MUST</td>")
    assert '<a href="#r1-tag_list_sorted">fail</a>' in html
    assert '<details id="r1-tag_list_sorted" open>' in html
    assert "``" not in html


def test_strict_fails_a_run_with_warnings_and_docker_failures_never_count(
        tmp_path: Path) -> None:
    registry = fakeregistry.Registry(profile="quay")
    with fakeregistry.inprocess(registry, "http://strict.test") as url:
        argv = ["--registry", url, "--group", "push", "-k", "mount_without_from"]
        assert main(argv, env={}) == 0  # a missed SHOULD: a warning
        assert main([*argv, "--strict"], env={}) == 1
    broken = fakeregistry.Registry()
    broken.faults.add(FaultRule(method="PUT", path="/v2/*/manifests/*", status=400,
                                code="MANIFEST_INVALID"))
    with fakeregistry.inprocess(broken, "http://docker.test") as url:
        argv = ["--registry", url, "-k", "manifest_push and v2s2", "--report-dir",
                str(tmp_path)]
        assert main(argv, env={}) == 0  # only a Docker compatibility check failed
    (run,) = load_results(tmp_path / "results.json")
    assert [(c.check, c.group, c.status) for c in run.checks] == [
        ("manifest_push[v2s2]", "docker", Status.FAIL)]


def test_a_selection_of_no_check_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-k", "no_such_check"], env={}) == 2
    assert capsys.readouterr().err == ("conformance: no check matches the selection (groups "
                                       f"{', '.join(config.GROUPS)}, -k 'no_such_check')\n")


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_whole_suite_passes_through_auth_and_never_reports_credentials(
        tmp_path: Path, mode: str) -> None:
    auth = AuthConfig.with_passwords("token" if mode == "token" else "basic",
                                     {"alice": "s3cret-pw"})
    with fakeregistry.inprocess(fakeregistry.Registry(auth=auth), f"http://{mode}.test") as url:
        code = main(["--registry", url, "--username", "alice", "--password", "s3cret-pw",
                     "--report-dir", str(tmp_path)], env={})
    assert code == 0
    text = "".join(p.read_text() for p in tmp_path.iterdir())
    assert "s3cret-pw" not in text
    assert "<masked>" in text


def echo_request_headers(registry: fakeregistry.Registry) -> None:
    """Make every 4xx answer of *registry* echo the request's headers in its body, as some
    registries' error pages do."""
    inner = registry.wsgi_app

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            if status.startswith("4"):
                echoed = {k: str(v) for k, v in environ.items() if k.startswith("HTTP_")}
                body = json.dumps({"errors": [{"code": "DENIED", "message": "echo",
                                               "detail": echoed}]}).encode()
                bodies.append(body)
                headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
                headers.append(("Content-Length", str(len(body))))
            return start_response(status, headers, *rest)

        bodies: list[bytes] = []
        answer = b"".join(inner(environ, start))  # type: ignore[arg-type]
        return [bodies[0] if bodies else answer]

    registry.wsgi_app = app  # type: ignore[method-assign]


@pytest.mark.parametrize("mode", ["basic", "token"])
def test_credentials_echoed_in_bodies_are_masked_in_every_report(
        tmp_path: Path, mode: str) -> None:
    password = "SECRETPW123"
    registry = fakeregistry.Registry(auth=AuthConfig.with_passwords(mode, {"u": password}))
    echo_request_headers(registry)
    with fakeregistry.inprocess(registry, f"http://echo-{mode}.test") as url:
        main(["--registry", url, "--username", "u", "--password", password, "--group", "pull",
              "--group", "tags", "--report-dir", str(tmp_path)], env={})
    text = "".join(p.read_text() for p in tmp_path.iterdir())
    assert "HTTP_AUTHORIZATION" in text  # the bodies did echo the request headers
    basic = base64.b64encode(f"u:{password}".encode()).decode()
    for secret in (password, basic, "Bearer ey"):
        assert secret not in text, secret
    assert text.count("<masked>") > 10


def test_wrong_credentials_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    auth = AuthConfig.with_passwords("basic", {"alice": "right"})
    with fakeregistry.inprocess(fakeregistry.Registry(auth=auth), "http://basic.test") as url:
        code = main(["--registry", url, "--username", "alice", "--password", "wrong"], env={})
    assert code == 2
    assert capsys.readouterr().err == (
        f"conformance: registry {url}: the registry refused the credentials (401 on /v2/): "
        "check --username/--password or --token\n")


def test_expected_failure_that_passes_is_reported(tmp_path: Path) -> None:
    listed = tmp_path / "known.json"
    listed.write_text(json.dumps({"target": "x", "deviations": [
        {"check": "tag_list_sorted", "rule": "sorted", "observed": "unsorted"},
        {"check": "ping", "rule": "200", "observed": "claimed broken"}]}))
    run = run_against(fakeregistry.Registry(profile="distribution-2.8"), expect=listed)
    found = {c.check: c.status for c in run.checks}
    assert found["tag_list_sorted"] == Status.EXPECTED_FAILURE
    assert found["ping"] == Status.UNEXPECTED_PASS
    assert found["tag_list_n"] == Status.FAIL
    assert not run.ok


def test_keyword_and_group_select_checks() -> None:
    registry = fakeregistry.Registry()
    by_group = run_against(registry, groups=["referrers"])
    assert {c.group for c in by_group.checks} == {"referrers"}
    by_keyword = run_against(registry, keyword="tag_list_n or ping")
    assert sorted(c.check for c in by_keyword.checks) == ["ping", "tag_list_n"]


def test_oci_environment_selects_target_and_groups() -> None:
    settings = config.Settings.from_env({
        "OCI_ROOT_URL": "https://r.example", "OCI_NAMESPACE": "team/app",
        "OCI_CROSSMOUNT_NAMESPACE": "team/base", "OCI_USERNAME": "u", "OCI_PASSWORD": "p",
        "OCI_TEST_PUSH": "1", "OCI_TEST_CONTENT_DISCOVERY": "true"})
    assert settings.target is not None
    assert (settings.target.access.url, settings.target.namespace,
            settings.target.crossmount_namespace) == ("https://r.example", "team/app", "team/base")
    assert settings.target.access.credentials == Credentials("u", "p")
    assert settings.groups == ("push", "tags", "referrers")
    assert config.Settings.from_env({}).groups == config.GROUPS


def test_parallel_run_gives_the_same_results(tmp_path: Path) -> None:
    serial = run_against(fakeregistry.Registry(profile="quay"), groups=["push", "tags"])
    assert main(["--target", "fake:quay", "-n", "2", "--group", "push", "--group", "tags",
                 "--report-dir", str(tmp_path)], env={}) == 0
    (parallel,) = load_results(tmp_path / "results.json")
    assert statuses(parallel) == statuses(serial)
    assert not_passed(parallel) == {"mount_without_from": Status.WARN}


def test_a_given_token_is_sent_and_never_reported(tmp_path: Path) -> None:
    auth = AuthConfig.with_passwords("token", {"bob": "pw"})
    with fakeregistry.inprocess(fakeregistry.Registry(auth=auth), "http://tok.test") as url:
        reply = requests.get(f"{url}/token", auth=("bob", "pw"), timeout=5, params={
            "service": "fakeregistry", "scope": "repository:conformance/test:pull,push"})
        token = reply.json()["token"]
        code = main(["--registry", url, "--token", token, "--group", "pull",
                     "--report-dir", str(tmp_path)], env={})
    assert code == 0
    assert token not in "".join(p.read_text() for p in tmp_path.iterdir())


def test_plain_pytest_runs_the_suite() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance", "-q", "-p", "no:cacheprovider",
         "-k", "ping or tag_list_n or (manifest_push and not digest)"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, config.ENV_TARGET: "fake:distribution-2.8"})
    assert done.returncode == 1, done.stdout[-2000:]
    assert "FAIL MUST [fake:distribution-2.8] tags/tag_list_n" in done.stdout
    assert "4 passed" in done.stdout and "1 failed" in done.stdout


def test_tls_registry_needs_its_ca_or_insecure(capsys: pytest.CaptureFixture[str]) -> None:
    with fakeregistry.serve(fakeregistry.Registry(), tls=True) as server:
        base = ["--registry", server.url, "--group", "pull", "-k", "ping or blob_get"]
        assert main(base, env={}) == 2
        assert capsys.readouterr().err == (
            f"conformance: cannot reach registry {server.url}: certificate signed by unknown "
            "authority: use --ca-file FILE (the CA that signed it) or --insecure\n")
        assert main([*base, "--ca-file", str(server.ca_file)], env={}) == 0
        assert main([*base, "--insecure"], env={}) == 0


def test_oci_report_dir_and_debug_are_honoured(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-k", "ping"], env={"OCI_REPORT_DIR": str(tmp_path), "OCI_DEBUG": "1"}) == 0
    assert (tmp_path / "results.json").exists()
    assert "1 passed" in capsys.readouterr().out  # the suite's own pytest summary


class RecordingEnviron(dict[str, str]):
    """os.environ stand-in that remembers every variable written to it."""

    written: list[str]

    def __setitem__(self, key: str, value: str) -> None:
        self.written.append(key)
        super().__setitem__(key, value)


def test_settings_reach_the_suite_and_its_workers_without_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    environ = RecordingEnviron(os.environ)
    environ.written = []
    environ["OCI_ROOT_URL"] = "http://127.0.0.1:1"  # plain pytest would use this: the runner not
    monkeypatch.setattr(os, "environ", environ)
    environ.written.clear()
    run = run_against(fakeregistry.Registry(profile="quay"), groups=["push"])
    assert run.target == "fake under test"
    assert not_passed(run) == {"mount_without_from": Status.WARN}
    # xdist workers start the fake themselves: the profile reaches them through workerinput
    workers = run_suite(config.Settings(fake_profile="quay", groups=("push",)), workers=2)
    assert (workers.target, not_passed(workers)) == (
        "fake:quay", {"mount_without_from": Status.WARN})
    assert [key for key in environ.written if key.startswith(("OCI_", "CONFORMANCE_"))] == []


@pytest.mark.requires_peer("docker-registry")
def test_distribution_over_tls_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    """The real registry's answers to the wrong scheme and to an unknown CA, in words."""
    with DistributionLauncher(tls=True).start() as registry:
        where = registry.url.removeprefix("https://")
        assert main(["--registry", f"http://{where}", "-k", "ping"], env={}) == 2
        assert capsys.readouterr().err == (
            f"conformance: registry http://{where}: {where} speaks TLS (it answered plain "
            f"HTTP with 400): use https://{where}\n")
        assert main(["--registry", registry.url, "-k", "ping"], env={}) == 2
        assert "certificate signed by unknown authority: use --ca-file" in \
            capsys.readouterr().err
        assert main(["--registry", registry.url, "-k", "ping", "--ca-file",
                     str(registry.verify)], env={}) == 0


def stored(registry: fakeregistry.Registry) -> dict[str, int]:
    """How many tags, manifests and blob links the fake's repositories still hold."""
    repos = registry.state.repositories.values()
    return {"tags": sum(len(r.tags) for r in repos),
            "manifests": sum(len(r.manifests) for r in repos),
            "blobs": sum(len(r.blobs) for r in repos)}


def test_a_registry_given_by_url_is_left_as_found(capsys: pytest.CaptureFixture[str]) -> None:
    registry = fakeregistry.Registry()
    with fakeregistry.inprocess(registry, "http://sweep.test") as url:
        assert main(["--registry", url, "--group", "pull", "--group", "push",
                     "--group", "manifests", "--group", "tags", "--group", "e2e"],
                    env={}) == 0
    assert stored(registry) == {"tags": 0, "manifests": 0, "blobs": 0}
    out = capsys.readouterr().out
    assert f"cleanup [{url}]: deleted everything the checks pushed" in out.splitlines()


def test_keep_leaves_the_content_and_refused_deletions_are_named(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    registry = fakeregistry.Registry()
    with fakeregistry.inprocess(registry, "http://keep.test") as url:
        assert main(["--registry", url, "-k", "manifest_push_by_digest", "--keep"],
                    env={}) == 0
    assert stored(registry)["manifests"] == 1
    assert f"cleanup [{url}]: kept what the checks pushed (--keep)" in capsys.readouterr().out
    undeletable = fakeregistry.Registry(profile=PROFILES["spec"].replace(delete=False))
    with fakeregistry.inprocess(undeletable, "http://nodelete.test") as url:
        assert main(["--registry", url, "-k", "manifest_push_by_digest", "--report-dir",
                     str(tmp_path)], env={}) == 0
    (run,) = load_results(tmp_path / "results.json")
    assert run.cleanup == "swept" and len(run.leftovers) == 3  # the manifest, config, layer
    assert all(item.endswith(" (405)") for item in run.leftovers)
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("cleanup"))
    assert line.startswith(f"cleanup [{url}]: could not delete 3 object(s) the checks pushed: "
                           "conformance/test/manifests/sha256:")
