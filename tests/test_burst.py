"""Right rewards when the service is busy: an item's limits count its own running time, an
item the service cannot reach in time is ``unscored`` (never passed off as wrong) and its
work stops, a client that leaves takes its work with it, and slow programs do not starve
fast ones. One sandbox slot makes the service busy with a handful of items."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from reward_client.local import RunningService, start_service, stop_service

BUSY = {"REWARD_SANDBOX_WORKERS": "1", "REWARD_CACHE_SIZE": "0", "REWARD_QUEUE_DEADLINE_S": "20"}
PROMPT = "... <answer> ... </answer> ...\nAssistant: <think>"


def code_item(program: str, tests: int = 1, time_limit_s: float = 4.0, timeout_s: float | None = None) -> dict:
    label: dict = {"domain": "code", "tests": {"inputs": [f"{i}\n" for i in range(tests)],
                                               "outputs": [f"{i}\n" for i in range(tests)]},
                   "time_limit_s": time_limit_s}  # fmt: skip
    if timeout_s is not None:
        label["reward"] = {"timeout_s": timeout_s}
    return {"response": f"done</think> <answer>```python\n{program}\n```</answer>", "label": label, "prompt": PROMPT}


ECHO = "print(input())"
BUSY_ECHO = "x = 0\nfor i in range(4_000_000):\n    x += i\nprint(input())"  # about 0.3 s of CPU
SPIN = "while True:\n    pass"
SLEEPY_ECHO = "import time\ntime.sleep(1.5)\nprint(input())"


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    service = start_service(tmp_path_factory.mktemp("busy"), BUSY)
    yield service
    stop_service(service)


def metric(url: str, name: str) -> float:
    total = 0.0
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_until_idle(url: str, limit_s: float = 120.0) -> None:
    """Until the service holds no work (bounded: a service that never drains fails here)."""
    deadline = time.monotonic() + limit_s
    while metric(url, "reward_work_held") + metric(url, "reward_sandbox_runs") > 0:
        assert time.monotonic() < deadline, "the service still holds work"
        time.sleep(0.1)


def test_waiting_for_a_slot_never_counts_against_an_item(busy):
    # Eight items on one slot: each needs about 0.3 s of CPU and may use 1 s (per test and
    # per item), while the last waits for the seven before it, several seconds in all.
    items = [code_item(BUSY_ECHO.replace("4_000_000", f"4_000_00{i}"), time_limit_s=1.0, timeout_s=1.0) for i in range(8)]
    results = httpx.post(f"{busy.url}/v1/score", json={"items": items}, timeout=300).json()["results"]
    assert [r["verdict"] for r in results] == ["correct"] * 8, results
    assert all(r["details"]["cpu_ms"] < 1000 for r in results)


def test_an_item_the_service_could_not_reach_is_unscored_and_its_work_stops(tmp_path):
    service = start_service(tmp_path, {**BUSY, "REWARD_QUEUE_DEADLINE_S": "3"})
    try:
        items = [code_item(SPIN, time_limit_s=30.0), code_item(ECHO)]
        results = httpx.post(f"{service.url}/v1/score", json={"items": items}, timeout=60).json()["results"]
        # The spinner held the only slot past the deadline; the echo never got it. Neither
        # is said to be wrong: both are unscored, with the failure reward.
        assert [r["verdict"] for r in results] == ["unscored", "unscored"], results
        assert all(r["score"] == 0.0 and "deadline" in r["details"]["reason"] for r in results)
        query = PROMPT + items[1]["response"]
        logs = httpx.post(f"{service.url}/reward", json={"query": [query, query], "prompts": [PROMPT, PROMPT],
                          "labels": [items[0]["label"], items[1]["label"]]}, timeout=60).json()["extra_logs"]  # fmt: skip
        assert logs["correct"] == [1.0, 1.0] and logs["unscored"] == [0.0, 0.0]  # the slot was freed
        assert metric(service.url, "reward_items_given_up_total") >= 2
        wait_until_idle(service.url)
    finally:
        stop_service(service)


def test_a_request_whose_client_leaves_gives_its_items_up(busy):
    before = metric(busy.url, "reward_requests_abandoned_total")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{busy.url}/v1/score", json={"items": [code_item(SPIN, time_limit_s=30.0)]}, timeout=1.5)
    deadline = time.monotonic() + 60
    while metric(busy.url, "reward_requests_abandoned_total") <= before:
        assert time.monotonic() < deadline, "the service did not notice the client leave"
        time.sleep(0.2)
    wait_until_idle(busy.url)
    # The spinner's slot is free again: a right answer is scored right away.
    result = httpx.post(f"{busy.url}/v1/score", json={"items": [code_item(ECHO)]}, timeout=60).json()["results"][0]
    assert result["verdict"] == "correct"


def test_a_burst_of_slow_programs_does_not_starve_a_fast_one(busy):
    wait_until_idle(busy.url)
    finished: list[str] = []

    async def send(client: httpx.AsyncClient, name: str, item: dict) -> None:
        reply = await client.post(f"{busy.url}/v1/score", json={"items": [item]})
        assert reply.json()["results"][0]["verdict"] == "correct"
        finished.append(name)

    async def burst() -> None:
        async with httpx.AsyncClient(timeout=300) as client:
            slow = [asyncio.create_task(send(client, f"slow {i}", code_item(SLEEPY_ECHO.replace("1.5", f"1.5{i}"), tests=3)))
                    for i in range(2)]  # fmt: skip
            while metric(busy.url, 'reward_sandbox_runs{state="running"}') < 1:
                await asyncio.sleep(0.05)
            fast = asyncio.create_task(send(client, "fast", code_item(ECHO)))
            await asyncio.gather(*slow, fast)

    asyncio.run(burst())
    # Each slow item still has tests to run when the fast one arrives; the fast one's run
    # goes ahead of them (it has held no slot yet), so it finishes first.
    assert finished[0] == "fast", finished


def test_verifier_lanes_give_a_slow_items_place_to_the_next_once_it_has_moved_aside():
    from reward_server.execution import Lanes

    async def scenario() -> None:
        lanes = Lanes(fresh=1, spare=1, slow_after_s=0.01)
        entered = {name: asyncio.Event() for name in "abc"}
        leave = {name: asyncio.Event() for name in "abc"}

        async def item(name: str) -> None:
            async with lanes.place():
                entered[name].set()
                await leave[name].wait()

        tasks = [asyncio.create_task(item("a"))]
        await asyncio.wait_for(entered["a"].wait(), 10)
        tasks.append(asyncio.create_task(item("b")))
        # a runs on, moved to the spare process, and b has the fresh one.
        await asyncio.wait_for(entered["b"].wait(), 10)
        assert lanes.slow == 1 and lanes.held == 2
        # b is slow too, but the spare process is a's: b keeps the fresh one and c waits.
        tasks.append(asyncio.create_task(item("c")))
        await asyncio.sleep(0.2)
        assert not entered["c"].is_set()
        leave["a"].set()  # a ends: b moves aside, c gets the fresh process
        await asyncio.wait_for(entered["c"].wait(), 10)
        assert lanes.slow == 1 and lanes.held == 2
        leave["b"].set()
        leave["c"].set()
        await asyncio.gather(*tasks)
        assert lanes.slow == 0 and lanes.held == 0

    asyncio.run(scenario())
