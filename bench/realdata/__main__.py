"""``python -m bench.realdata [DATA_DIR]`` (``make realdata``): the study's released data,
LeetCodeDataset and MBPP, converted and scored through the service.

Per file: rows converted and skipped (with why), then per answer form how many cases hold
(gold answers and reference solutions score 1, altered ones less or exactly their partial
credit), and how many items the service could not score. Also the agreement with
Math-Verify's own test cases. Writes ``report.json``, ``report.md`` and ``report.png``
under ``--out`` (default ``bench/results/realdata``).

DATA_DIR defaults to ``../shared/data`` when it exists; ``--url`` scores against a running
service instead of starting one; ``--limit N`` takes the first N rows of each file.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.realdata.cases import Case, cases_for
from bench.realdata.report import write_reports
from reward_client.client import RewardClient
from trainer.data.build import SourceSpec, load_tasks

# (file, converter[, the share of each form that must hold: 1 unless the file's own gold
# answers are malformed in places, as DeepScaleR's training set's are: unbalanced braces,
# `$-$$\frac{7}{9}$$`, prose such as `1, 8, and 49`; the target there is the 99% that
# the real-data acceptance asks of every math form])
FILES: tuple[tuple[str, str] | tuple[str, str, float], ...] = (
    ("paper-2507.17512/deepscaler/test.parquet", "verl"),
    ("paper-2507.17512/deepscaler/train.parquet", "verl", 0.99),
    ("paper-2507.17512/countdown/test.parquet", "verl"),
    ("paper-2507.17512/countdown/train.parquet", "verl"),
    ("paper-2507.17512/kk/test.parquet", "verl"),
    ("paper-2507.17512/zebra/test.parquet", "verl"),
    ("paper-2507.17512/zebra/train.parquet", "verl"),
    ("paper-2507.17512/code-r1-12k/test.parquet", "verl"),
    ("paper-2507.17512/leetcode/LeetCodeDataset-v1-test-problems.jsonl", "leetcode"),
    ("paper-2507.17512/leetcode/LeetCodeDataset-v2-test-problems.jsonl", "leetcode"),
    ("mbpp/sanitized-mbpp.json", "mbpp"),
)
MATH_VERIFY_CASES = Path(__file__).resolve().parents[2] / "tests" / "data" / "math_verify" / "cases.json"
DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def default_data_dir() -> Path | None:
    return DEFAULT_DATA if DEFAULT_DATA.is_dir() else None


def score_cases(client: RewardClient, cases: list[Case], progress: Progress, label: str) -> list[dict[str, Any]]:
    task = progress.add_task(label, total=len(cases))
    results: list[dict[str, Any]] = []
    step = 256
    for start in range(0, len(cases), step):
        chunk = cases[start : start + step]
        for result in client.score([c.item for c in chunk], deadline_s=3600):
            results.append(result.model_dump())
        progress.advance(task, len(chunk))
    return results


def summarise(cases: list[Case], results: list[dict[str, Any]]) -> dict[str, Any]:
    forms: dict[tuple[str, str], dict[str, Any]] = {}
    for case, result in zip(cases, results, strict=True):
        entry = forms.setdefault(
            (case.source, case.form), {"source": case.source, "form": case.form, "expect": case.expect,
                                       "cases": 0, "hold": 0, "failed_to_score": 0, "misses": []}
        )
        entry["cases"] += 1
        if case.holds(result["score"]):
            entry["hold"] += 1
        elif len(entry["misses"]) < 5:
            answer = case.item["response"].split("<answer>", 1)[-1][:300]
            entry["misses"].append({"answer": answer, "verdict": result["verdict"],
                                    "reason": str(result["details"].get("reason"))[:300], **case.tags})
        if result["verdict"] in ("timeout", "error", "unscored"):
            entry["failed_to_score"] += 1
    return {"forms": list(forms.values()), "verdicts": dict(Counter(r["verdict"] for r in results))}


def math_verify_agreement(client: RewardClient) -> dict[str, Any]:
    data = json.loads(MATH_VERIFY_CASES.read_text())
    items = []
    for case in data["cases"]:
        options = {"float_digits": case["config"]["precision"]} if "precision" in case["config"] else None
        items.append({"response": case["pred"], "label": {"domain": "math", "answer": case["gold"]}, "options": options})
    results = client.score(items, deadline_s=1800)
    agree = [int(r.verdict == "correct") == c["expected"] for r, c in zip(results, data["cases"], strict=True)]
    disagreements = [
        {"gold": c["gold"][:120], "pred": c["pred"][-160:], "expected": c["expected"], "verdict": r.verdict}
        for ok, r, c in zip(agree, results, data["cases"], strict=True) if not ok
    ]
    return {"cases": len(agree), "agree": sum(agree), "commit": data.get("commit"), "disagreements": disagreements}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.realdata", description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=default_data_dir())
    parser.add_argument("--url", default=None, help="a running service (default: start one)")
    parser.add_argument("--limit", type=int, default=None, help="rows per file")
    parser.add_argument("--only", default=None, help="comma-separated substrings of the file names to run")
    parser.add_argument("--out", type=Path, default=Path("bench/results/realdata"))
    args = parser.parse_args(argv)
    console = Console()
    if args.data_dir is None or not args.data_dir.is_dir():
        console.print("[red]no data directory: give it as the first argument (it holds paper-2507.17512/ and mbpp/)")
        return 2
    files = [(p, f, *need) for p, f, *need in FILES if not args.only or any(s in p for s in args.only.split(","))]
    missing = [p for p, *_ in files if not (args.data_dir / p).exists()]
    if missing:
        console.print(f"[red]missing under {args.data_dir}: {', '.join(missing)}")
        return 2

    service = None
    url = args.url
    if url is None:
        from reward_client.local import start_service

        service = start_service(Path(tempfile.mkdtemp(prefix="realdata-")))
        url = service.url
    report: dict[str, Any] = {"data_dir": str(args.data_dir), "url": url, "files": []}
    started = time.monotonic()
    try:
        with RewardClient(url, batch_size=64, concurrency=4, deadline_s=3600) as client, Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            for relative, fmt, *need in files:
                path = args.data_dir / relative
                tasks, loaded = load_tasks(SourceSpec.parse(f"{fmt}={path}"), progress=False)
                if args.limit:
                    tasks = tasks[: args.limit]
                cases = cases_for(tasks)
                results = score_cases(client, cases, progress, relative)
                report["files"].append({
                    "file": relative, "format": fmt, "need": need[0] if need else 1.0,
                    "converted": loaded.converted, "skipped": dict(loaded.skipped),
                    "cases": len(cases), **summarise(cases, results),
                })
            report["math_verify"] = math_verify_agreement(client)
    finally:
        if service is not None:
            service.stop()
    report["seconds"] = round(time.monotonic() - started, 1)
    print_report(console, report)
    write_reports(report, args.out)
    console.print(f"report: {args.out / 'report.md'}, plot: {args.out / 'report.png'}")
    short = [f"{file['file']} {form['source']} {form['form']}: {form['hold']} / {form['cases']}"
             for file in report["files"] for form in file["forms"] if not holds(form, file["need"])]  # fmt: skip
    for line in short:
        console.print(f"[red]below the share that must hold: {line}")
    return 0 if not short else 1


def holds(form: dict[str, Any], need: float) -> bool:
    return form["expect"] == "report" or form["hold"] >= need * form["cases"]


def print_report(console: Console, report: dict[str, Any]) -> None:
    table = Table(title="Real data: right answers score 1, altered ones less")
    for column in ("file", "rows", "skipped", "source", "form", "expect", "hold / cases", "%", "not scored"):
        table.add_column(column, justify="right" if column in ("rows", "skipped", "%", "not scored") else "left")
    for file in report["files"]:
        first = True
        for form in file["forms"]:
            share = 100.0 * form["hold"] / form["cases"] if form["cases"] else 0.0
            style = "" if holds(form, file["need"]) else "red"
            table.add_row(
                file["file"] if first else "", str(file["converted"]) if first else "",
                str(sum(file["skipped"].values())) if first else "", form["source"], form["form"], form["expect"],
                f"{form['hold']} / {form['cases']}", f"{share:.1f}", str(form["failed_to_score"]), style=style,
            )
            first = False
    console.print(table)
    mv = report.get("math_verify")
    if mv:
        console.print(f"Math-Verify's own test cases: {mv['agree']} / {mv['cases']} agree "
                      f"({100 * mv['agree'] / mv['cases']:.1f}%)")
    console.print(f"{report['seconds']} s in all")


if __name__ == "__main__":
    sys.exit(main())
