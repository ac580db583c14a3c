"""Reports of one or more runs: terminal table, results.json, junit.xml and report.html.

Several runs (one per target) make a matrix: one row per check, one column per target.
What a vendor reads first comes first: the verdict, then what failed, then warnings and
unsupported features, each with the rule it is about and why.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from conformance.config import GROUPS
from conformance.results import CheckResult, RunResult, Status

_SHORT = {Status.PASS: "pass", Status.FAIL: "fail", Status.WARN: "warn",
          Status.UNSUPPORTED: "unsupported", Status.ERROR: "error",
          Status.EXPECTED_FAILURE: "expected-fail", Status.UNEXPECTED_PASS: "unexpected-pass"}
# The order checks are listed in: what needs acting on first.
_SEVERITY = (Status.FAIL, Status.ERROR, Status.UNEXPECTED_PASS, Status.WARN,
             Status.EXPECTED_FAILURE, Status.UNSUPPORTED, Status.PASS)
_LEVELS = ("MUST", "SHOULD", "MAY")


def _cell(checks: list[CheckResult]) -> str:
    counts = Counter(c.status for c in checks)
    return " ".join(f"{counts[s]} {name}" for s, name in _SHORT.items() if counts[s]) or "-"


def _ordered(checks: list[CheckResult]) -> list[CheckResult]:
    return sorted(checks, key=lambda c: (_SEVERITY.index(c.status), c.docker, c.group, c.check))


def plain(text: str) -> str:
    """Rule text as a reader sees it: no reStructuredText markup (``x``, :role:`x`)."""
    text = re.sub(r":[a-z]+:`([^`]*)`", r"\1", text)
    return text.replace("``", "")


def verdict(run: RunResult, *, strict: bool = False) -> str:
    """One sentence: does the registry break any MUST of the OCI spec."""
    failing = run.failing(strict=strict)
    docker = [c for c in run.checks if c.docker and c.status == Status.FAIL]
    head = (f"{len(failing)} OCI check(s) did not pass" if failing
            else "no MUST of the OCI distribution spec broken")
    tail = f"; Docker compatibility: {len(docker)} failure(s), not counted" if docker else ""
    return head + tail


def terminal_table(runs: list[RunResult]) -> list[str]:
    """One table, a row per group and a column per target (status counts), then one line per
    check that did not pass, by target and severity, with its level, rule and why."""
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
        for check in _ordered([c for c in run.checks if c.status != Status.PASS]):
            reason = check.reason.splitlines()[0] if check.reason else ""
            level = f" {check.level}" if check.level else ""
            compat = " (docker compatibility, not counted)" if check.docker else ""
            lines.append(f"  {str(check.status).upper()}{level} [{run.target}] {check.group}/"
                         f"{check.check}{compat}: {plain(check.rule)} -- {reason}")
    for run in runs:
        lines.append(f"verdict [{run.target}]: {verdict(run)}")
        if run.cleanup in {"swept", "kept"}:
            lines.append(f"cleanup [{run.target}]: {cleanup(run)}")
    return lines


def cleanup(run: RunResult) -> str:
    """What became of what the checks pushed."""
    if run.cleanup == "kept":
        return "kept what the checks pushed (--keep)"
    if run.cleanup == "discarded":
        return "the registry was started by the suite and thrown away"
    if not run.leftovers:
        return "deleted everything the checks pushed"
    shown = ", ".join(run.leftovers[:3])
    more = f" and {len(run.leftovers) - 3} more (results.json lists all)" \
        if len(run.leftovers) > 3 else ""
    return f"could not delete {len(run.leftovers)} object(s) the checks pushed: {shown}{more}"


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


_JUNIT_KIND = {Status.FAIL: "failure", Status.UNEXPECTED_PASS: "failure", Status.ERROR: "error",
               Status.UNSUPPORTED: "skipped", Status.EXPECTED_FAILURE: "skipped"}


def junit(runs: list[RunResult]) -> ET.ElementTree[ET.Element]:
    """One testsuite per target; unsupported and expected failures are skipped cases, a
    Docker compatibility failure is a skipped case too (it never fails an OCI run), and a
    warning passes with its reason in system-out. Every case carries level and citation."""
    root = ET.Element("testsuites")
    for run in runs:
        suite = ET.SubElement(root, "testsuite", name=f"conformance {run.target}",
                              tests=str(len(run.checks)), time=f"{run.duration:.3f}",
                              timestamp=run.started)
        kinds = {c.check: _junit_kind(c) for c in run.checks}
        counts = Counter(kinds.values())
        suite.set("failures", str(counts["failure"]))
        suite.set("errors", str(counts["error"]))
        suite.set("skipped", str(counts["skipped"]))
        for check in run.checks:
            case = ET.SubElement(suite, "testcase", classname=f"conformance.{check.group}",
                                 name=check.check, time=f"{check.duration:.3f}")
            props = ET.SubElement(case, "properties")
            for name, value in (("status", str(check.status)), ("level", check.level),
                                ("citation", check.citation), ("rule", plain(check.text))):
                ET.SubElement(props, "property", name=name, value=value)
            kind = kinds[check.check]
            message = f"{check.status}: {check.reason}"[:2000]
            if kind:
                ET.SubElement(case, kind, message=message)
            elif check.status == Status.WARN:
                ET.SubElement(case, "system-out").text = message
    return ET.ElementTree(root)


def _junit_kind(check: CheckResult) -> str | None:
    kind = _JUNIT_KIND.get(check.status)
    return "skipped" if kind and check.docker else kind


_CSS = """body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top}
.pass{background:#dfd}.fail,.error,.unexpected{background:#fdd}.unsupported{background:#eee}
.warn{background:#fec}.expected{background:#ffd}
pre{white-space:pre-wrap;max-width:100em;font-size:85%}.verdict{font-size:130%}"""


def _cls(status: Status) -> str:
    return str(status).split()[0]


def _anchor(run_index: int, check: str) -> str:
    return f"r{run_index}-" + re.sub(r"[^A-Za-z0-9_-]+", "-", check)


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


def _summary_html(index: int, run: RunResult) -> str:
    """The verdict and the facts a reader needs to trust it, for one run."""
    totals = []
    for level in _LEVELS:
        checks = [c for c in run.checks if c.level == level and not c.docker]
        totals.append(f"<tr><td>{level}</td><td>{html.escape(_cell(checks))}</td></tr>")
    docker = [c for c in run.checks if c.docker]
    if docker:
        totals.append(f"<tr><td>Docker compatibility (not counted)</td>"
                      f"<td>{html.escape(_cell(docker))}</td></tr>")
    headers = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>"
                      for k, v in run.version_headers.items()) or "<li>none seen</li>"
    return (f'<h2 id="run{index}">{html.escape(run.target)}</h2>'
            f'<p class="verdict"><b>Verdict:</b> {html.escape(verdict(run))}</p>'
            f"<ul><li>target: {html.escape(run.url)}</li><li>date: {html.escape(run.started)}"
            f"</li><li>suite version: {html.escape(run.suite_version)}</li>"
            f"<li>duration: {run.duration:.1f} s</li>"
            f"<li>cleanup: {html.escape(cleanup(run)) if run.cleanup else '-'}</li>"
            f"<li>registry version headers seen:<ul>"
            f"{headers}</ul></li></ul><table><tr><th>level</th><th>results</th></tr>"
            f"{''.join(totals)}</table>")


def render_html(runs: list[RunResult]) -> str:
    """Verdicts first, then a matrix of statuses (failures first, each cell linking to its
    details), then per target and check: level, citation, rule, result, reason, exchanges."""
    by_check = [{c.check: c for c in r.checks} for r in runs]
    seen: dict[str, CheckResult] = {}
    for run in runs:
        for check in run.checks:
            worst = seen.get(check.check)
            if worst is None or _SEVERITY.index(check.status) < _SEVERITY.index(worst.status):
                seen[check.check] = check
    head = "".join(f"<th>{html.escape(r.target)}</th>" for r in runs)
    rows = []
    for check in _ordered(list(seen.values())):
        cells = []
        for i, index in enumerate(by_check):
            found = index.get(check.check)
            cells.append(f'<td class="{_cls(found.status)}"><a href="#{_anchor(i, found.check)}">'
                         f"{found.status}</a></td>" if found else "<td>-</td>")
        rows.append(f"<tr><td>{check.group}</td><td>{html.escape(check.check)}</td>"
                    f"<td>{check.level}</td>{''.join(cells)}</tr>")
    details = []
    for i, run in enumerate(runs):
        details.append(f"<h2>{html.escape(run.target)}: every check</h2>")
        for check in _ordered(run.checks):
            shown = "" if check.status in {Status.PASS, Status.UNSUPPORTED} else " open"
            details.append(
                f'<details id="{_anchor(i, check.check)}"{shown}><summary '
                f'class="{_cls(check.status)}">{check.status}: {check.group}/'
                f"{html.escape(check.check)} &mdash; {html.escape(plain(check.rule))}</summary>"
                f"<p><b>{html.escape(check.level)}</b> {html.escape(check.citation)}: "
                f"&ldquo;{html.escape(plain(check.text))}&rdquo;</p>"
                f"<p>{html.escape(check.reason)}</p>{_exchange_html(check)}</details>")
    summaries = "".join(_summary_html(i, run) for i, run in enumerate(runs))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>conformance</title>"
            f"<style>{_CSS}</style></head><body><h1>Registry conformance</h1>{summaries}"
            f"<h2>All checks</h2><table><tr><th>group</th><th>check</th><th>level</th>{head}"
            f"</tr>{''.join(rows)}</table>{''.join(details)}</body></html>")
