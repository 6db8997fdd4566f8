"""``python -m bench.calibrate_check [DATA_DIR]`` (``make calibrate-check``): time limits from
the references hold for every reference, the machine loaded, many times over.

The study's code data (CodeR1-12k's test split: LeetCode and TACO), LeetCodeDataset's test
problems and MBPP are converted; each file's limits are calibrated from its references
(:mod:`trainer.data.calibrate`); then every reference that passed the measuring runs, and
the TACO problems' oracles (programs answering each test from a table of the tests,
:mod:`bench.realdata.cases`), are scored ``--runs`` times (default 20) under their
problem's new limit with ``--load`` processes spinning beside the service. Every one must
score 1 every time. TACO's own references are as the dataset gives them, some broken: one
that fails under the default limit sets no limit (its problem keeps the default) and is
not checked.

Per file, the calibrated rows and the report (limits histogram, failures, and how many
references would fail at other multiples) go under ``--out`` (default
``bench/results/calibrate_check``); ``summary.md`` holds the totals. Exit 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.realdata.cases import call_oracle, stdio_oracle
from trainer.data.build import SourceSpec, load_tasks
from trainer.data.calibrate import calibrate_rows, service
from trainer.data.calibrate_report import write
from trainer.data.io import write_jsonl
from trainer.data.limits import CEILING_S, FLOOR_S, MULTIPLE, LimitPolicy
from trainer.data.tasks import Task

FILES = (
    ("paper-2507.17512/code-r1-12k/test.parquet", "verl"),
    ("paper-2507.17512/leetcode/LeetCodeDataset-v1-test-problems.jsonl", "leetcode"),
    ("paper-2507.17512/leetcode/LeetCodeDataset-v2-test-problems.jsonl", "leetcode"),
    ("mbpp/sanitized-mbpp.json", "mbpp"),
)
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def oracles(task: Task) -> list[str]:
    """Right answers built from the tests themselves (TACO's tests are data)."""
    tests = task.label["tests"]
    if tests.get("inputs") is not None and not tests.get("fn_name"):
        return [f"```python\n{stdio_oracle(tests['inputs'], tests['outputs'])}```"]
    oracle = call_oracle(tests.get("functional") or "")
    return [f"```python\n{oracle}```"] if oracle else []


def rows_of(tasks: list[Task]) -> list[dict[str, Any]]:
    rows = []
    for task in tasks:
        row = task.to_row()
        if task.source.startswith("coder1/likaixin"):
            row["oracles"] = oracles(task)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.calibrate_check", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "data_dir", nargs="?", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_dir() else None
    )
    parser.add_argument("--runs", type=int, default=20, help="loaded runs of every reference (default 20)")
    parser.add_argument(
        "--measure-runs", type=int, default=3, help="measuring runs of every reference (default 3)"
    )
    parser.add_argument(
        "--load", type=int, default=os.cpu_count() or 1, help="spinning processes (default: one per CPU)"
    )
    parser.add_argument("--multiple", type=float, default=MULTIPLE)
    parser.add_argument("--floor", type=float, default=FLOOR_S)
    parser.add_argument("--ceiling", type=float, default=CEILING_S)
    parser.add_argument("--limit", type=int, default=None, help="rows per file")
    parser.add_argument("--only", default=None, help="comma-separated substrings of the file names to run")
    parser.add_argument("--url", default=None, help="a running service (default: start one here)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/calibrate_check"))
    args = parser.parse_args(argv)
    console = Console()
    if args.data_dir is None or not args.data_dir.is_dir():
        console.print(
            "[red]no data directory: give it as the first argument (it holds paper-2507.17512/ and mbpp/)"
        )
        return 2
    files = [(p, f) for p, f in FILES if not args.only or any(s in p for s in args.only.split(","))]
    policy = LimitPolicy(args.multiple, args.floor, args.ceiling)
    args.out.mkdir(parents=True, exist_ok=True)
    totals: dict[str, Any] = {"runs": args.runs, "load": args.load, "files": {}}
    started = time.monotonic()
    with service(args.url) as url:
        for relative, fmt in files:
            tasks, _ = load_tasks(SourceSpec.parse(f"{fmt}={args.data_dir / relative}"), progress=False)
            rows = rows_of(tasks[: args.limit] if args.limit else tasks)
            console.print(f"[bold]{relative}[/]: {len(rows)} problems")
            calibration = calibrate_rows(rows, policy, runs=args.measure_runs, check_runs=args.runs,
                                         load=args.load, url=url)  # fmt: skip
            out = args.out / (Path(relative).name.split(".")[0] + ".jsonl")
            write_jsonl(out, calibration.rows)
            data = write(calibration, policy, out, args.runs, args.load)
            totals["files"][relative] = {
                "sources": data["time_limit_source"], "limits_s": data["limits_s"],
                "references_not_passing": data["references_not_passing"],
                **{kind: {k: data["check"][kind][k] for k in ("answers", "runs", "failed", "would_fail_at_multiple")}
                   for kind in ("reference", "oracle")},
            }  # fmt: skip
            console.print(f"  {out.with_name(out.stem + '.calibration.md')}")
    totals["seconds"] = round(time.monotonic() - started, 1)
    failed = sum(f[k]["failed"] for f in totals["files"].values() for k in ("reference", "oracle"))
    (args.out / "summary.json").write_text(json.dumps(totals, indent=1) + "\n")
    lines = [f"# References under their calibrated limits: {args.runs} runs each, {args.load} processes spinning", "",
             "| file | limits from | limits, s | references: checked / runs / failed | oracles: checked / runs / failed |",
             "|---|---|---|---|---|"]  # fmt: skip
    for name, f in totals["files"].items():
        ref, ora = f["reference"], f["oracle"]
        lines.append(
            f"| {name} | {', '.join(f'{k} {v}' for k, v in f['sources'].items())} | "
            f"{', '.join(f'{k} {v}' for k, v in f['limits_s'].items())} | {ref['answers']} / {ref['runs']} / "
            f"{ref['failed']} | {ora['answers']} / {ora['runs']} / {ora['failed']} |"
        )
    lines += ["", f"failures: {failed}; {totals['seconds']} s"]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    console.print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
