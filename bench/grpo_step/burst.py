"""Sending a step as OpenRLHF 0.11 sends it, and watching the service drain.

Every sample is its own ``POST /reward`` (one query, one prompt, one label), all at once,
each on a new connection, with a 180 s client timeout and 5 tries 1 s apart; after that
the reward is missing (what breaks a training run). Latencies are per request, from
its first try to its answer.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.grpo_step.step import Sample

CLIENT_TIMEOUT_S = 180.0
TRIES = 5
RETRY_PAUSE_S = 1.0


@dataclass
class Answer:
    reward: float | None
    """None: no answer after every try."""
    latency_s: float
    tries: int
    extra: dict[str, float] = field(default_factory=dict)


def new_connections_client() -> httpx.AsyncClient:
    """One client whose every request opens a connection of its own, as OpenRLHF's do (a
    client per request would cost the sender more than the service: each builds an SSL
    context)."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    return httpx.AsyncClient(timeout=CLIENT_TIMEOUT_S, limits=limits)


async def send_one(client: httpx.AsyncClient, base_url: str, sample: Sample) -> Answer:
    started = time.monotonic()
    body = {"query": [sample.query], "prompts": [sample.prompt], "labels": [sample.label]}
    for attempt in range(1, TRIES + 1):
        try:
            reply = await client.post(f"{base_url}/reward", json=body, headers={"connection": "close"})
            if reply.status_code == 200:
                data = reply.json()
                extra = {k: v[0] for k, v in data["extra_logs"].items()}
                return Answer(data["rewards"][0], time.monotonic() - started, attempt, extra)
        except httpx.HTTPError:
            pass
        if attempt < TRIES:
            await asyncio.sleep(RETRY_PAUSE_S)
    return Answer(None, time.monotonic() - started, TRIES)


async def send_step(base_url: str, step: list[Sample], on_answer: Any = None) -> list[Answer]:
    async with new_connections_client() as client:

        async def one(sample: Sample) -> Answer:
            answer = await send_one(client, base_url, sample)
            if on_answer is not None:
                on_answer()
            return answer

        return list(await asyncio.gather(*(one(s) for s in step)))


def held_work(base_url: str) -> float:
    """Work the service still holds (items queued, running or being stopped; sandbox runs
    waiting or running), from its metrics."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(("reward_work_held{", "reward_sandbox_runs{")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def drain_seconds(base_url: str, limit_s: float = 300.0) -> float | None:
    """Seconds until the service holds no work, or None if it still does after ``limit_s``."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        if held_work(base_url) == 0:
            return time.monotonic() - started
        time.sleep(0.1)
    return None


def lone_request(base_url: str, sample: Sample) -> tuple[float, float | None]:
    """A right sample sent alone (its prompt made unique, so no cache answers it): latency and reward."""
    fresh = Sample(sample.kind, f"[{uuid.uuid4().hex}] {sample.prompt}", sample.response, sample.label,
                   sample.expected_reward, sample.style)  # fmt: skip

    async def alone() -> Answer:
        async with new_connections_client() as client:
            return await send_one(client, base_url, fresh)

    answer = asyncio.run(alone())
    return answer.latency_s, answer.reward
