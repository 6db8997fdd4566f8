"""``python -m bench.grpo_step``: one GRPO code step through the service, as OpenRLHF sends it,
next to the study's own per-test subprocess reward on the same samples.

Reports wrong rewards (against each sample's known right reward), missing rewards, the
step's wall time next to its CPU floor (the CPU its programs took, over the cores), latency
percentiles, the time the service takes to drain after the step, and the latency of a
lone request right after it. Writes report.json, report.md and report.png under --out.

    python -m bench.grpo_step                                  # embedded service, CodeR1-12k test split
    python -m bench.grpo_step --backend rq --rq-workers 4      # API + 4 workers on this machine
    python -m bench.grpo_step --url http://host:8000 --no-study
    python -m bench.grpo_step --audit-compare                 # the audit at 2 % and off, side by side
    python -m bench.grpo_step --calibrated                    # time limits from the references and default
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench.grpo_step.burst import drain_seconds, lone_request, send_step
from bench.grpo_step.cluster import Cluster, stopped_on_exit
from bench.grpo_step.report import print_report, write_report
from bench.grpo_step.sides import judge, percentile
from bench.grpo_step.step import Sample, build_step
from bench.grpo_step.study import study_rewards
from trainer.data.build import SourceSpec, load_tasks
from trainer.data.tasks import Task

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data" / "paper-2507.17512" / "code-r1-12k" / "test.parquet"
FIXTURE = REPO / "tests" / "data" / "realdata" / "coder1_test.jsonl"


def progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)  # fmt: skip


def run_service_step(url: str, step: list[Sample], console: Console) -> dict[str, Any]:
    with progress_bar(console) as progress:
        task = progress.add_task("service: 1 request per sample", total=len(step))
        started = time.monotonic()
        answers = asyncio.run(send_step(url, step, lambda: progress.advance(task)))
        wall = time.monotonic() - started
    with console.status("waiting for the service to drain, then rechecking wrong rewards alone"):
        return _service_figures(url, step, answers, wall, drain_seconds(url))


def _service_figures(
    url: str, step: list[Sample], answers: list, wall: float, drain: float | None
) -> dict[str, Any]:
    wrong = [(s, a) for s, a in zip(step, answers, strict=True) if a.reward is not None and a.reward != s.expected_reward]
    rechecked = recheck_alone(url, [s for s, _ in wrong[:20]])
    right = next(s for s in step if s.kind == "correct")
    lone_latency, lone_reward = lone_request(url, right)
    latencies = [a.latency_s for a in answers]
    # The CPU the step's programs took: an answer from the cache (identical samples of a
    # group) reports the CPU of the run it shares, which is counted once.
    cpu = sum(a.extra.get("run_cpu_s", 0.0) for a in answers if not a.extra.get("cached"))
    cores = len(os.sched_getaffinity(0))
    return {
        "wall_s": round(wall, 2),
        "cpu_floor_s": round(cpu / cores, 2),
        "wall_over_cpu_floor": round(wall / (cpu / cores), 3) if cpu else None,
        "programs_cpu_s": round(cpu, 2),
        "latency_s": {"p50": round(percentile(latencies, 0.5), 3), "p90": round(percentile(latencies, 0.9), 3),
                      "p99": round(percentile(latencies, 0.99), 3), "max": round(max(latencies), 3)},
        "retried_requests": sum(1 for a in answers if a.tries > 1),
        "answered_from_cache": sum(1 for a in answers if a.extra.get("cached")),
        "latencies_s": [round(v, 3) for v in latencies],
        "unscored": int(sum(a.extra.get("unscored", 0.0) for a in answers)),
        "drain_s": None if drain is None else round(drain, 2),
        "lone_request_s": round(lone_latency, 3),
        "lone_request_reward": lone_reward,
        **judge(step, [a.reward for a in answers]),
        "wrong_reward_samples": [
            {"kind": s.kind, "style": s.style, "reward": a.reward, "expected": s.expected_reward,
             "flags": {k: v for k, v in a.extra.items() if v and not k.startswith(("n_", "correct_", "format_ok_"))},
             "alone": alone}
            for (s, a), alone in zip(wrong, rechecked + [None] * len(wrong), strict=False)
        ],
    }


def recheck_alone(url: str, samples: list[Sample]) -> list[dict[str, Any]]:
    """Samples whose reward was wrong in the step, scored again one at a time (the
    verdict and reason say whether the step's load or the sample itself was the cause)."""
    found = []
    for sample in samples:
        item = {"response": sample.response, "label": sample.label, "prompt": f"[alone] {sample.prompt}"}
        result = httpx.post(f"{url}/v1/score", json={"items": [item]}, timeout=300).json()["results"][0]
        found.append({"reward": result["reward"], "verdict": result["verdict"],
                      "reason": str(result["details"].get("reason"))[:300]})
    return found


def run_study_step(step: list[Sample], console: Console) -> dict[str, Any]:
    with progress_bar(console) as progress:
        task = progress.add_task("study: python3 per test, 8 threads", total=len(step))
        started = time.monotonic()
        rewards = study_rewards(step, lambda: progress.advance(task))
        wall = time.monotonic() - started
    return {"wall_s": round(wall, 2), **judge(step, list(rewards))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.grpo_step", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED if SHARED.exists() else FIXTURE,
                        help="a code dataset file (veRL / CodeR1-12k form, or --format)")
    parser.add_argument("--format", default="verl", help="its converter (verl, coder1, leetcode, mbpp)")
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", default=None, help="a running service (default: start one here)")
    parser.add_argument("--backend", choices=("embedded", "rq"), default="embedded")
    parser.add_argument("--rq-workers", type=int, default=2)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="settings of the started service")
    parser.add_argument("--no-study", dest="study", action="store_false", help="skip the study's subprocess reward")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "grpo_step")
    parser.add_argument("--audit-compare", action="store_true",
                        help="the step sent to a service with the audit off and one with it at --audit-rate")
    parser.add_argument("--audit-rate", type=float, default=0.02)
    parser.add_argument("--calibrated", action="store_true",
                        help="the step sent with the default time limits and with limits from the references")
    args = parser.parse_args(argv)
    console = Console()
    try:
        with stopped_on_exit(console):
            return chosen_run(args, console)
    except KeyboardInterrupt:
        return 130


