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


def cell(value: Any) -> str:
    if isinstance(value, dict):
        return " / ".join(str(v) for v in value.values())
    return "-" if value is None else str(value)


def rows(figures: dict[str, Any]) -> list[tuple[str, str, str]]:
    service, study = figures["service"], figures.get("study", {})
    return [(name, cell(service.get(key)), cell(study.get(key)) if key in study else "") for name, key in ROWS]


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
    lines += ["", "![step](report.png)"]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    plot(figures, out / "report.png")


def plot(figures: dict[str, Any], path: Path) -> None:
    """The step's wall time next to its CPU floor and the study's reward; latency CDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    service, study = figures["service"], figures.get("study")
    fig, (bars, cdf) = plt.subplots(1, 2, figsize=(11, 4))
    names = ["CPU floor", "this service"] + (["study's reward"] if study else [])
    values = [service["cpu_floor_s"], service["wall_s"]] + ([study["wall_s"]] if study else [])
    colours = ["#999999", "#4c9a2a"] + (["#c0392b"] if study else [])
    bars.bar(names, values, color=colours)
    for x, (value, who) in enumerate(zip(values, [None, service, study], strict=False)):
        wrong = f"\n{who['wrong_rewards']} wrong" if who else ""
        bars.text(x, value, f"{value:.0f} s{wrong}", ha="center", va="bottom")
    bars.set_ylim(0, max([*values, 180]) * 1.25)
    bars.axhline(180, color="black", linestyle=":", linewidth=1)
    bars.text(-0.45, 182, "OpenRLHF's 180 s timeout", ha="left", va="bottom", fontsize=8)
    bars.set_ylabel("seconds for the step")
    bars.set_title(f"{figures['samples']} samples, {figures['cores']} cores, {figures['backend']}")
    latencies = sorted(service.get("latencies_s") or [])
    if latencies:
        cdf.plot(latencies, [(i + 1) / len(latencies) for i in range(len(latencies))], color="#4c9a2a")
    cdf.set_xlabel("request latency, s")
    cdf.set_ylabel("share of requests answered")
    cdf.set_title("this service: latency of the step's requests")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
