"""Scale-out on one machine: code throughput with 2 rq workers vs 1, and the rq overhead.

1. Code items (CPU-bound programs, several stdin/stdout tests each) through the API in
   rq mode, first with one ``reward worker`` then with two (each worker: one verifier
   process, one sandbox slot). Target: 2 workers >= 1.7 x 1 worker.
2. The same batch of light items through the embedded service and through the rq
   backend with one worker: the time rq adds (Redis round trips, micro-batching).
Caches are off so every item is scored.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import redis
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from reward_client.local import REPO, start_service

console = Console()
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
NO_CACHE = {"REWARD_CACHE_SIZE": "0", "REWARD_REDIS_CACHE_TTL_S": "0"}

PRIME_COUNT = """```python
n = int(input())
sieve = bytearray([1]) * (n + 1)
sieve[0] = sieve[1] = 0
for i in range(2, int(n ** 0.5) + 1):
    if sieve[i]:
        sieve[i * i :: i] = bytearray(len(range(i * i, n + 1, i)))
count = 0
for i in range(n + 1):
    count += sieve[i]
print(count + {offset})
```"""


def _prime_count(n: int) -> int:
    sieve = bytearray([1]) * (n + 1)
    sieve[0] = sieve[1] = 0
    for i in range(2, int(n**0.5) + 1):
        if sieve[i]:
            sieve[i * i :: i] = bytearray(len(range(i * i, n + 1, i)))
    return sum(sieve)


def code_items(n: int) -> list[dict[str, Any]]:
    sizes = [150_000, 200_000, 250_000]
    outputs = [f"{_prime_count(s)}\n" for s in sizes]
    items = []
    for i in range(n):
        # A distinct program per item (the offset is 0), so nothing is answered from a cache.
        source = PRIME_COUNT.replace("{offset}", f"0 * {i}")
        items.append(
            {"response": source, "label": {"domain": "code", "tests": {"inputs": [f"{s}\n" for s in sizes], "outputs": outputs}}}
        )
    return items


def light_items(n: int) -> list[dict[str, Any]]:
    return [{"response": f"\\boxed{{{i}}}", "label": {"domain": "countdown", "target": i, "numbers": [i]}} for i in range(1, n + 1)]


def start_worker(log_dir: Path, name: str) -> subprocess.Popen:
    env = {**os.environ, **NO_CACHE, "REDIS_URL": REDIS_URL, "REWARD_POOL_WORKERS": "1", "REWARD_SANDBOX_WORKERS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "reward_server.cli", "worker"],
        cwd=REPO, env=env, stdout=open(log_dir / f"{name}.log", "wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_worker(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def wait_workers(url: str, n: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if httpx.get(f"{url}/readyz", timeout=5).json()["backend"].get("workers", 0) == n:
            return
        time.sleep(0.5)
    raise RuntimeError(f"expected {n} workers")


def run_batch(url: str, items: list[dict[str, Any]], per_request: int, label: str) -> tuple[float, list[str]]:
    chunks = [items[i : i + per_request] for i in range(0, len(items), per_request)]
    verdicts: list[list[str]] = [[] for _ in chunks]
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=len(items))

        def send(index: int) -> None:
            response = httpx.post(f"{url}/v1/score", json={"items": chunks[index]}, timeout=600)
            response.raise_for_status()
            verdicts[index] = [r["verdict"] for r in response.json()["results"]]
            progress.advance(task, len(chunks[index]))

        started = time.perf_counter()
        with ThreadPoolExecutor(len(chunks)) as pool:
            list(pool.map(send, range(len(chunks))))
        elapsed = time.perf_counter() - started
    return elapsed, [v for chunk in verdicts for v in chunk]


def main(quick: bool = False) -> dict[str, Any]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-rq-"))
    n_code = 24 if quick else 48
    code = code_items(n_code)
    light = light_items(64)
    figures: dict[str, Any] = {"code_items": n_code, "light_items": len(light)}

    # The light batch with the default micro-batch size: what a trainer's batch pays for rq.
    api = start_service(log_dir, {**NO_CACHE, "REWARD_BACKEND": "rq", "REDIS_URL": REDIS_URL}, ["--no-sandbox"])
    workers = [start_worker(log_dir, "worker-0")]
    try:
        wait_workers(api.url, 1)
        run_batch(api.url, light[:8], 8, "warm-up")
        rq_light_s, _ = run_batch(api.url, light, 64, "light batch, rq, 1 worker")
    finally:
        api.stop()

    # Code throughput: small micro-batches so both workers get an even share.
    api = start_service(
        log_dir,
        {**NO_CACHE, "REWARD_BACKEND": "rq", "REDIS_URL": REDIS_URL, "REWARD_RQ_BATCH_SIZE": "2"},
        ["--no-sandbox"],
    )
    try:
        wait_workers(api.url, 1)
        run_batch(api.url, code_items(4), 2, "warm-up")
        one_s, one_verdicts = run_batch(api.url, code, 4, "code, 1 worker")
        workers.append(start_worker(log_dir, "worker-1"))
        wait_workers(api.url, 2)
        run_batch(api.url, code_items(4), 2, "warm-up")
        two_s, two_verdicts = run_batch(api.url, code, 4, "code, 2 workers")
    finally:
        for w in workers:
            stop_worker(w)
        api.stop()
        client.flushdb()

    embedded = start_service(log_dir, {**NO_CACHE, "REWARD_POOL_WORKERS": "1", "REWARD_SANDBOX_WORKERS": "1"})
    try:
        run_batch(embedded.url, light[:8], 8, "warm-up")
        embedded_light_s, _ = run_batch(embedded.url, light, 64, "light batch, embedded")
    finally:
        embedded.stop()

    assert one_verdicts == ["correct"] * n_code and two_verdicts == ["correct"] * n_code
    figures.update(
        code_rate_1_worker=n_code / one_s,
        code_rate_2_workers=n_code / two_s,
        scaling_2_vs_1=one_s / two_s,
        light_batch_embedded_ms=embedded_light_s * 1000,
        light_batch_rq_ms=rq_light_s * 1000,
        rq_overhead_ms=(rq_light_s - embedded_light_s) * 1000,
        rq_vs_embedded_time_ratio=rq_light_s / embedded_light_s,
    )
    figures["ratios"] = [
        {"name": "code throughput, 2 rq workers vs 1", "value": figures["scaling_2_vs_1"], "baseline": "1 rq worker",
         "target": ">= 1.7"},
        {"name": "64-item batch time, rq (1 worker) vs embedded", "value": figures["rq_vs_embedded_time_ratio"],
         "baseline": "embedded service", "target": "overhead reported"},
    ]

    table = Table(title="rq workers on one machine (same run)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row("code items/s, 1 worker", f"{figures['code_rate_1_worker']:.2f}", "baseline")
    table.add_row("code items/s, 2 workers", f"{figures['code_rate_2_workers']:.2f}", "")
    table.add_row("2 workers / 1 worker", f"{figures['scaling_2_vs_1']:.2f}", ">= 1.70")
    table.add_row("64 light items, embedded, ms", f"{figures['light_batch_embedded_ms']:.0f}", "baseline")
    table.add_row("64 light items, rq + 1 worker, ms", f"{figures['light_batch_rq_ms']:.0f}", "")
    table.add_row("rq overhead for the batch, ms", f"{figures['rq_overhead_ms']:.0f}", "")
    console.print(table)
    return figures


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
