"""The benchmark runner measures real processes and reports them without inventing numbers."""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench import __main__ as bench_main
from bench import runner
from bench.api import Benchmark, MiB, Run, Scale, Workload
from bench.report import markdown, summarize, write_reports
from bench.runner import RunFailed, discover, measure, run_benchmark

ROOT = Path(__file__).resolve().parents[2]
SCALE = Scale(size=4 * MiB, quick=True)
ALLOCATE_64_MB = "b = bytearray(64 * 1000 * 1000); b[::4096] = b'x' * len(b[::4096])"


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _benchmark(name: str, workload: Workload, fresh_registry: bool = False) -> Benchmark:
    @contextlib.contextmanager
    def setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
        assert inputs.is_dir()
        yield workload

    return Benchmark(name=name, operation=f"{name} op", ours_label="ours-cmd",
                     peer_label="peer-cmd", setup=setup, fresh_registry=fresh_registry)


def test_measure_reads_the_peak_rss_of_the_child(tmp_path: Path) -> None:
    big = measure(_python(ALLOCATE_64_MB), {}, tmp_path)
    small = measure(_python("pass"), {}, tmp_path)
    assert big.max_rss > small.max_rss + 50_000_000
    assert big.wall > 0 and big.cpu > 0


def test_measure_does_not_charge_the_runners_memory(tmp_path: Path) -> None:
    ballast = bytearray(150 * 1000 * 1000)  # this process is now far larger than `true`
    ballast[::4096] = b"x" * len(ballast[::4096])
    assert measure(["true"], {}, tmp_path).max_rss < 30_000_000
    del ballast


def test_measure_reports_a_missing_executable(tmp_path: Path) -> None:
    with pytest.raises(RunFailed, match=r"^could not run no-such-tool-x: "
                                        r"cannot start no-such-tool-x: No such file"):
        measure(["no-such-tool-x"], {}, tmp_path)


def test_measure_reports_a_failure_with_stderr(tmp_path: Path) -> None:
    with pytest.raises(RunFailed, match="exited with 3: broken here"):
        measure(_python("import sys; print('broken here', file=sys.stderr); sys.exit(3)"),
                {}, tmp_path)


def test_runner_writes_json_markdown_and_png(tmp_path: Path) -> None:
    seen: list[Run] = []

    def ours(run: Run) -> list[str]:
        seen.append(run)
        assert run.scratch.is_dir() and not any(run.scratch.iterdir())
        return _python(ALLOCATE_64_MB)

    work = Workload(work_bytes=SCALE.size, ours=ours, peer=lambda run: _python("pass"),
                    env={"BENCH_MARK": "1"})
    results = [
        run_benchmark(_benchmark("pair", work), SCALE, 3, tmp_path / "pair"),
        run_benchmark(_benchmark("no-ours", Workload(
            work_bytes=0, ours=None, peer=lambda run: _python("pass"),
            ours_missing="not written yet")), SCALE, 2, tmp_path / "no-ours"),
        run_benchmark(_benchmark("broken", Workload(
            work_bytes=1, ours=lambda run: _python("raise SystemExit('ours broke')"),
            peer=lambda run: _python("pass"))), SCALE, 2, tmp_path / "broken"),
    ]
    assert [run.index for run in seen] == [0, 1, 2]
    assert all(run.registry is None for run in seen)
    assert not any(run.scratch.exists() for run in seen)  # cleaned after each run

    document = summarize(results, quick=True, repetitions=3, broken=["bench/x.py: boom"])
    paths = write_reports(document, tmp_path / "out")
    assert [p.name for p in paths] == ["latest.json", "latest.md", "latest.png"]
    assert paths[2].read_bytes().startswith(b"\x89PNG")

    saved = json.loads(paths[0].read_text())
    pair, no_ours, broken = saved["benchmarks"]
    assert saved["total_s"] == pytest.approx(sum(b["elapsed_s"] for b in saved["benchmarks"]),
                                             abs=0.05)
    assert pair["elapsed_s"] >= sum(pair[side]["wall_s"]["median"] for side in ("ours", "peer"))
    assert pair["ours"]["runs"] == pair["peer"]["runs"] == 3
    assert pair["ratio"]["peak_rss"] > 1.5  # 64 MB allocated by ours, nothing by the peer
    assert pair["ratio"]["time"] == pytest.approx(
        pair["ours"]["wall_s"]["median"] / pair["peer"]["wall_s"]["median"])
    assert pair["ratio"]["cpu"] == pytest.approx(
        pair["ours"]["cpu_s"]["median"] / pair["peer"]["cpu_s"]["median"])
    wall = pair["peer"]["wall_s"]
    assert wall["min"] <= wall["median"] <= wall["max"]
    assert pair["peer"]["throughput_mb_s"]["median"] == pytest.approx(
        SCALE.size / 1e6 / wall["median"])
    assert no_ours["ours"]["status"] == "not available: not written yet"
    assert "wall_s" not in no_ours["ours"] and no_ours["ratio"]["time"] is None
    assert broken["ours"]["status"].startswith("failed: ")
    assert "ours broke" in broken["ours"]["status"]
    assert broken["ours"]["runs"] == 0 and broken["ratio"]["time"] is None

    table = paths[1].read_text()
    assert re.search(r"\| pair \|.*ours-cmd: \d+\.\d\d s \(.*, 3 runs\).*\| \d+\.\d\dx \|", table)
    assert "ours-cmd: not available: not written yet" in table
    assert "Broken benchmark module: bench/x.py: boom" in table


