"""The scoring routes: ``POST /v1/score`` and OpenRLHF's ``POST /reward`` (also ``/get_reward``).

Each decodes its items once (:meth:`reward_server.engine.Engine.decode`), hands them to the
front, and writes the typed results at the edge. A client that leaves gives its items up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from reward_server import openrlhf
from reward_server.auth import require_key
from reward_server.engine import Engine
from reward_server.metrics import Metrics
from services.api import RewardRequest, RewardResponse, ScoreRequest, ScoreResponse
from services.result import Result

DISCONNECT_POLL_S = 1.0
CLIENT_GONE_STATUS = 499
"""What a request whose client left gets (nobody reads it; the status shows in the logs)."""

ANSWERS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body could not be read as JSON"},
    401: {"description": "missing or wrong API key (when the service has one)"},
    413: {"description": "more items, or a larger body, than the service takes in one request"},
    499: {"description": "the client left before the answer (nobody reads it)"},
}
router = APIRouter(dependencies=[Depends(require_key)], responses=ANSWERS)


def engine_of(request: Request) -> Engine:
    return request.app.state.engine


def check_batch_size(engine: Engine, n: int) -> None:
    if n > engine.settings.max_batch_items:
        raise HTTPException(status_code=413, detail=f"{n} items in one request; at most {engine.settings.max_batch_items}")


async def scored_while_connected(request: Request, scoring: Awaitable[list[Result]], metrics: Metrics) -> list[Result] | None:
    """The scoring's results, or None when the client went away first: then its items are
    given up (cancelled), so their queued and running work stops and frees its slots."""
    work = asyncio.ensure_future(scoring)

    async def client_gone() -> None:
        while not await request.is_disconnected():
            await asyncio.sleep(DISCONNECT_POLL_S)

    watch = asyncio.ensure_future(client_gone())
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
    if work.done():
        return work.result()
    work.cancel()
    metrics.requests_abandoned.inc()
    try:
        await work
    except asyncio.CancelledError:
        pass
    return None


@router.post("/v1/score", response_model=ScoreResponse)
async def score(request: ScoreRequest, http: Request) -> Any:
    """Score a batch of responses: one result per item, in order."""
    engine = engine_of(http)
    check_batch_size(engine, len(request.items))
    request_layer = request.options.model_dump(exclude_unset=True) if request.options else None
    items = [
        engine.decode(it.response, it.label, it.prompt, (request_layer, it.options), it.finish_reason == "length")
        for it in request.items
    ]
    results = await scored_while_connected(http, engine.front.score(items), engine.metrics)
    if results is None:
        return Response(status_code=CLIENT_GONE_STATUS)
    return {"results": [r.to_json() for r in results]}


async def reward(request: RewardRequest, http: Request) -> Any:
    """OpenRLHF's remote reward: ``{query, prompts, labels}`` in, ``{rewards, scores, extra_logs}`` out."""
    engine = engine_of(http)
    check_batch_size(engine, len(request.query))
    prompts = request.prompts or [None] * len(request.query)
    layer = request.options.model_dump(exclude_unset=True) if request.options else None
    items = [
        openrlhf.sample_item(engine, query, prompt, label, layer)
        for query, prompt, label in zip(request.query, prompts, request.labels, strict=True)
    ]
    results = await scored_while_connected(http, engine.front.score(items), engine.metrics)
    if results is None:
        return Response(status_code=CLIENT_GONE_STATUS)
    return openrlhf.answer(results, items)


for _path in ("/reward", "/get_reward"):
    router.add_api_route(_path, reward, methods=["POST"], response_model=RewardResponse)
