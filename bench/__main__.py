"""`make bench`: run every benchmark in bench/ and write one report.

Each ``bench/bench_*.py`` exposes ``main(quick: bool = False) -> dict`` of figures measured
side by side in one run. The report goes to ``bench/results/report.md`` and
``bench/results/report.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time
import traceback
from pathlib import Path

from rich.console import Console

console = Console()
BENCH_DIR = Path(__file__).resolve().parent


def discover() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))


def flatten(figures: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(flatten(value, f"{name}."))
        else:
            rows.append((name, value))
    return rows


def render_markdown(results: dict[str, dict], started: float) -> str:
    lines = [
        "# Benchmark report",
        "",
        f"Machine: {platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()}); "
        f"run at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}.",
        "Ratios compare runs made side by side in this one run.",
        "",
    ]
    for name, figures in results.items():
        lines += [f"## {name}", "", "| figure | value |", "|---|---|"]
        for key, value in flatten(figures):
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            lines.append(f"| {key} | {shown} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller corpora")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args()
    names = args.names or discover()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results: dict[str, dict] = {}
    failed = []
    for name in names:
        console.rule(f"[bold]{name}")
        try:
            module = importlib.import_module(f"bench.{name}")
            results[name] = module.main(quick=args.quick)
        except Exception:
            console.print(traceback.format_exc())
            failed.append(name)
            results[name] = {"error": traceback.format_exc(limit=3)}
    (args.out / "report.json").write_text(json.dumps(results, indent=2, default=str))
    (args.out / "report.md").write_text(render_markdown(results, started))
    console.print(f"report: {args.out / 'report.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
