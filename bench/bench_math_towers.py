"""A correct math item sent behind answers too large to evaluate, through the whole service.

Four power towers and factorials (``\\boxed{5^{5^{5^{5^5}}}}``, ``9**9**9 is the answer``,
``\\boxed{10!!!!}``, ``\\boxed{(10^{10^{10}})!}``: each holds math-verify to the item's
limit) go to ``POST /v1/score`` in one request, and a correct neighbour (``\\boxed{2}``)
follows in another once the service holds them (its ``reward_items_in_flight``), so that
it queues behind them.
Its latency is compared with a lone correct item's on the same service, in the same run
(medians over the rounds; every item is distinct, so the cache answers none).

Three services, one after the other, each with 2 verifier processes for fresh items (the
2-core machine the problem was seen on) and the default item limit of 10 s:

- ``screen``: as shipped: the math screen answers the towers without parsing them.
  Target: the neighbour within 3x of a lone item.
- ``lanes``: the screen off (``REWARD_MATH_SCREEN=0``), the spare processes on (2): the
  towers reach math-verify and run to their limit; the first two move to the spare
  processes after ``REWARD_POOL_SLOW_AFTER_S``, the next two take the fresh ones, and the
  neighbour waits for the first kills: spare processes carry as many slow items as they
  are, no more (the screen is what keeps towers out of the pool).
- ``before``: the screen off and no spare processes, the pool as it was: the neighbour
  waits for two rounds of kills.

With the screen off, both services also take two towers (as many as the spare processes)
and a neighbour: the case the spare processes are for, a few slow answers the screen
does not read.

Run: ``.venv/bin/python -m bench.bench_math_towers`` (part of ``make bench``).
"""

from __future__ import annotations

import concurrent.futures
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from reward_client.local import start_service

console = Console()
TOWERS = ["\\boxed{5^{5^{5^{5^5}}}}", "9**9**9 is the answer", "\\boxed{10!!!!}", "\\boxed{(10^{10^{10}})!}"]
GOLD = {"domain": "math", "answer": "2"}
NEIGHBOUR_DELAY_S = 0.05
CONFIGS = {
    "screen": {},
    "lanes": {"REWARD_MATH_SCREEN": "0"},
    "before": {"REWARD_MATH_SCREEN": "0", "REWARD_POOL_SPARE_WORKERS": "0"},
}


def _post(url: str, tag: str, answers: list[str]) -> tuple[float, list[dict[str, Any]]]:
    # The tag in the think block makes every item distinct and leaves the answer region alone.
    items = [{"response": f"<think>{tag} {i}</think>{a}", "label": GOLD} for i, a in enumerate(answers)]
    started = time.perf_counter()
    answer = httpx.post(f"{url}/v1/score", json={"items": items}, timeout=120)
    answer.raise_for_status()
    return time.perf_counter() - started, answer.json()["results"]


def _wait_until_held(url: str, n: int, sent: concurrent.futures.Future, timeout_s: float = 30.0) -> None:
    """Until the service holds ``n`` items (queued or running, no longer on the wire), or
    has answered them already."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not sent.done():
        text = httpx.get(f"{url}/metrics", timeout=10).text
        match = re.search(r"^reward_items_in_flight ([0-9.e+]+)$", text, re.MULTILINE)
        if match and float(match.group(1)) >= n:
            return
        time.sleep(0.01)


def _round(url: str, tag: str, towers: list[str]) -> dict[str, Any]:
    lone_s = statistics.median(_post(url, f"lone {tag} {i}", ["\\boxed{2}"])[0] for i in range(3))
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        sent = pool.submit(_post, url, f"tower {tag}", towers)
        _wait_until_held(url, len(towers), sent)
        time.sleep(NEIGHBOUR_DELAY_S)
        neighbour_s, (near,) = pool.submit(_post, url, f"neighbour {tag}", ["\\boxed{2}"]).result()
        verdicts = [r["verdict"] for r in sent.result()[1]]
    assert near["verdict"] == "correct", near
    return {"lone_s": lone_s, "neighbour_s": neighbour_s, "tower_verdicts": verdicts}


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    lone_s = statistics.median(r["lone_s"] for r in runs)
    neighbour_s = statistics.median(r["neighbour_s"] for r in runs)
    return {"rounds": len(runs), "lone_s": round(lone_s, 4), "neighbour_s": round(neighbour_s, 4),
            "ratio": round(neighbour_s / lone_s, 2), "tower_verdicts": runs[-1]["tower_verdicts"]}  # fmt: skip


def measure(name: str, env: dict[str, str], rounds: int) -> dict[str, dict[str, Any]]:
    """Four towers on this service; with the screen off, two as well (as many as the spare processes)."""
    log_dir = Path(tempfile.mkdtemp(prefix=f"bench-math-towers-{name}-"))
    service = start_service(
        log_dir, {"REWARD_POOL_WORKERS": "2", "REWARD_ITEM_TIMEOUT_S": "10", **env}, ["--no-sandbox"]
    )
    figures = {}
    try:
        _round(service.url, f"{name} warm-up", ["\\boxed{3}"])
        figures[name] = _summary([_round(service.url, f"{name} {r}", TOWERS) for r in range(rounds)])
        if env.get("REWARD_MATH_SCREEN") == "0":
            two = [_round(service.url, f"{name} two {r}", TOWERS[:2]) for r in range(rounds)]
            figures[f"{name}_two_towers"] = _summary(two)
    finally:
        service.stop()
    return figures


def main(quick: bool = False) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name, env in CONFIGS.items():
        # The screened service is quick: more rounds; the others spend their item limit each round.
        rounds = (5 if quick else 15) if name == "screen" else 1
        console.rule(f"math towers: {name}")
        figures.update(measure(name, env, rounds))
    table = Table(title="A correct item behind towers: its latency / a lone item's (same service, same run)")
    for column in ("service", "lone item, s", "neighbour, s", "ratio", "tower verdicts"):
        table.add_column(column)
    for name, f in figures.items():
        table.add_row(
            name,
            f"{f['lone_s']:.3f}",
            f"{f['neighbour_s']:.3f}",
            f"{f['ratio']:.1f}",
            ", ".join(f["tower_verdicts"]),
        )
    console.print(table)

    def row(key: str, what: str, target: str) -> dict[str, Any]:
        f = figures[key]
        return {"name": f"math towers: neighbour / lone latency, {what}", "value": f["ratio"],
                "baseline": f"a lone correct item on the same service, {f['lone_s'] * 1000:.1f} ms "
                            f"(the neighbour: {f['neighbour_s']:.2f} s)", "target": target}  # fmt: skip

    figures["ratios"] = [
        row("screen", "4 towers, screen on", "<= 3"),
        row("lanes", "4 towers, screen off, 2 spare processes", "report"),
        row("before", "4 towers, screen off, no spare processes (the pool before)", "report"),
        row("lanes_two_towers", "2 towers, screen off, 2 spare processes", "report"),
        row("before_two_towers", "2 towers, screen off, no spare processes", "report"),
    ]
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(main(quick="--quick" in sys.argv), indent=2))