def test_a_spent_budget_stops_repeating_but_every_side_runs_once(tmp_path: Path) -> None:
    work = Workload(work_bytes=0, ours=lambda run: _python("pass"),
                    peer=lambda run: _python("pass"))
    spent = run_benchmark(_benchmark("b", work), SCALE, 4, tmp_path / "spent", budget=0.0)
    assert len(spent.ours.samples) == len(spent.peer.samples) == 1
    unlimited = run_benchmark(_benchmark("b", work), SCALE, 4, tmp_path / "unlimited")
    assert len(unlimited.ours.samples) == len(unlimited.peer.samples) == 4


def test_the_page_cache_is_synced_before_every_run(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A side's unwritten pages must not be charged to the next run's fsync."""
    events: list[str] = []
    monkeypatch.setattr(runner.os, "sync", lambda: events.append("sync"))

    def side(name: str) -> Callable[[Run], list[str]]:
        def argv(run: Run) -> list[str]:
            events.append(name)
            return _python("pass")
        return argv

    work = Workload(work_bytes=0, ours=side("ours"), peer=side("peer"))
    run_benchmark(_benchmark("sync", work), SCALE, 2, tmp_path)
    assert events == ["ours", "sync", "peer", "sync", "peer", "sync", "ours", "sync"]


def test_setup_failure_is_reported_not_raised(tmp_path: Path) -> None:
    @contextlib.contextmanager
    def setup(inputs: Path, scale: Scale) -> Iterator[Workload]:
        raise OSError("no inputs here")
        yield  # pragma: no cover - makes this a generator

    benchmark = Benchmark(name="s", operation="o", ours_label="a", peer_label="b",
                          setup=setup)
    result = run_benchmark(benchmark, SCALE, 1, tmp_path / "s")
    assert result.error == "setup failed: OSError: no inputs here"
    assert "setup failed: OSError: no inputs here" in markdown(
        summarize([result], quick=True, repetitions=1, broken=[]))


@pytest.mark.requires_peer("docker-registry")
def test_fresh_registry_per_run(tmp_path: Path) -> None:
    hosts: list[str] = []

    def side(run: Run) -> list[str]:
        assert run.registry is not None
        hosts.append(run.registry.host)
        return _python(f"import requests; requests.get({run.registry.url + '/v2/'!r})"
                       ".raise_for_status()")

    work = Workload(work_bytes=0, ours=side, peer=side)
    result = run_benchmark(_benchmark("reg", work, fresh_registry=True), SCALE, 2, tmp_path)
    assert not result.ours.error and not result.peer.error
    assert len(result.ours.samples) == len(result.peer.samples) == 2
    assert len(set(hosts)) == 4


def test_fresh_registry_without_the_registry_says_so(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "missing_reason", lambda name: f"{name} not installed: hint")
    work = Workload(work_bytes=0, ours=lambda run: _python("pass"), peer=None)
    result = run_benchmark(_benchmark("reg", work, fresh_registry=True), SCALE, 1, tmp_path)
    assert result.error == "docker-registry not installed: hint"
    assert not result.ours.samples


def test_discover_reports_a_broken_module_and_keeps_the_rest(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    package = tmp_path / "fakebench"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "runner.py").write_text("raise AssertionError('runner modules are skipped')")
    (package / "good.py").write_text((ROOT / "docs" / "bench.md").read_text()
                                     .split("```python\n")[1].split("```")[0])
    (package / "bad.py").write_text("import no_such_module_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found, broken = discover(package, "fakebench")
    assert [b.name for b in found] == ["sha256"]
    assert broken == ["fakebench/bad.py: ModuleNotFoundError: No module named "
                      "'no_such_module_here'"]
    # the documented example runs through the real runner
    result = run_benchmark(found[0], SCALE, 1, tmp_path / "run")
    assert len(result.ours.samples) == 1 and not result.ours.error
    assert len(result.peer.samples) == 1 and not result.peer.error


def test_cli_lists_and_refuses_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main.main(["--list"]) == 0
    assert "push: " in capsys.readouterr().out
    assert bench_main.main(["--only", "nope"]) == 2
    assert "unknown benchmark nope; known: " in capsys.readouterr().err


@pytest.mark.requires_peer("docker-registry", "skopeo", "umoci", "buildah")
@pytest.mark.parametrize("name", ["push", "buildah-push"])
def test_peer_benchmarks_run_the_peer_and_never_fake_ours(name: str, tmp_path: Path) -> None:
    assert bench_main.main(["--quick", "--only", name, "--repetitions", "1",
                            "--output", str(tmp_path)]) == 0
    entry = json.loads((tmp_path / "latest.json").read_text())["benchmarks"][0]
    assert entry["name"] == name and not entry["error"]
    assert entry["peer"]["status"] == "ok" and entry["peer"]["runs"] == 1
    assert entry["work_bytes"] == bench_main.QUICK.size
    assert entry["ours"]["status"] == "ok" or entry["ours"]["status"].startswith(
        "not available: ") or entry["ours"]["status"].startswith("failed: ")
    assert ("wall_s" in entry["ours"]) == (entry["ours"]["status"] == "ok")


@pytest.mark.requires_peer("buildah")
def test_buildah_push_runs_ours_from_bytecode_compiled_in_setup(tmp_path: Path) -> None:
    """As the ``push`` row and an installed package: compiling the project's modules is
    not part of what the row times (it was ~0.065 s of CPU of each run)."""
    from bench import buildah_push  # noqa: PLC0415 - its import needs nothing, its setup buildah

    with buildah_push.BENCHMARKS[0].setup(tmp_path, Scale(size=MiB, quick=True)) as workload:
        assert workload.env["PYTHONDONTWRITEBYTECODE"] == ""
        cache = Path(workload.env["PYTHONPYCACHEPREFIX"])
        compiled = {p.relative_to(cache).parent.name + "/" + p.name.split(".")[0]
                    for p in cache.rglob("*.pyc")}
    assert {"builder/push", "store/store", "transports/harness_store"} <= compiled


def test_bench_doc_has_one_table_row_per_benchmark_in_one_table() -> None:
    """docs/bench.md lists the benchmarks in one table under "The benchmarks": every
    module with ``BENCHMARKS`` has its rows there, each row once, and no row of it
    strays into the text of another section."""
    text = (ROOT / "docs" / "bench.md").read_text()
    lines = text.splitlines()
    rows = [n for n, line in enumerate(lines) if line.startswith("| `bench/")]
    heading = lines.index("## The benchmarks")
    table = range(rows[0], rows[0] + len(rows))
    assert heading < rows[0] and rows == list(table), (
        f"rows outside the table at lines {[n + 1 for n in rows if n not in table]}")
    assert not any(line.startswith("#") for line in lines[heading + 1:rows[0]])
    cells = [tuple(lines[n].split(" | ")[:2]) for n in rows]
    assert len(cells) == len(set(cells)), "a benchmark listed twice"
    modules = {f"| `bench/{path.name}`" for path in (ROOT / "bench").glob("*.py")
               if re.search(r"^BENCHMARKS\b", path.read_text(), re.MULTILINE)}
    assert {module for module, _ in cells} == modules
