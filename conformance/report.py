"""Reports of one or more runs: terminal table, results.json, junit.xml and report.html.

Several runs (one per target) make a matrix: one row per check, one column per target.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from conformance.config import GROUPS
from conformance.results import BAD, CheckResult, RunResult, Status

_SHORT = {Status.PASS: "pass", Status.FAIL: "fail", Status.UNSUPPORTED: "unsupported",
          Status.ERROR: "error", Status.EXPECTED_FAILURE: "expected-fail",
          Status.UNEXPECTED_PASS: "unexpected-pass"}


def _cell(checks: list[CheckResult]) -> str:
    counts = Counter(c.status for c in checks)
    return " ".join(f"{counts[s]} {name}" for s, name in _SHORT.items() if counts[s]) or "-"


def terminal_table(runs: list[RunResult]) -> list[str]:
    """One table, a row per group and a column per target (status counts), then every check
    that did not pass or was an expected failure, by target, with its rule and reason."""
    header = ["group", *(f"{r.target} ({r.duration:.1f}s)" for r in runs)]
    rows = [header]
    for group in (*GROUPS, "all"):
        cells = [_cell([c for c in r.checks if group in {"all", c.group}]) for r in runs]
        if any(cell != "-" for cell in cells):
            rows.append([group, *cells])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    for run in runs:
        for check in sorted(run.by_status(*BAD, Status.EXPECTED_FAILURE),
                            key=lambda c: (c.group, c.check)):
            reason = check.reason.splitlines()[0] if check.reason else ""
            lines.append(f"  {str(check.status).upper()} [{run.target}] {check.group}/"
                         f"{check.check}: {check.rule} -- {reason}")
    return lines


def write_reports(directory: Path, runs: list[RunResult]) -> None:
    """Write results.json, junit.xml and report.html into *directory*."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.json").write_text(
        json.dumps({"runs": [r.as_dict() for r in runs]}, indent=1))
    junit(runs).write(directory / "junit.xml", encoding="utf-8", xml_declaration=True)
    (directory / "report.html").write_text(render_html(runs))


def load_results(path: Path) -> list[RunResult]:
    """Read the runs back from a results.json."""
    return [RunResult.from_dict(r) for r in json.loads(path.read_text())["runs"]]


def junit(runs: list[RunResult]) -> ET.ElementTree[ET.Element]:
    """One testsuite per target; unsupported and expected failures are skipped cases."""
    root = ET.Element("testsuites")
    for run in runs:
        suite = ET.SubElement(root, "testsuite", name=f"conformance {run.target}",
                              tests=str(len(run.checks)), time=f"{run.duration:.3f}")
        counts = Counter(c.status for c in run.checks)
        suite.set("failures", str(counts[Status.FAIL] + counts[Status.UNEXPECTED_PASS]))
        suite.set("errors", str(counts[Status.ERROR]))
        suite.set("skipped", str(counts[Status.UNSUPPORTED] + counts[Status.EXPECTED_FAILURE]))
        for check in run.checks:
            case = ET.SubElement(suite, "testcase", classname=f"conformance.{check.group}",
                                 name=check.check, time=f"{check.duration:.3f}")
            kind = {Status.FAIL: "failure", Status.UNEXPECTED_PASS: "failure",
                    Status.ERROR: "error", Status.UNSUPPORTED: "skipped",
                    Status.EXPECTED_FAILURE: "skipped"}.get(check.status)
            if kind:
                ET.SubElement(case, kind, message=f"{check.status}: {check.reason}"[:2000])
    return ET.ElementTree(root)


_CSS = """body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top}
.pass{background:#dfd}.fail,.error,.unexpected{background:#fdd}.unsupported{background:#eee}
.expected{background:#ffd}pre{white-space:pre-wrap;max-width:100em;font-size:85%}"""


def _cls(status: Status) -> str:
    return str(status).split()[0]


def _exchange_html(check: CheckResult) -> str:
    parts = []
    for ex in check.exchanges:
        request = "\n".join([f"{ex['method']} {ex['url']}",
                             *(f"{k}: {v}" for k, v in ex["request_headers"].items()),
                             "", ex["request_body"]])
        response = "\n".join([f"{ex['status']}",
                              *(f"{k}: {v}" for k, v in ex["response_headers"].items()),
                              "", ex["response_body"]])
        parts.append(f"<pre>{html.escape(request)}</pre><pre>{html.escape(response)}</pre>")
    return "".join(parts) or "<p>no HTTP exchange</p>"


def render_html(runs: list[RunResult]) -> str:
    """A matrix of statuses, then per target and check: rule, result, reason, exchanges."""
    names = sorted({(c.group, c.check) for r in runs for c in r.checks},
                   key=lambda gc: (GROUPS.index(gc[0]) if gc[0] in GROUPS else 99, gc[1]))
    index = {r.target: {c.check: c for c in r.checks} for r in runs}
    head = "".join(f"<th>{html.escape(r.target)}</th>" for r in runs)
    rows = []
    for group, name in names:
        cells = []
        for run in runs:
            found = index[run.target].get(name)
            cells.append(f'<td class="{_cls(found.status)}">{found.status}</td>' if found
                         else "<td>-</td>")
        rows.append(f"<tr><td>{group}</td><td>{html.escape(name)}</td>{''.join(cells)}</tr>")
    details = []
    for run in runs:
        details.append(f"<h2>{html.escape(run.target)}</h2>")
        for check in run.checks:
            shown = "" if check.status in {Status.PASS, Status.UNSUPPORTED} else " open"
            details.append(
                f'<details{shown}><summary class="{_cls(check.status)}">{check.status}: '
                f"{check.group}/{html.escape(check.check)} &mdash; {html.escape(check.rule)}"
                f"</summary><p>{html.escape(check.reason)}</p>{_exchange_html(check)}</details>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>conformance</title>"
            f"<style>{_CSS}</style></head><body><h1>Registry conformance</h1>"
            f"<table><tr><th>group</th><th>check</th>{head}</tr>{''.join(rows)}</table>"
            f"{''.join(details)}</body></html>")
