"""Throughput of trivial programs through the whole service, against bare interpreter spawns.

A batch of N code items (a trivial stdin/stdout program, one test each, every item
distinct so the cache answers none) goes through ``POST /v1/score`` in requests of 64,
four in flight, as a trainer's client sends them: HTTP, the front, the code threads, the
sandbox (every layer on). The baseline runs the same N programs as bare ``python3 -I -S``
spawns, two at a time (one per core of the test machine), with no isolation at all. The
two alternate, in a shuffled order, for several rounds on the same machine; the ratio is
the median of the rounds' ratios. Target: the service at least 3x the spawns' throughput.

Run: ``.venv/bin/python -m bench.bench_service_code`` (part of ``make bench``).
"""

from __future__ import annotations

import concurrent.futures
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from reward_client.client import RewardClient
from reward_client.local import start_service

console = Console()
PROGRAM = "print(int(input()) + 1)"


def items(n: int, round_number: int) -> list[dict[str, Any]]:
    return [
        {
            "response": f"```python\n{PROGRAM}\n```",
            "label": {"domain": "code", "tests": {"inputs": [f"{round_number * n + i}\n"],
                                                  "outputs": [f"{round_number * n + i + 1}\n"]}},
        }
        for i in range(n)
    ]  # fmt: skip


def spawns(n: int, at_once: int) -> tuple[float, int]:
    def one(i: int) -> bool:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", PROGRAM], input=f"{i}\n", capture_output=True,
                              text=True, timeout=30)  # fmt: skip
        return done.stdout == f"{i + 1}\n"

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(at_once) as pool:
        right = sum(pool.map(one, range(n)))
    return time.perf_counter() - started, right


def main(quick: bool = False) -> dict[str, Any]:
    """Batches of ``n`` through the service and ``n`` spawns alternate, round by round, in
    a new order each round; the ratio is the median of the rounds' own ratios, so a slow
    moment of a shared machine falls on one round's pair, not on one side."""
    n, rounds = (200, 4) if quick else (400, 9)
    at_once = len(os.sched_getaffinity(0))
    service = start_service(Path(tempfile.mkdtemp(prefix="bench-service-code-")), ready_timeout=180)
    service_runs, spawn_runs, right = [], [], 0
    order = random.Random(7)
    try:
        with RewardClient(service.url, batch_size=64, concurrency=4) as client:
            client.score(items(64, 10_000))  # warm-up, not counted
            for r in range(rounds):
                for side in order.sample(["spawns", "service"], 2):
                    if side == "spawns":
                        spawn_runs.append(spawns(n, at_once)[0])
                        continue
                    started = time.perf_counter()
                    results = client.score(items(n, r), deadline_s=600)
                    service_runs.append(time.perf_counter() - started)
                    right = sum(1 for result in results if result.score == 1.0)
    finally:
        service.stop()
    service_s, spawn_s = statistics.median(service_runs), statistics.median(spawn_runs)
    ratio = round(statistics.median(b / a for a, b in zip(service_runs, spawn_runs, strict=True)), 2)
    spread = sorted(round(b / a, 2) for a, b in zip(service_runs, spawn_runs, strict=True))
    console.print(f"{n} trivial programs: service {service_s:.2f} s ({n / service_s:.0f}/s, {right} right), "
                  f"python3 -I -S x{at_once} {spawn_s:.2f} s ({n / spawn_s:.0f}/s): {ratio}x "
                  f"(rounds {spread[0]} to {spread[-1]})")  # fmt: skip
    return {
        "items": n, "rounds": rounds, "service_s": round(service_s, 3), "service_right": right,
        "spawn_s": round(spawn_s, 3), "spawns_at_once": at_once, "ratio": ratio, "round_ratios": spread,
        "ratios": [{"name": f"a batch of {n} trivial programs through POST /v1/score, throughput", "value": ratio,
                    "baseline": f"python3 -I -S spawns, {at_once} at a time, {spawn_s:.2f} s for {n}",
                    "target": ">= 3"}],
    }  # fmt: skip


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
