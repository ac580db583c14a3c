"""Reports from results alone: statuses map to junit outcomes; html escapes and opens failures."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.client import Exchange
from conformance.report import load_results, render_html, terminal_table, write_reports
from conformance.results import CheckResult, RunResult, Status

EXCHANGE = Exchange("GET", "http://r.test/v2/a/tags/list", {"Authorization": "<masked>"}, "",
                    200, {"Content-Type": "application/json"}, '{"tags": ["<b>"]}').as_dict()


def sample() -> RunResult:
    checks = [CheckResult(f"c_{status.name.lower()}", "tags", f"rule <{status.name}>", status,
                          f"because {status.name}", [EXCHANGE]) for status in Status]
    return RunResult("r.test", checks, 1.5)


def test_junit_counts_each_status_as_its_outcome(tmp_path: Path) -> None:
    write_reports(tmp_path, [sample()])
    text = (tmp_path / "junit.xml").read_text()
    assert 'failures="2"' in text and 'errors="1"' in text and 'skipped="2"' in text
    assert text.count("<testcase") == len(Status)


def test_results_json_round_trips(tmp_path: Path) -> None:
    write_reports(tmp_path, [sample()])
    (run,) = load_results(tmp_path / "results.json")
    assert run == sample()
    assert json.loads((tmp_path / "results.json").read_text())["runs"][0]["target"] == "r.test"


def test_html_escapes_and_opens_what_did_not_pass() -> None:
    page = render_html([sample()])
    assert "<b>" not in page and "&lt;b&gt;" in page
    assert page.count("<details open>") == 4  # fail, error, expected failure, unexpected pass
    assert "rule &lt;FAIL&gt;" in page


def test_terminal_table_names_every_check_that_did_not_pass() -> None:
    lines = terminal_table([sample()])
    named = [line for line in lines if line.startswith("  ")]
    assert len(named) == 4
    assert lines[0].split() == ["group", "r.test", "(1.5s)"]
    assert " ".join(lines[1].split()) == (
        "tags 1 pass 1 fail 1 unsupported 1 error 1 expected-fail 1 unexpected-pass")
    assert any(line.startswith("  FAIL [r.test] tags/c_fail: rule <FAIL> -- because FAIL")
               for line in named)
