"""Reports from results alone: statuses map to junit outcomes; html leads with the verdict,
lists failures first, links cells to details, escapes, and shows rules without markup."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.client import Exchange
from conformance.report import load_results, plain, render_html, terminal_table, write_reports
from conformance.results import CheckResult, RunResult, Status

EXCHANGE = Exchange("GET", "http://r.test/v2/a/tags/list", {"Authorization": "<masked>"}, "",
                    200, {"Content-Type": "application/json"}, '{"tags": ["<b>"]}').as_dict()


def sample() -> RunResult:
    checks = [CheckResult(f"c_{status.name.lower()}", "tags", f"rule <{status.name}>", status,
                          f"because {status.name}", [EXCHANGE], level="MUST",
                          citation='OCI distribution-spec v1.1, "Listing Tags"',
                          text="the ``tags`` MUST be sorted")
              for status in Status]
    checks.append(CheckResult("c_docker", "docker", "schema1 rule", Status.FAIL, "refused",
                              level="MUST", citation="Docker registry API / compatibility"))
    return RunResult("r.test", checks, 1.5, url="http://r.test", started="2026-01-01T00:00:00",
                     version_headers={"Server": "reg/1.2"}, suite_version="0.1.0")


def test_junit_counts_each_status_as_its_outcome(tmp_path: Path) -> None:
    write_reports(tmp_path, [sample()])
    text = (tmp_path / "junit.xml").read_text()
    # fail + unexpected pass; the docker failure is skipped: never an OCI failure
    assert 'failures="2"' in text and 'errors="1"' in text and 'skipped="3"' in text
    assert text.count("<testcase") == len(Status) + 1
    assert '<property name="level" value="MUST" />' in text
    assert '<system-out>warn: because WARN</system-out>' in text


def test_results_json_round_trips(tmp_path: Path) -> None:
    write_reports(tmp_path, [sample()])
    (run,) = load_results(tmp_path / "results.json")
    assert run == sample()
    data = json.loads((tmp_path / "results.json").read_text())["runs"][0]
    assert (data["target"], data["checks"][0]["level"]) == ("r.test", "MUST")


def test_html_opens_with_the_verdict_and_lists_failures_first() -> None:
    page = render_html([sample()])
    assert page.index("<b>Verdict:</b> 3 OCI check(s) did not pass; Docker compatibility: "
                      "1 failure(s), not counted") < page.index("<h2>All checks</h2>")
    assert "<li>Server: reg/1.2</li>" in page and "date: 2026-01-01T00:00:00" in page
    assert "<tr><td>MUST</td><td>1 pass 1 fail 1 warn" in page
    rows = page[page.index("<h2>All checks</h2>"):].split("<tr><td>")[1:]
    assert [row.split("</td><td>")[1] for row in rows[:3]] == ["c_fail", "c_docker", "c_error"]
    assert '<a href="#r0-c_fail">fail</a>' in page and '<details id="r0-c_fail" open>' in page


def test_html_escapes_and_opens_what_did_not_pass() -> None:
    page = render_html([sample()])
    assert "<b>" not in page.replace("<b>Verdict:</b>", "").replace("<b>MUST</b>", "")
    assert "&lt;b&gt;" in page
    # fail, warn, error, expected failure, unexpected pass, and the docker failure
    assert page.count(" open>") == 6
    assert "rule &lt;FAIL&gt;" in page and "&ldquo;the tags MUST be sorted&rdquo;" in page


def test_rule_text_loses_its_markup() -> None:
    assert plain("``n`` and :func:`foo` stay readable") == "n and foo stay readable"


def test_terminal_table_names_every_check_that_did_not_pass() -> None:
    lines = terminal_table([sample()])
    named = [line for line in lines if line.startswith("  ")]
    assert len(named) == len(Status)  # all but the pass, and the docker failure
    assert lines[0].split() == ["group", "r.test", "(1.5s)"]
    assert " ".join(lines[1].split()) == ("tags 1 pass 1 fail 1 warn 1 unsupported 1 error "
                                          "1 expected-fail 1 unexpected-pass")
    assert named[0] == "  FAIL MUST [r.test] tags/c_fail: rule <FAIL> -- because FAIL"
    assert "  FAIL MUST [r.test] docker/c_docker (docker compatibility, not counted): " \
           "schema1 rule -- refused" in named
    assert any(line.startswith("  WARN MUST [r.test] tags/c_warn") for line in named)
    assert any(line.startswith("  UNSUPPORTED MUST [r.test] tags/c_unsupported")
               for line in named)
    assert lines[-1] == ("verdict [r.test]: 3 OCI check(s) did not pass; Docker compatibility: "
                         "1 failure(s), not counted")