def chosen_run(args: argparse.Namespace, console: Console) -> int:
    if args.audit_compare:
        return audit_compare(args, console)
    if args.calibrated:
        return limits_compare(args, console)
    figures = run(args, console)
    print_report(console, figures)
    write_report(figures, args.out)
    console.print(f"report: {args.out / 'report.md'}")
    return 0


def audit_compare(args: argparse.Namespace, console: Console) -> int:
    from bench.grpo_step.audit_cost import report, run_audit_comparison

    _, step, env = step_of(args)
    figures = run_audit_comparison(step, args.backend, args.rq_workers, env, args.audit_rate, console)
    console.print(f"report: {report(figures, console, args.out)}")
    return 0


def limits_compare(args: argparse.Namespace, console: Console) -> int:
    from bench.grpo_step.limits_compare import report, run_limits_comparison
    from trainer.data.limits import LimitPolicy

    tasks, step, env = step_of(args)
    figures = run_limits_comparison(step, tasks, args.backend, args.rq_workers, env, LimitPolicy(), 3, console)
    console.print(f"report: {report(figures, console, args.out)}")
    return 0 if figures["calibrated"]["wrong_rewards"] == figures["calibrated"]["missing"] == 0 else 1


def step_of(args: argparse.Namespace) -> tuple[list[Task], list[Sample], dict[str, str]]:
    """The tasks, the step built from them, and the services' extra environment."""
    console = Console(stderr=True)
    with console.status(f"reading {args.data}"):
        tasks, _ = load_tasks(SourceSpec.parse(f"{args.format}={args.data}"), progress=False)
    with console.status(f"building the step: {args.prompts} prompts x {args.samples} samples"):
        step = build_step(tasks, args.prompts, args.samples, args.seed)
    return tasks, step, dict(item.split("=", 1) for item in args.env)


def run(args: argparse.Namespace, console: Console) -> dict[str, Any]:
    _, step, env = step_of(args)
    figures: dict[str, Any] = {
        "data": str(args.data), "samples": len(step), "prompts": args.prompts, "cores": len(os.sched_getaffinity(0)),
        "backend": "url" if args.url else args.backend, "rq_workers": args.rq_workers if args.backend == "rq" else None,
    }  # fmt: skip
    if args.url:
        figures["service"] = run_service_step(args.url, step, console)
    else:
        with Cluster(Path(tempfile.mkdtemp(prefix="grpo-step-")), args.backend, args.rq_workers, env, console) as cluster:
            figures["service"] = run_service_step(cluster.url, step, console)
    if args.study:
        figures["study"] = run_study_step(step, console)
        figures["study_over_service_wall"] = round(figures["study"]["wall_s"] / figures["service"]["wall_s"], 2)
    return figures


if __name__ == "__main__":
    sys.exit(main())
