"""Math throughput of the service against math-verify called directly, in one run.

1. direct: math-verify in a single-process loop (parse gold, parse response, verify),
   the way a trainer's reward function usually calls it.
2. service, unique corpus, cache off: the same items through ``POST /v1/score``.
   Target: >= 0.8 x direct rate x verifier processes.
3. service, GRPO corpus (8 samples per prompt, duplicates included), cache on.
   Target: >= 1.5 x the direct rate on that corpus.
4. 1024 concurrent single-sample ``POST /reward`` requests the way OpenRLHF sends them
   (aiohttp, a new session per request): all answered, 0 errors, p50 and p99.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from reward_client.local import start_service

console = Console()

PROSE = (
    "Let me work through this carefully. First I restate the problem, then I simplify the expression "
    "step by step, checking each transformation. "
)


def _answer_pairs(rng: random.Random) -> tuple[str, str, str]:
    """(gold, an equivalent written differently, a wrong answer)."""
    kind = rng.randrange(7)
    a, b = rng.randint(2, 60), rng.randint(2, 60)
    if kind == 0:
        return str(a * b), str(a * b), str(a * b + 1)
    if kind == 1:
        return f"\\frac{{{a}}}{{{b}}}", f"\\frac{{{2 * a}}}{{{2 * b}}}", f"\\frac{{{a + 1}}}{{{b}}}"
    if kind == 2:
        return f"{a}\\sqrt{{2}}", f"\\sqrt{{{2 * a * a}}}", f"{a}\\sqrt{{3}}"
    if kind == 3:
        return f"x^2+{2 * a}x+{a * a}", f"(x+{a})^2", f"(x+{a + 1})^2"
    if kind == 4:
        return f"({a}, {b})", f"({a},{b})", f"({b}, {a + b})"
    if kind == 5:
        return f"{a}.5", f"\\frac{{{2 * a + 1}}}{{2}}", f"{a}.25"
    return f"\\pi/{b}", f"\\frac{{\\pi}}{{{b}}}", f"\\frac{{\\pi}}{{{b + 1}}}"


def make_corpus(n_prompts: int, samples_per_prompt: int, seed: int) -> list[dict[str, Any]]:
    """Items with R1-style responses; within a prompt, samples repeat as a GRPO group does."""
    rng = random.Random(seed)
    items = []
    for p in range(n_prompts):
        gold, same, wrong = _answer_pairs(rng)
        distinct = []
        for s in range(max(1, samples_per_prompt // 2)):
            answer = same if rng.random() < 0.5 else wrong
            think = PROSE * rng.randint(3, 10) + f"(prompt {p}, attempt {s})"
            distinct.append(f"<think>{think}</think>\nThe answer is $\\boxed{{{answer}}}$.")
        for s in range(samples_per_prompt):
            response = distinct[s % len(distinct)] if samples_per_prompt > 1 else distinct[0]
            items.append({"response": response, "label": {"domain": "math", "answer": gold}})
    return items


def direct_rate(items: list[dict[str, Any]]) -> tuple[float, list[bool]]:
    from math_verify import parse, verify

    verdicts = []
    started = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("math-verify, direct loop", total=len(items))
        for item in items:
            gold = parse(f"${item['label']['answer']}$")
            pred = parse(item["response"])
            verdicts.append(bool(verify(gold, pred)))
            progress.advance(task)
    return len(items) / (time.perf_counter() - started), verdicts


async def _service_rate(url: str, items: list[dict[str, Any]], batch: int, concurrency: int, label: str) -> tuple[float, list[str]]:
    chunks = [items[i : i + batch] for i in range(0, len(items), batch)]
    results: list[list[str]] = [[] for _ in chunks]
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=600) as client:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(label, total=len(items))

            async def send(i: int, chunk: list[dict[str, Any]]) -> None:
                async with semaphore:
                    response = await client.post("/v1/score", json={"items": chunk})
                    response.raise_for_status()
                    results[i] = [r["verdict"] for r in response.json()["results"]]
                    progress.advance(task, len(chunk))

            started = time.perf_counter()
            await asyncio.gather(*(send(i, c) for i, c in enumerate(chunks)))
            elapsed = time.perf_counter() - started
    return len(items) / elapsed, [v for chunk in results for v in chunk]


async def _openrlhf_burst(url: str, n: int) -> dict[str, Any]:
    import aiohttp

    corpus = make_corpus(n // 8, 8, seed=7)
    timeout = aiohttp.ClientTimeout(total=180)
    latencies: list[float] = []
    errors = 0

    async def one(item: dict[str, Any]) -> None:
        nonlocal errors
        prompt = "User: solve it.\nAssistant: "
        body = {"query": [prompt + item["response"]], "prompts": [prompt], "labels": [json.dumps(item["label"])]}
        started = time.perf_counter()
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.post(f"{url}/reward", json=body) as response:
                    response.raise_for_status()
                    data = await response.json()
                    if len(data["rewards"]) != 1:
                        errors += 1
        except Exception:
            errors += 1
        latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(item) for item in corpus))
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(corpus),
        "answered": len(corpus) - errors,
        "errors": errors,
        "p50_s": statistics.median(latencies),
        "p99_s": latencies[int(0.99 * (len(latencies) - 1))],
        "wall_s": wall,
    }


def main(quick: bool = False) -> dict[str, Any]:
    n_unique = 150 if quick else 600
    unique = make_corpus(n_unique, 1, seed=1)
    grpo = make_corpus(n_unique // 8, 8, seed=2)
    workers = int(os.environ.get("REWARD_POOL_WORKERS", os.cpu_count() or 1))

    console.rule("math: direct math-verify loop (baseline)")
    direct_unique, direct_verdicts = direct_rate(unique)
    direct_grpo, _ = direct_rate(grpo)

    log_dir = Path(tempfile.mkdtemp(prefix="bench-math-"))
    figures: dict[str, Any] = {"verifier_processes": workers, "items_unique": len(unique), "items_grpo": len(grpo)}

    service = start_service(log_dir, {"REWARD_CACHE_SIZE": "0", "REWARD_POOL_WORKERS": str(workers)}, ["--no-sandbox"])
    try:
        _, _ = asyncio.run(_service_rate(service.url, unique[:32], 16, 2, "warm-up"))
        rate_unique, verdicts = asyncio.run(_service_rate(service.url, unique, 25, 2 * workers, "service, cache off"))
    finally:
        service.stop()
    service = start_service(log_dir, {"REWARD_POOL_WORKERS": str(workers)}, ["--no-sandbox"])
    try:
        _, _ = asyncio.run(_service_rate(service.url, unique[:32], 16, 2, "warm-up"))
        rate_grpo, _ = asyncio.run(_service_rate(service.url, grpo, 64, 2 * workers, "service, GRPO corpus, cache on"))
        burst = asyncio.run(_openrlhf_burst(service.url, 1024))
    finally:
        service.stop()

    agree = sum((v == "correct") == d for v, d in zip(verdicts, direct_verdicts, strict=True)) / len(verdicts)
    figures.update(
        direct_rate=direct_unique,
        service_rate=rate_unique,
        ratio_vs_direct=rate_unique / direct_unique,
        ratio_vs_direct_per_worker=rate_unique / (direct_unique * workers),
        grpo_direct_rate=direct_grpo,
        grpo_service_rate=rate_grpo,
        grpo_ratio=rate_grpo / direct_grpo,
        verdict_agreement_with_direct=agree,
        burst=burst,
    )

    figures["ratios"] = [
        {
            "name": "service, cache off / (direct x verifier processes)",
            "value": figures["ratio_vs_direct_per_worker"],
            "baseline": f"math-verify direct loop, {direct_unique:.1f} items/s x {workers} processes",
            "target": ">= 0.8",
        },
        {
            "name": "GRPO corpus: service, cache on / direct",
            "value": figures["grpo_ratio"],
            "baseline": f"math-verify direct loop on the GRPO corpus, {direct_grpo:.1f} items/s",
            "target": ">= 1.5",
        },
        {
            "name": "1024 single-sample POST /reward: answered / sent",
            "value": burst["answered"] / burst["requests"],
            "baseline": f"{burst['requests']} requests sent at once (aiohttp, a session each)",
            "target": "== 1",
        },
    ]

    table = Table(title="Math throughput: service vs math-verify direct (same run)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_row("direct loop, items/s", f"{direct_unique:.1f}", "baseline")
    table.add_row(f"service ({workers} verifier processes), cache off, items/s", f"{rate_unique:.1f}", "")
    table.add_row("service / (direct x processes)", f"{figures['ratio_vs_direct_per_worker']:.2f}", ">= 0.80")
    table.add_row("GRPO corpus direct, items/s", f"{direct_grpo:.1f}", "baseline")
    table.add_row("GRPO corpus service, cache on, items/s", f"{rate_grpo:.1f}", "")
    table.add_row("GRPO service / direct", f"{figures['grpo_ratio']:.2f}", ">= 1.50")
    table.add_row("verdicts agreeing with direct math-verify", f"{agree:.1%}", "")
    table.add_row("1024 single-sample POST /reward: answered", f"{burst['answered']}/{burst['requests']}", "all")
    table.add_row("  errors", str(burst["errors"]), "0")
    table.add_row("  p50 / p99 latency, s", f"{burst['p50_s']:.2f} / {burst['p99_s']:.2f}", "< 180")
    console.print(table)
    return figures


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
