"""Turn runner results into numbers people read: JSON, a Markdown table, a PNG chart.

Every number is a median over the repetitions with its min-max beside it; a side that is
missing or failed shows why, never a number.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.runner import BenchmarkResult, SideResult

MB = 1_000_000


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median, "min": self.low, "max": self.high}


def side_status(side: SideResult) -> str:
    """``ok``, ``not available: why`` or ``failed: why``."""
    if side.missing:
        return f"not available: {side.missing}"
    if side.error:
        return f"failed: {side.error}"
    return "ok" if side.samples else "not run"


def side_summary(side: SideResult, work_bytes: int) -> dict[str, Any]:
    summary: dict[str, Any] = {"label": side.label, "status": side_status(side),
                               "runs": len(side.samples)}
    if side.samples and not side.error:
        wall = Spread.of([s.wall for s in side.samples])
        summary["wall_s"] = wall.as_dict()
        summary["cpu_s"] = Spread.of([s.cpu for s in side.samples]).as_dict()
        summary["peak_rss_mb"] = Spread.of([s.max_rss / MB for s in side.samples]).as_dict()
        if work_bytes > 0:
            summary["throughput_mb_s"] = Spread(
                work_bytes / MB / wall.median, work_bytes / MB / wall.high,
                work_bytes / MB / wall.low).as_dict()
    return summary


def _ratio(ours: dict[str, Any], peer: dict[str, Any], key: str) -> float | None:
    if key not in ours or key not in peer or peer[key]["median"] == 0:
        return None
    return float(ours[key]["median"] / peer[key]["median"])


def summarize(results: list[BenchmarkResult], quick: bool, repetitions: int,
              broken: list[str]) -> dict[str, Any]:
    """The JSON document: machine, settings, and one entry per benchmark."""
    benchmarks = []
    for result in results:
        ours = side_summary(result.ours, result.work_bytes)
        peer = side_summary(result.peer, result.work_bytes)
        benchmarks.append({
            "name": result.benchmark.name,
            "operation": result.benchmark.operation,
            "goal": result.benchmark.goal,
            "work_bytes": result.work_bytes,
            "error": result.error,
            "elapsed_s": round(result.elapsed, 2),
            "ours": ours,
            "peer": peer,
            "ratio": {"time": _ratio(ours, peer, "wall_s"),
                      "cpu": _ratio(ours, peer, "cpu_s"),
                      "peak_rss": _ratio(ours, peer, "peak_rss_mb")},
        })
    return {
        "generated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "system": platform.platform(),
                    "load": " ".join(f"{x:.1f}" for x in os.getloadavg())},
        "quick": quick,
        "repetitions": repetitions,
        "total_s": round(sum(result.elapsed for result in results), 2),
        "broken_modules": broken,
        "benchmarks": benchmarks,
    }


def _seconds(side: dict[str, Any]) -> str:
    if "wall_s" not in side:
        return str(side["status"])
    wall, runs = side["wall_s"], side["runs"]
    plural = "" if runs == 1 else "s"
    return f"{wall['median']:.2f} s ({wall['min']:.2f}-{wall['max']:.2f}, {runs} run{plural})"


def _cpu(side: dict[str, Any]) -> str:
    return f"{side['cpu_s']['median']:.2f}" if "cpu_s" in side else "-"


def _times(ratio: float | None) -> str:
    return f"{ratio:.2f}x" if ratio is not None else "n/a"


def _rss(side: dict[str, Any]) -> str:
    return f"{side['peak_rss_mb']['median']:.0f}" if "peak_rss_mb" in side else "-"


def _size(work_bytes: int) -> str:
    return f"{work_bytes / (1024 * 1024):.0f} MiB" if work_bytes else "-"


def markdown(document: dict[str, Any]) -> str:
    """A table of medians (min-max) and ratios ours / peer, one row per benchmark."""
    mode = "quick" if document["quick"] else "full"
    lines = [
        f"Benchmarks ({mode}, {document['repetitions']} repetitions, "
        f"{document['machine']['cpus']} CPUs, load average {document['machine']['load']}, "
        f"{document['generated']}; took {document['total_s']:.0f} s)",
        "",
        "Wall times are median (min-max). On a busy machine CPU seconds compare better.",
        "",
        "| benchmark | operation | size | ours: wall | peer: wall | time ours/peer "
        "| CPU s ours / peer | CPU ours/peer | peak RSS MB ours / peer | RSS ours/peer | goal |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in document["benchmarks"]:
        ours, peer, ratio = entry["ours"], entry["peer"], entry["ratio"]
        if entry["error"]:
            ours_cell, peer_cell = entry["error"], "-"
        else:
            ours_cell = f"{ours['label']}: {_seconds(ours)}"
            peer_cell = f"{peer['label']}: {_seconds(peer)}"
        lines.append(
            f"| {entry['name']} | {entry['operation']} | {_size(entry['work_bytes'])} "
            f"| {ours_cell} | {peer_cell} | {_times(ratio['time'])} "
            f"| {_cpu(ours)} / {_cpu(peer)} | {_times(ratio['cpu'])} "
            f"| {_rss(ours)} / {_rss(peer)} | {_times(ratio['peak_rss'])} "
            f"| {entry['goal'] or '-'} |"
        )
    lines += [f"\nBroken benchmark module: {line}" for line in document["broken_modules"]]
    return "\n".join(line.replace("\n", " ") for line in lines) + "\n"


def chart(document: dict[str, Any], path: Path) -> None:
    """Bars of throughput (MB/s) per benchmark, ours beside the peer, min-max as whiskers."""
    import matplotlib  # noqa: PLC0415 - slow to import, only needed here

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    entries = [e for e in document["benchmarks"] if e["work_bytes"] > 0]
    figure, axes = plt.subplots(figsize=(8, 1.2 + 0.8 * max(len(entries), 1)))
    for offset, side, color in ((-0.2, "ours", "tab:blue"), (0.2, "peer", "tab:orange")):
        positions, values, low, high = [], [], [], []
        for row, entry in enumerate(entries):
            throughput = entry[side].get("throughput_mb_s")
            if throughput is None:  # say why there is no bar rather than leave a gap
                axes.text(0, row + offset, f" {side}: {entry[side]['status'][:60]}",
                          va="center", fontsize=8)
            else:
                positions.append(row + offset)
                values.append(throughput["median"])
                low.append(throughput["median"] - throughput["min"])
                high.append(throughput["max"] - throughput["median"])
        axes.barh(positions, values, height=0.4, color=color, xerr=[low, high], capsize=3,
                  label=side)
    axes.set_yticks(range(len(entries)), [e["name"] for e in entries])
    axes.set_ylim(len(entries) - 0.5, -0.5)  # first benchmark on top
    axes.set_xlabel("throughput, MB/s (median; whiskers: min-max)")
    axes.set_title("oci-harness (ours) vs real peer")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_reports(document: dict[str, Any], directory: Path) -> list[Path]:
    """Write latest.json, latest.md and latest.png into *directory*; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "latest.json", directory / "latest.md", directory / "latest.png"]
    paths[0].write_text(json.dumps(document, indent=2) + "\n")
    paths[1].write_text(markdown(document))
    chart(document, paths[2])
    return paths
