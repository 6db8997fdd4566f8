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

import tempfile
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from bench.grpo_step.sides import report_sides, run_side
from bench.grpo_step.step import Sample

AUDIT_METRICS = (
    "reward_audit_items_total", "reward_audit_disagreements_total", "reward_audit_skipped_total",
    "reward_canary_runs_total", "reward_canary_failures_total",
)  # fmt: skip


def _audit_counts(url: str) -> dict[str, float]:
    counts = dict.fromkeys(AUDIT_METRICS, 0.0)
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in counts:
            counts[name] += float(line.rsplit(" ", 1)[1])
    return {k.removeprefix("reward_").removesuffix("_total"): v for k, v in counts.items()}


def _side(step: list[Sample], backend: str, workers: int, env: dict[str, str], name: str,
          console: Console) -> tuple[dict[str, Any], list[float | None]]:  # fmt: skip
    env = {**env, "REWARD_AUDIT_PATH": str(Path(tempfile.mkdtemp(prefix="grpo-audit-")) / "audit.jsonl")}
    figures, answers = run_side(step, backend, workers, env, name, console, lambda url: {"audit": _audit_counts(url)})
    return figures, [a.reward for a in answers]


def run_audit_comparison(step: list[Sample], backend: str, workers: int, env: dict[str, str], rate: float,
                         console: Console) -> dict[str, Any]:  # fmt: skip
    off, off_rewards = _side(
        step, backend, workers, {**env, "REWARD_AUDIT_RATE": "0", "REWARD_CANARY_RATE": "0"}, "audit off", console
    )
    on, on_rewards = _side(step, backend, workers, {**env, "REWARD_AUDIT_RATE": str(rate)}, f"audit {rate:.0%}", console)
    changed = sum(1 for a, b in zip(off_rewards, on_rewards, strict=True) if a != b)
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


def report(figures: dict[str, Any], console: Console, out: Path) -> Path:
    audit = ", ".join(f"{k} {v:g}" for k, v in figures["on"]["audit"].items())
    summary = (
        f"wall on/off {figures['wall_on_over_off']}, p99 on/off {figures['p99_on_over_off']}; "
        f"rewards changed by the audit: {figures['rewards_changed_by_the_audit']}; audit counts: {audit}"
    )
    title = f"The audit's cost on a GRPO step of {figures['samples']} samples"
    sides = (("audit off", "off"), (f"audit {figures['audit_rate']:.0%}", "on"))
    return report_sides("audit_cost", figures, sides, ROWS, title, summary, out, console)
