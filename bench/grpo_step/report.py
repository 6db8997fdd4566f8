"""The GRPO-step report: a rich table, report.json, report.md and a latency plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROWS = (
    ("wrong rewards", "wrong_rewards"), ("missing rewards", "missing"), ("unscored (deadline)", "unscored"),
    ("step wall time, s", "wall_s"), ("CPU floor, s", "cpu_floor_s"), ("wall / CPU floor", "wall_over_cpu_floor"),
    ("latency p50 / p90 / p99 / max, s", "latency_s"), ("requests retried", "retried_requests"),
    ("drain after the step, s", "drain_s"), ("lone request after, s", "lone_request_s"),
)  # fmt: skip


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return " / ".join(str(v) for v in value.values())
    return "-" if value is None else str(value)


def rows(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    service, study = figures["service"], figures.get("study", {})
    return [(name, _cell(service.get(key)), _cell(study.get(key)) if key in study else "") for name, key in ROWS]


def print_report(console: Console, figures: dict[str, Any]) -> None:
    title = f"GRPO step: {figures['samples']} samples ({figures['prompts']} prompts), {figures['backend']}"
    if figures.get("rq_workers"):
        title += f" with {figures['rq_workers']} workers"
    table = Table(title=title)
    for column in ("", "this service", "study's reward (python3 per test)"):
        table.add_column(column)
    for row in rows(figures):
        table.add_row(*row)
    console.print(table)
    by_kind = figures["service"]["by_kind"]
    console.print("wrong rewards by kind: " + ", ".join(f"{k} {v['wrong_rewards']}/{v['samples']}" for k, v in by_kind.items()))


def write_report(figures: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(figures, indent=1) + "\n")
    lines = [f"# GRPO step: {figures['samples']} samples, backend {figures['backend']}", "",
             f"Data: `{figures['data']}`; {figures['cores']} cores.", "",
             "| | this service | study's reward |", "|---|---:|---:|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows(figures)]
    lines += ["", "| kind | samples | wrong rewards (service) | missing |", "|---|---:|---:|---:|"]
    for kind, entry in figures["service"]["by_kind"].items():
        lines.append(f"| {kind} | {entry['samples']} | {entry['wrong_rewards']} | {entry['missing']} |")
    (out / "report.md").write_text("\n".join(lines) + "\n")
