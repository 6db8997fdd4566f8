"""`make bench`: run every benchmark in bench/ and write one report.

Each ``bench/bench_*.py`` exposes ``main(quick: bool = False) -> dict`` of figures measured
side by side in one run. The report goes to ``bench/results/report.md`` and
``bench/results/report.json``.

Two optional keys of that dict shape the report:

* ``"ratios"``: a list of ``{"name", "value", "baseline", "target"}`` - the ratio, what it
  is measured against (in words, with the baseline's figure), and the target (``">= 0.8"``,
  ``"<= 1"``, ``"== 1"``, or free text). All benchmarks' ratios make one Markdown table;
  a target of the form ``OP NUMBER`` is checked.
* ``"plots"``: a list of PNG paths; they are copied next to the report and shown in it.

A benchmark that declares no ratios still gets rows for its figures named ``ratio`` or
``*_ratio`` (baseline and target "not declared"). Every figure is listed in an appendix.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import shutil
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


TARGET = re.compile(r"^\s*(>=|<=|==|>|<)\s*([-+0-9.eE]+)\s*$")


def target_met(value: object, target: object) -> bool | None:
    """Whether ``value`` meets a target written ``OP NUMBER``; None when it cannot be checked."""
    match = TARGET.match(str(target)) if target is not None else None
    if not match or not isinstance(value, int | float) or isinstance(value, bool):
        return None
    op, bound = match.group(1), float(match.group(2))
    return {">=": value >= bound, "<=": value <= bound, "==": abs(value - bound) < 1e-9,
            ">": value > bound, "<": value < bound}[op]


def ratio_rows(name: str, figures: dict) -> list[dict]:
    """The benchmark's declared ratios, else its figures named ``ratio`` or ``*_ratio``."""
    declared = figures.get("ratios")
    if isinstance(declared, list):
        return [dict(row) for row in declared if isinstance(row, dict) and "name" in row]
    found = []
    for key, value in flatten({k: v for k, v in figures.items() if k != "plots"}):
        if key.split(".")[-1] == "ratio" or key.endswith("_ratio"):
            found.append({"name": key, "value": value, "baseline": "not declared", "target": "not declared"})
    return found


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def collect_plots(results: dict[str, dict], out: Path) -> dict[str, list[str]]:
    """Copy each benchmark's PNGs under ``out/plots/`` and return their paths relative to ``out``."""
    plots: dict[str, list[str]] = {}
    for name, figures in results.items():
        for index, path in enumerate(figures.get("plots") or []):
            source = Path(path)
            if not source.is_file():
                continue
            target = out / "plots" / f"{name}-{index}-{source.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.resolve() != target.resolve():
                shutil.copyfile(source, target)
            plots.setdefault(name, []).append(str(target.relative_to(out)))
    return plots


def render_markdown(results: dict[str, dict], started: float, plots: dict[str, list[str]] | None = None) -> str:
    lines = [
        "# Benchmark report",
        "",
        f"Machine: {platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()}); "
        f"run at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}.",
        "Ratios compare runs made side by side in this one run.",
        "",
        "| benchmark | ratio | value | baseline | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for name, figures in results.items():
        if "error" in figures and len(figures) == 1:
            lines.append(f"| {name} | (failed) | - | - | - | no |")
            continue
        for row in ratio_rows(name, figures):
            met = target_met(row.get("value"), row.get("target"))
            shown_met = "-" if met is None else ("yes" if met else "**no**")
            lines.append(
                f"| {name} | {row['name']} | {_shown(row.get('value'))} | {row.get('baseline', '-')} | "
                f"{row.get('target', '-')} | {shown_met} |"
            )
    lines.append("")
    for name, paths in (plots or {}).items():
        lines += [f"## {name}", ""] + [f"![{name}]({path})" for path in paths] + [""]
    lines += ["## All figures", ""]
    for name, figures in results.items():
        lines += [f"### {name}", "", "| figure | value |", "|---|---|"]
        for key, value in flatten({k: v for k, v in figures.items() if k not in ("ratios", "plots")}):
            lines.append(f"| {key} | {_shown(value)} |")
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
    plots = collect_plots(results, args.out)
    (args.out / "report.md").write_text(render_markdown(results, started, plots))
    console.print(f"report: {args.out / 'report.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
