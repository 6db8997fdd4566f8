"""The GRPO step with per-problem time limits from the references, next to the default ones.

``python -m bench.grpo_step --calibrated`` builds the step, calibrates the labels of its
prompts from their reference solutions (:mod:`trainer.data.calibrate`, in a service of its
own before the step), and sends the same samples twice to fresh services on this machine:
once with the default limits, once with the calibrated ones. Reports each side's wall
time, the CPU its programs took, latency percentiles, drain, wrong and missing rewards,
and the limits the step's prompts got. Writes limits_compare.json and .md under --out.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.grpo_step.report import cell
from bench.grpo_step.sides import report_sides, run_side
from bench.grpo_step.step import Sample
from trainer.data.calibrate import calibrate_rows, label_of
from trainer.data.limits import LimitPolicy
from trainer.data.tasks import Task


def _key(label: dict[str, Any]) -> str:
    plain = {k: v for k, v in label.items() if k not in ("reward", "time_limit_s", "time_limit_source")}
    return json.dumps(plain, sort_keys=True)


def calibrated_step(step: list[Sample], tasks: list[Task], policy: LimitPolicy, runs: int) -> tuple[list[Sample], list[float | None]]:  # fmt: skip
    """The step with its prompts' labels calibrated; and the limit each prompt got."""
    used = {_key(s.label) for s in step}
    chosen = [t for t in tasks if _key(t.label) in used and t.reference]
    rows = [{"label": t.label, "reference": t.reference} for t in chosen]
    calibration = calibrate_rows(rows, policy, runs=runs)
    new = {_key(t.label): label_of(row) for t, row in zip(chosen, calibration.rows, strict=True)}
    out = [replace(s, label={**new[_key(s.label)], "reward": s.label["reward"]}) if _key(s.label) in new else s
           for s in step]  # fmt: skip
    limits = [label_of(row).get("time_limit_s") for row in calibration.rows]
    return out, limits


def run_limits_comparison(step: list[Sample], tasks: list[Task], backend: str, workers: int, env: dict[str, str],
                          policy: LimitPolicy, runs: int, console: Console) -> dict[str, Any]:  # fmt: skip
    console.print(f"calibrating the step's prompts ({runs} runs of each reference) ...")
    started = time.monotonic()
    calibrated, limits = calibrated_step(step, tasks, policy, runs)
    calibration_s = time.monotonic() - started
    default, _ = run_side(step, backend, workers, env, "default limits", console)
    tuned, _ = run_side(calibrated, backend, workers, env, "calibrated limits", console)
    set_limits = sorted(v for v in limits if v is not None)
    return {
        "samples": len(step),
        "policy": {"multiple": policy.multiple, "floor_s": policy.floor_s, "ceiling_s": policy.ceiling_s},
        "calibration_s": round(calibration_s, 1),
        "prompts_calibrated": len(set_limits),
        "prompts_default": len(limits) - len(set_limits),
        "limits_s": {"min": set_limits[0], "p50": set_limits[len(set_limits) // 2], "max": set_limits[-1]}
        if set_limits
        else {},
        "default": default,
        "calibrated": tuned,
        "default_over_calibrated_wall": round(default["wall_s"] / tuned["wall_s"], 2)
        if tuned["wall_s"]
        else None,
    }


ROWS = (("step wall time, s", "wall_s"), ("programs' CPU, s", "programs_cpu_s"),
        ("latency p50 / p90 / p99, s", "latency_s"), ("drain after, s", "drain_s"),
        ("wrong rewards", "wrong_rewards"), ("of them unscored (queue deadline)", "unscored"),
        ("missing rewards", "missing"))  # fmt: skip


def report(figures: dict[str, Any], console: Console, out: Path) -> Path:
    policy = figures["policy"]
    summary = (
        f"default/calibrated wall: {figures['default_over_calibrated_wall']}x; policy {policy['multiple']:g}x, "
        f"floor {policy['floor_s']:g} s, ceiling {policy['ceiling_s']:g} s; prompts calibrated "
        f"{figures['prompts_calibrated']}, kept at the default {figures['prompts_default']}; limits "
        f"{cell(figures['limits_s'])} s (min / p50 / max); calibration took {figures['calibration_s']} s"
    )
    title = f"A GRPO step of {figures['samples']} samples under default and calibrated time limits"
    sides = (("default limits", "default"), ("calibrated limits", "calibrated"))
    return report_sides("limits_compare", figures, sides, ROWS, title, summary, out, console)
