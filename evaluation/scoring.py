"""Samples scored with the service's verifiers: in this process, or by a running service.

In-process scoring is the service's embedded execution without HTTP: the same front (result
cache, per-item time limits) and the same backend (a pool of verifier processes killed at
their time limit, the sandbox pool for programs), driven from an event loop of its own. A
trainer's service and ``reward eval`` thus give one sample the same verdict.

With a URL the samples go to ``POST /v1/score`` through :class:`reward_client.RewardClient`
(batches, retries, a deadline), to the deployment that scored the training rollouts.

Either way a result is ``{"reward", "score", "verdict", "format_ok", "details", ...}``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.rewards import RewardMode

IN_FLIGHT = 256
"""Samples handed to the in-process scorer at once: enough to keep every verifier process
and sandbox slot busy, few enough that none waits long for a slot."""
HTTP_CHUNK = 256
"""Samples per call to the service (the client splits them into requests)."""
NO_QUEUE_DEADLINE_S = 7 * 24 * 3600.0
"""In-process nothing waits on a client, so a sample is never given up for waiting; its own
running time is still limited by the item time limits."""


@dataclass(frozen=True)
class Sample:
    response: str
    label: Any
    prompt: str | None = None


def with_mode(label: Any, mode: RewardMode | None) -> Any:
    """For a running service: the label with its own reward mode removed when a mode is
    chosen for the whole run, so that every sample's reward is under that mode (the label's
    other options stay). HTTP requests have no layer over the label's; in-process scoring
    puts the mode there instead."""
    if mode is None:
        return label
    decoded = label
    if isinstance(label, str):
        try:
            decoded = json.loads(label)
        except json.JSONDecodeError:
            return label  # the verifier reports an unreadable label itself
    if not isinstance(decoded, dict) or not isinstance(decoded.get("reward"), dict) or "mode" not in decoded["reward"]:
        return label
    reward = {k: v for k, v in decoded["reward"].items() if k != "mode"}
    return {**decoded, "reward": reward} if reward else {k: v for k, v in decoded.items() if k != "reward"}


def score_samples(
    samples: list[Sample],
    *,
    url: str | None = None,
    mode: RewardMode | None = None,
    workers: int | None = None,
    api_key: str | None = None,
    advance: Callable[[int], None] = lambda n: None,
) -> list[dict[str, Any]]:
    """One result per sample, in order; ``advance(n)`` is called as samples finish."""
    if url:
        return _score_remote(samples, url, mode, api_key, advance)
    return _score_in_process(samples, mode, workers, advance)


def _score_remote(
    samples: list[Sample], url: str, mode: RewardMode | None, api_key: str | None, advance: Callable[[int], None]
) -> list[dict[str, Any]]:
    from reward_client import RewardClient

    options = {"mode": mode} if mode else None
    results: list[dict[str, Any]] = []
    with RewardClient(url, api_key=api_key, batch_size=64, concurrency=4, deadline_s=3600) as client:
        for start in range(0, len(samples), HTTP_CHUNK):
            chunk = samples[start : start + HTTP_CHUNK]
            items = [
                {"response": s.response, "label": with_mode(s.label, mode), **({"prompt": s.prompt} if s.prompt else {})}
                for s in chunk
            ]
            results.extend(r.model_dump() for r in client.score(items, options))
            advance(len(chunk))
    return results


def default_mode() -> str:
    """The mode in-process scoring uses when none is chosen (``REWARD_DEFAULT_MODE``, as the service)."""
    from reward_server.settings import Settings

    return Settings().default_mode


def start_sandbox() -> bool:
    """The sandbox's fork servers, started before the scoring threads (as ``reward serve``
    does); True when this call started them."""
    import sandbox

    started = sandbox.current_pool() is None
    sandbox.get_default_pool()
    return started


def stop_sandbox() -> None:
    import sandbox

    sandbox.close_default_pool()


def _score_in_process(
    samples: list[Sample], mode: RewardMode | None, workers: int | None, advance: Callable[[int], None]
) -> list[dict[str, Any]]:
    from reward_server.engine import Engine
    from reward_server.settings import Settings

    overrides: dict[str, Any] = {"queue_deadline_s": NO_QUEUE_DEADLINE_S}
    if workers:
        overrides["pool_workers"] = workers
    engine = Engine.build(Settings(**overrides), "embedded")
    # A mode chosen for the run is the last layer of every item's options, over its label's.
    last = ({"mode": mode},) if mode else ()
    items = [engine.decode(s.response, s.label, s.prompt, overrides=last) for s in samples]
    started_sandbox = any(item.sandbox for item in items) and start_sandbox()

    async def run() -> list[dict[str, Any]]:
        await engine.start()
        results: list[dict[str, Any] | None] = [None] * len(items)
        pending = iter(range(len(items)))

        async def drain() -> None:
            for index in pending:  # one iterator shared by every drain: each index taken once
                results[index] = (await engine.front.score([items[index]]))[0].to_json()
                advance(1)

        try:
            await asyncio.gather(*(drain() for _ in range(min(IN_FLIGHT, len(items)))))
        finally:
            await engine.stop()
        return [r for r in results if r is not None]

    try:
        return asyncio.run(run()) if items else []
    finally:
        if started_sandbox:  # a library caller gets its process back as it was
            stop_sandbox()
