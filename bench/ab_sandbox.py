"""Two versions of the sandbox side by side: which one runs a trivial program faster.

Each directory given holds a ``sandbox`` package (a checkout of this repository, e.g.
``git worktree add /tmp/before HEAD~3``; the C fast path is used when built there:
``make install`` or ``pip install -e .`` in it). Each version gets a pool of one slot in
a process of its own; blocks of back-to-back runs alternate between the versions, in a
shuffled order each round, so load from other work on a shared machine falls on all
alike. Reported per version: the median latency and the CPU time per run of the pool's
processes (fork server, zygote and its children, sweeper) plus the caller's.

Run: ``.venv/bin/python -m bench.ab_sandbox DIR_A DIR_B [--rounds 20] [--block 40]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

_WORKER = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
from sandbox import RunRequest, SandboxPool
tick = 1 / os.sysconf("SC_CLK_TCK")
def cpu(pid, with_children=False):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    used = int(fields[11]) + int(fields[12])
    return (used + (int(fields[13]) + int(fields[14]) if with_children else 0)) * tick
with SandboxPool(size=1) as pool:
    processes = [(p, False) for p in pool.worker_pids() + pool.sweeper_pids()] + [(p, True) for p in pool.zygote_pids()]
    for _ in range(20):
        pool.run(RunRequest(source="print(1)"))
    print(json.dumps({"native_setup": getattr(pool, "native_setup", False)}), flush=True)
    for line in sys.stdin:
        before, mine, walls = sum(cpu(*p) for p in processes), time.process_time(), []
        for _ in range(int(line)):
            start = time.perf_counter()
            result = pool.run(RunRequest(source="print(1)"))
            walls.append(time.perf_counter() - start)
            assert result.stdout == "1\n", result
        used = sum(cpu(*p) for p in processes) - before + time.process_time() - mine
        print(json.dumps({"walls": walls, "cpu_s": used}), flush=True)
"""


def compare(directories: list[str], rounds: int, block: int) -> dict[str, dict[str, float]]:
    workers = {}
    for directory in directories:
        process = subprocess.Popen(
            [sys.executable, "-c", _WORKER, directory], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        first = process.stdout.readline()
        if not first:
            raise SystemExit(f"the sandbox in {directory} did not start (its error is above)")
        workers[directory] = (process, json.loads(first))
    walls: dict[str, list[float]] = {d: [] for d in directories}
    cpu = dict.fromkeys(directories, 0.0)
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("alternating blocks", total=rounds * len(directories))
            for _ in range(rounds):
                for directory in random.sample(directories, len(directories)):
                    process = workers[directory][0]
                    process.stdin.write(f"{block}\n")
                    process.stdin.flush()
                    answer = json.loads(process.stdout.readline())
                    walls[directory] += answer["walls"]
                    cpu[directory] += answer["cpu_s"]
                    progress.advance(task)
    finally:
        for process, _ in workers.values():
            process.stdin.close()
            process.wait()
    return {
        d: {
            "median_ms": statistics.median(walls[d]) * 1000,
            "cpu_ms_per_run": cpu[d] / len(walls[d]) * 1000,
            "native_setup": workers[d][1]["native_setup"],
        }
        for d in directories
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directories", nargs=2, help="two directories, each holding a sandbox package")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--block", type=int, default=40, help="back-to-back runs per block")
    args = parser.parse_args()
    results = compare(args.directories, args.rounds, args.block)
    table = Table(title=f"trivial program, back to back, {args.rounds} rounds of {args.block} runs each")
    for column in ("sandbox", "median latency", "CPU per run", "C fast path"):
        table.add_column(column)
    for directory, figures in results.items():
        table.add_row(
            directory, f"{figures['median_ms']:.3f} ms", f"{figures['cpu_ms_per_run']:.3f} ms", str(figures["native_setup"])
        )
    Console().print(table)


if __name__ == "__main__":
    main()
