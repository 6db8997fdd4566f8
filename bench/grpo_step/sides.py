"""What a step's answers measure (wrong and missing rewards, latency percentiles), and the
side-by-side comparisons: the same step sent to two fresh services that differ in one
setting, and the report of the two sides (a rich table, a .json and a .md under --out)."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.grpo_step.burst import Answer, drain_seconds, send_step
from bench.grpo_step.cluster import Cluster
from bench.grpo_step.report import cell
from bench.grpo_step.step import Sample


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def judge(step: list[Sample], rewards: list[float | None]) -> dict[str, Any]:
    """Wrong rewards (against each sample's known right one) and missing ones, by kind."""
    by_kind: dict[str, dict[str, int]] = {}
    for sample, reward in zip(step, rewards, strict=True):
        entry = by_kind.setdefault(sample.kind, {"samples": 0, "wrong_rewards": 0, "missing": 0})
        entry["samples"] += 1
        if reward is None:
            entry["missing"] += 1
        elif reward != sample.expected_reward:
            entry["wrong_rewards"] += 1
    return {
        "wrong_rewards": sum(e["wrong_rewards"] for e in by_kind.values()),
        "missing": sum(e["missing"] for e in by_kind.values()),
        "by_kind": by_kind,
    }


def run_side(
    step: list[Sample],
    backend: str,
    workers: int,
    env: dict[str, str],
    name: str,
    console: Console,
    measure: Callable[[str], dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], list[Answer]]:
    """One side: the step sent to a fresh service on this machine, and what it measured;
    ``measure`` reads more from the service (its URL) before it stops."""
    with Cluster(Path(tempfile.mkdtemp(prefix="grpo-side-")), backend, workers, env, console) as cluster:
        console.print(f"  {name}: {len(step)} requests ...")
        started = time.monotonic()
        answers = asyncio.run(send_step(cluster.url, step))
        wall = time.monotonic() - started
        drain = drain_seconds(cluster.url)
        measured = measure(cluster.url) if measure else {}
    latencies = [a.latency_s for a in answers]
    judged = judge(step, [a.reward for a in answers])
    figures = {
        "wall_s": round(wall, 2),
        # An answer from the cache reports the CPU of the run it shares: counted once.
        "programs_cpu_s": round(
            sum(a.extra.get("run_cpu_s", 0.0) for a in answers if not a.extra.get("cached")), 2
        ),
        "latency_s": {
            q: round(percentile(latencies, v), 3) for q, v in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
        },
        "drain_s": None if drain is None else round(drain, 2),
        "wrong_rewards": judged["wrong_rewards"],
        "missing": judged["missing"],
        # Items the service gave up on past its queue deadline: wrong rewards of its load, not its verdicts.
        "unscored": int(sum(a.extra.get("unscored", 0.0) for a in answers)),
        "wrong_by_kind": {k: e["wrong_rewards"] for k, e in judged["by_kind"].items() if e["wrong_rewards"]},
        **measured,
    }
    return figures, answers


def report_sides(
    stem: str,
    figures: dict[str, Any],
    sides: tuple[tuple[str, str], tuple[str, str]],
    rows: tuple[tuple[str, str], ...],
    title: str,
    summary: str,
    out: Path,
    console: Console,
) -> Path:
    """The two sides (``(column, key in figures)`` each) row by row, then the summary;
    writes ``out/<stem>.json`` and ``out/<stem>.md`` and returns the .md's path."""
    table = Table(title=title)
    for column in ("", *(column for column, _ in sides)):
        table.add_column(column)
    lines = [f"# {title}", "", f"| | {sides[0][0]} | {sides[1][0]} |", "|---|---:|---:|"]
    for name, key in rows:
        cells = [cell(figures[side][key]) for _, side in sides]
        table.add_row(name, *cells)
        lines.append(f"| {name} | {' | '.join(cells)} |")
    console.print(table)
    console.print(summary)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(figures, indent=1) + "\n")
    md = out / f"{stem}.md"
    md.write_text("\n".join([*lines, "", summary]) + "\n")
    return md
