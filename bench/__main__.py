"""``python -m bench [--quick] [--only NAME] [--repetitions N] [--output DIR]``."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.api import MiB, Scale
from bench.report import markdown, summarize, write_reports
from bench.runner import BenchmarkResult, discover, run_benchmark

HERE = Path(__file__).resolve().parent
FULL = Scale(size=512 * MiB, quick=False)
QUICK = Scale(size=32 * MiB, quick=True)
QUICK_SIDE_BUDGET = 10.0  # seconds of runs per side before --quick stops repeating it


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench",
                                     description="Run the project's benchmarks beside "
                                                 "their real peers and compare.")
    parser.add_argument("--quick", action="store_true",
                        help=f"small inputs ({QUICK.size // MiB} MiB), 3 repetitions, fewer "
                             f"for a side whose runs pass {QUICK_SIDE_BUDGET:.0f} s")
    parser.add_argument("--only", action="append", metavar="NAME", default=[],
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--repetitions", type=int, default=None,
                        help="runs per side (default 5, or 3 with --quick)")
    parser.add_argument("--output", type=Path, default=HERE / "results",
                        help="where latest.json, latest.md and latest.png go")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    benchmarks, broken = discover(HERE)
    if args.list:
        for benchmark in benchmarks:
            print(f"{benchmark.name}: {benchmark.operation}")
        return 0
    known = {b.name for b in benchmarks}
    unknown = [name for name in args.only if name not in known]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(sorted(known))}",
              file=sys.stderr)
        return 2
    selected = [b for b in benchmarks if not args.only or b.name in args.only]
    scale = QUICK if args.quick else FULL
    repetitions = args.repetitions or (3 if args.quick else 5)
    results: list[BenchmarkResult] = []
    with tempfile.TemporaryDirectory(prefix="oci-harness-bench-") as tmp:
        for benchmark in selected:
            print(f"bench: {benchmark.name} ...", file=sys.stderr, flush=True)
            workdir = Path(tmp) / benchmark.name
            budget = QUICK_SIDE_BUDGET if args.quick else None
            results.append(run_benchmark(benchmark, scale, repetitions, workdir, budget))
            print(f"bench: {benchmark.name} took {results[-1].elapsed:.1f} s", file=sys.stderr)
    document = summarize(results, args.quick, repetitions, broken)
    paths = write_reports(document, args.output)
    print(markdown(document))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
