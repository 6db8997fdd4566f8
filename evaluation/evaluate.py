"""Problems with their samples in, the report out: score every sample, then sum up."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from evaluation.generations import Problem
from evaluation.metrics import benchmark_summary, summarise
from evaluation.scoring import Sample, default_mode, score_samples
from services.rewards import RewardMode
from trainer.data.io import write_jsonl


def progress_bar(console: Console, what: str, show: bool) -> Progress:
    """A rich progress bar over the samples being sampled or scored (on stderr when the console is)."""
    return Progress(
        TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, disable=not show,
    )


def evaluate(
    problems: list[Problem],
    *,
    name: str,
    url: str | None = None,
    mode: RewardMode | None = None,
    workers: int | None = None,
    api_key: str | None = None,
    console: Console | None = None,
    progress: bool = True,
    inputs: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The report (see :mod:`evaluation.metrics`) and one record per sample."""
    if not problems:
        raise ValueError("no problems to score")
    console = console or Console(stderr=True)
    samples = [Sample(r, p.label, p.prompt) for p in problems for r in p.responses]
    started = time.monotonic()
    with progress_bar(console, "scoring", progress) as bar:
        task = bar.add_task("scoring", total=len(samples))
        advance: Callable[[int], None] = lambda n: bar.advance(task, n)  # noqa: E731
        results = score_samples(samples, url=url, mode=mode, workers=workers, api_key=api_key, advance=advance)
    seconds = time.monotonic() - started

    per_problem: dict[str, list[list[dict[str, Any]]]] = defaultdict(list)
    domains: dict[str, list[str | None]] = defaultdict(list)
    records: list[dict[str, Any]] = []
    position = 0
    for problem in problems:
        mine = results[position : position + len(problem.responses)]
        position += len(problem.responses)
        per_problem[problem.benchmark].append(mine)
        domains[problem.benchmark].append(problem.label_domain)
        for index, result in enumerate(mine):
            records.append({
                "benchmark": problem.benchmark, "problem": problem.where, "sample": index,
                "score": result["score"], "reward": result["reward"], "verdict": result["verdict"],
                "format_ok": result["format_ok"], "reason": result.get("details", {}).get("reason"),
            })  # fmt: skip
    summary = summarise({b: benchmark_summary(b, domains[b], per_problem[b]) for b in per_problem})
    report = {
        "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "inputs": inputs or [],
        "scoring": f"by the service at {url}" if url else "in-process (embedded verifier pool and sandbox)",
        "mode": mode or ("the service's default" if url else default_mode()),
        "problems": len(problems),
        "samples": len(samples),
        "seconds": round(seconds, 1),
        **(extra or {}),
        **summary,
    }
    return report, records


def write_records(records: list[dict[str, Any]], out: Path) -> Path:
    path = out / "scores.jsonl"
    write_jsonl(path, records)
    return path
