"""What the audit (second opinions and canaries) costs a GRPO step, measured side by side.

``python -m bench.grpo_step --audit-compare`` sends the same step to two fresh services on
this machine, one with the audit off (``REWARD_AUDIT_RATE=0``, ``REWARD_CANARY_RATE=0``)
and one with it at ``--audit-rate`` (2 % by default, canaries at their default rate),
and reports each one's step wall time, latency percentiles and drain time (the audit's
work is held work too, so the drain includes it), the audit's own counts from
``/metrics``, and whether any sample's reward differs between the two (the audit must
change none). Writes audit_cost.json and audit_cost.md under --out.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench.grpo_step.burst import drain_seconds, send_step
from bench.grpo_step.cluster import Cluster
from bench.grpo_step.step import Sample

AUDIT_METRICS = (
    "reward_audit_items_total", "reward_audit_disagreements_total", "reward_audit_skipped_total",
    "reward_canary_runs_total", "reward_canary_failures_total",
)  # fmt: skip


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _audit_counts(url: str) -> dict[str, float]:
    counts = dict.fromkeys(AUDIT_METRICS, 0.0)
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in counts:
            counts[name] += float(line.rsplit(" ", 1)[1])
    return {k.removeprefix("reward_").removesuffix("_total"): v for k, v in counts.items()}


def _one_side(
    step: list[Sample], backend: str, workers: int, env: dict[str, str], console: Console
) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="grpo-audit-"))
    env = {**env, "REWARD_AUDIT_PATH": str(log_dir / "audit.jsonl")}
    with Cluster(log_dir, backend, workers, env) as cluster:
        console.print(f"  {env.get('REWARD_AUDIT_RATE')!s:>5} audit rate: {len(step)} requests ...")
        started = time.monotonic()
        answers = asyncio.run(send_step(cluster.url, step))
        wall = time.monotonic() - started
        drain = drain_seconds(cluster.url)
        counts = _audit_counts(cluster.url)
    latencies = [a.latency_s for a in answers]
    return {
        "wall_s": round(wall, 2),
        "latency_s": {
            q: round(_percentile(latencies, v), 3) for q, v in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
        },
        "drain_s": None if drain is None else round(drain, 2),
        "wrong_rewards": sum(1 for s, a in zip(step, answers, strict=True) if a.reward != s.expected_reward),
        "missing": sum(1 for a in answers if a.reward is None),
        "audit": counts,
        "rewards": [a.reward for a in answers],
    }


def run_audit_comparison(step: list[Sample], backend: str, workers: int, env: dict[str, str], rate: float,
                         console: Console) -> dict[str, Any]:  # fmt: skip
    off = _one_side(
        step, backend, workers, {**env, "REWARD_AUDIT_RATE": "0", "REWARD_CANARY_RATE": "0"}, console
    )
    on = _one_side(step, backend, workers, {**env, "REWARD_AUDIT_RATE": str(rate)}, console)
    changed = sum(1 for a, b in zip(off.pop("rewards"), on.pop("rewards"), strict=True) if a != b)
    return {
        "samples": len(step),
        "audit_rate": rate,
        "off": off,
        "on": on,
        "rewards_changed_by_the_audit": changed,
        "wall_on_over_off": round(on["wall_s"] / off["wall_s"], 3) if off["wall_s"] else None,
        "p99_on_over_off": round(on["latency_s"]["p99"] / off["latency_s"]["p99"], 3)
        if off["latency_s"]["p99"]
        else None,
    }


ROWS = (("step wall time, s", "wall_s"), ("latency p50 / p90 / p99, s", "latency_s"), ("drain after, s", "drain_s"),
        ("wrong rewards", "wrong_rewards"), ("missing rewards", "missing"))  # fmt: skip


def _cell(value: Any) -> str:
    return " / ".join(str(v) for v in value.values()) if isinstance(value, dict) else str(value)


def report(figures: dict[str, Any], console: Console, out: Path) -> None:
    table = Table(title=f"audit cost on a GRPO step of {figures['samples']} samples")
    for column in ("", "audit off", f"audit {figures['audit_rate']:.0%}"):
        table.add_column(column)
    lines = [f"# The audit's cost on a GRPO step of {figures['samples']} samples", "",
             f"| | audit off | audit {figures['audit_rate']:.0%} |", "|---|---:|---:|"]  # fmt: skip
    for name, key in ROWS:
        cells = (_cell(figures["off"][key]), _cell(figures["on"][key]))
        table.add_row(name, *cells)
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    console.print(table)
    audit = ", ".join(f"{k} {v:g}" for k, v in figures["on"]["audit"].items())
    summary = (
        f"wall on/off {figures['wall_on_over_off']}, p99 on/off {figures['p99_on_over_off']}; "
        f"rewards changed by the audit: {figures['rewards_changed_by_the_audit']}; audit counts: {audit}"
    )
    console.print(summary)
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit_cost.json").write_text(json.dumps(figures, indent=1) + "\n")
    (out / "audit_cost.md").write_text("\n".join([*lines, "", summary]) + "\n")
