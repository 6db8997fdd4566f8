"""How many sandbox slots per CPU: the measurement behind ``sandbox.sizing.SLOTS_PER_CPU``.

A burst of runs shaped like a GRPO code step is sent to pools of 1, 2, 4, 6 and 8 slots
per CPU, all at once (64 callers), one pool after the other:

* 80% correct programs that need 30 ms of CPU each;
* 10% crashing at once;
* 5% too slow by spinning (stopped by their 1 s CPU limit);
* 5% too slow by sleeping (stopped by the wall-clock limit, 1 s + 1 s).

Per pool: the burst's wall time against its CPU floor (the CPU its runs used, divided by
the CPUs), wrong outcomes (a correct program not ``ok``, a slow one not ``timeout``), and
the memory a slot takes (PSS of its fork server, zygote, sweeper and prepared children).
A second burst holds only correct CPU-bound programs (0.1 s of CPU each): more slots
than CPUs must neither cost throughput nor turn a correct program into a timeout.

Run: ``.venv/bin/python -m bench.bench_slots [--quick]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import random
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

console = Console()
RESULTS = Path(__file__).resolve().parent / "results"
FACTORS = (1, 2, 4, 6, 8)
SPIN = "import time\nwhile time.process_time() < {cpu}:\n    pass\nprint('done')\n"
KINDS = {
    "correct": (SPIN.format(cpu=0.03), "ok"),
    "crash": ("raise SystemExit('boom')", "runtime_error"),
    "spins": ("while True:\n    pass\n", "timeout"),
    "sleeps": ("import time\ntime.sleep(3600)\n", "timeout"),
}
MIX = {"correct": 0.80, "crash": 0.10, "spins": 0.05, "sleeps": 0.05}


def _burst(n: int, mix: dict[str, float], seed: int) -> list[str]:
    kinds = [kind for kind, share in mix.items() for _ in range(round(n * share))]
    random.Random(seed).shuffle(kinds)
    return kinds


def _slot_memory_mb(pool: Any) -> float:
    """PSS of the pool's processes (servers, zygotes, sweepers, prepared children) per slot."""
    helpers = set(pool.worker_pids() + pool.zygote_pids() + pool.sweeper_pids())
    zygotes = {str(z) for z in pool.zygote_pids()}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if fh.read().rsplit(")", 1)[1].split()[1] in zygotes:
                        helpers.add(int(entry))
            except (OSError, IndexError):
                pass
    total_kb = 0
    for pid in helpers:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                total_kb += sum(int(line.split()[1]) for line in fh if line.startswith("Pss:"))
        except OSError:
            pass
    return total_kb / 1024 / pool.size


def run_burst(slots: int, kinds: list[str], programs: dict[str, tuple[str, str]], progress: Progress) -> dict[str, Any]:
    from sandbox import RunRequest, SandboxPool

    cpus = len(os.sched_getaffinity(0))
    task = progress.add_task(f"{slots} slots", total=len(kinds))
    with SandboxPool(size=slots) as pool:
        pool.wait_started()
        memory = _slot_memory_mb(pool)

        def one(kind: str) -> tuple[str, Any]:
            result = pool.run(RunRequest(source=programs[kind][0], time_limit_s=1.0))
            progress.advance(task)
            return kind, result

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(64) as callers:
            outcomes = list(callers.map(one, kinds))
        wall = time.monotonic() - started
    progress.remove_task(task)
    cpu = sum(r.cpu_s for _, r in outcomes)
    wrong = [(k, r.status, r.reason) for k, r in outcomes if r.status != programs[k][1]]
    return {
        "slots": slots,
        "per_cpu": slots / cpus,
        "wall_s": round(wall, 2),
        "cpu_floor_s": round(cpu / cpus, 2),
        "wall_over_floor": round(wall / (cpu / cpus), 3),
        "wrong": len(wrong),
        "wrong_examples": wrong[:3],
        "slot_memory_mb": round(memory, 1),
    }


def main(quick: bool = False) -> dict[str, Any]:
    cpus = len(os.sched_getaffinity(0))
    n_mixed, n_cpu = (100, 40) if quick else (400, 200)
    mixed = _burst(n_mixed, MIX, seed=1)
    cpu_only = ["busy"] * n_cpu
    busy = {"busy": (SPIN.format(cpu=0.1), "ok")}
    figures: dict[str, Any] = {"cpus": cpus, "mixed": [], "cpu_only": []}
    with Progress(console=console, transient=True) as progress:
        for factor in FACTORS:
            figures["mixed"].append(run_burst(factor * cpus, mixed, KINDS, progress))
            figures["cpu_only"].append(run_burst(factor * cpus, cpu_only, busy, progress))

    table = Table(title=f"bursts on {cpus} CPUs: {n_mixed} mixed runs, {n_cpu} CPU-bound runs")
    for column in ("slots", "per CPU", "mixed: wall / CPU floor", "wrong", "CPU-bound: wall / floor", "wrong", "MB/slot"):
        table.add_column(column)
    for mixed_row, cpu_row in zip(figures["mixed"], figures["cpu_only"], strict=True):
        table.add_row(
            str(mixed_row["slots"]), f"{mixed_row['per_cpu']:g}",
            f"{mixed_row['wall_s']} s / {mixed_row['cpu_floor_s']} s = {mixed_row['wall_over_floor']}",
            str(mixed_row["wrong"]),
            f"{cpu_row['wall_s']} s / {cpu_row['cpu_floor_s']} s = {cpu_row['wall_over_floor']}",
            str(cpu_row["wrong"]), str(mixed_row["slot_memory_mb"]),
        )  # fmt: skip
    console.print(table)
    figures["plots"] = [str(_plot(figures))]
    baseline = figures["mixed"][0]
    best = min(figures["mixed"], key=lambda row: row["wall_s"])
    figures["ratios"] = [
        {
            "name": f"mixed burst, wall time at {best['per_cpu']:g} slots per CPU vs 1 per CPU",
            "value": round(best["wall_s"] / baseline["wall_s"], 3),
            "baseline": f"1 slot per CPU: {baseline['wall_s']} s",
            "target": "< 1",
        },
        {
            "name": "wrong outcomes, all pools and bursts",
            "value": sum(row["wrong"] for row in figures["mixed"] + figures["cpu_only"]),
            "baseline": "every correct program ok, every slow one a timeout",
            "target": "== 0",
        },
    ]
    return figures


def _plot(figures: dict[str, Any]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "slots.png"
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("mixed", "mixed burst (10% slow)"), ("cpu_only", "CPU-bound burst")):
        rows = figures[key]
        ax.plot([r["per_cpu"] for r in rows], [r["wall_over_floor"] for r in rows], marker="o", label=label)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xlabel("slots per CPU")
    ax.set_ylabel("burst wall time / CPU floor")
    ax.set_title(f"sandbox slots on {figures['cpus']} CPUs")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller bursts")
    main(quick=parser.parse_args().quick)
