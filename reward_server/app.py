"""The FastAPI application."""

from __future__ import annotations

import asyncio
import secrets
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from reward_server.audit import Auditor
from reward_server.errors import register_error_handlers
from reward_server.execution import EmbeddedBackend
from reward_server.front import Backend, Front
from reward_server.metrics import Metrics
from reward_server.middleware import BodySizeLimit, RequestMetrics
from reward_server.readiness import languages_report, sandbox_report
from reward_server.run_code import register_run_code
from reward_server.settings import Settings
from services.api import RewardRequest, RewardResponse, ScoreRequest, ScoreResponse
from services.extraction import DEFAULT_END_TOKENS, finished, response_from_query
from services.registry import DOMAINS
from services.rewards import RewardOptions
from services.scoring import WorkItem, decode_item

# Per-sample numbers returned in OpenRLHF's extra_logs (one list entry per query).
EXTRA_LOG_KEYS = (
    "correct",
    "partial",
    "format_ok",
    "format_error",
    "truncated",
    "timeout",
    "error",
    "unscored",
    "cached",
)


def openrlhf_extra_logs(items: list[WorkItem], results: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per-sample numbers for OpenRLHF's logs, with the same keys on every sample.

    OpenRLHF averages each key over the batch, so in a multi-domain run the per-domain
    rates come as pairs: ``correct_<domain> / n_<domain>`` is that domain's accuracy and
    ``format_ok_<domain> / n_<domain>`` its format rate. ``run_cpu_s`` is the CPU seconds a
    code sample's programs took (0 for other domains).
    """
    logs: dict[str, list[float]] = {key: [] for key in (*EXTRA_LOG_KEYS, "run_cpu_s")}
    for domain in DOMAINS:
        for prefix in ("n", "correct", "format_ok"):
            logs[f"{prefix}_{domain}"] = []
    for item, r in zip(items, results, strict=True):
        verdict = r["verdict"]
        flags = {
            "correct": verdict == "correct",
            "partial": verdict == "partial",
            "format_ok": r["format_ok"],
            "format_error": verdict == "format_error",
            "truncated": verdict == "truncated",
            "timeout": verdict == "timeout",
            "error": verdict == "error",
            "unscored": verdict == "unscored",
            "cached": r.get("cached", False),
        }
        for key, flag in flags.items():
            logs[key].append(float(flag))
        logs["run_cpu_s"].append(float(r["details"].get("cpu_ms", 0.0)) / 1000.0)
        domain = item.domain
        for d in DOMAINS:
            mine = d == domain
            logs[f"n_{d}"].append(float(mine))
            logs[f"correct_{d}"].append(float(mine and flags["correct"]))
            logs[f"format_ok_{d}"].append(float(mine and flags["format_ok"]))
    return logs


DISCONNECT_POLL_S = 1.0
CLIENT_GONE_STATUS = 499
"""What a request whose client left gets (nobody reads it; the status shows in the logs)."""


async def scored_while_connected(request: Request, scoring: Any, metrics: Metrics) -> Any:
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




def create_app(settings: Settings | None = None, backend: Backend | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()
    if backend is None:
        if settings.backend == "rq":
            from reward_server.rq_backend import RQBackend

            backend = RQBackend(settings, metrics)
        else:
            backend = EmbeddedBackend(settings, metrics)
    front = Front(settings, metrics, backend)
    auditor = Auditor(settings, metrics, backend, front.limit_for)
    front.observers.append(auditor.observe)
    base_options = RewardOptions(mode=settings.default_mode)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await backend.start()
        try:
            yield
        finally:
            await auditor.close()
            await backend.stop()

    app = FastAPI(
        title="Verifiable reward service",
        version="0.1.0",
        description="Scores LLM rollouts for RL: math, CountDown, code and logic puzzles.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.backend = backend
    app.state.front = front
    app.state.auditor = auditor
    register_error_handlers(app)
    app.add_middleware(BodySizeLimit, limit=settings.max_request_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)

    expected_key = settings.api_key.get_secret_value() if settings.api_key else None

    def require_key(request: Request) -> None:
        if expected_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip(), expected_key):
            raise HTTPException(
                status_code=401, detail="missing or wrong API key", headers={"WWW-Authenticate": "Bearer"}
            )

    def check_batch_size(n: int) -> None:
        if n > settings.max_batch_items:
            raise HTTPException(status_code=413, detail=f"{n} items in one request; at most {settings.max_batch_items}")

    @app.post("/v1/score", response_model=ScoreResponse, dependencies=[Depends(require_key)])
    async def score(request: ScoreRequest, http: Request) -> Any:
        """Score a batch of responses: one result per item, in order."""
        check_batch_size(len(request.items))
        request_layer = request.options.model_dump(exclude_unset=True) if request.options else None
        items = [
            decode_item(
                it.response,
                it.label,
                it.prompt,
                base_options,
                (request_layer, it.options),
                it.finish_reason == "length",
            )
            for it in request.items
        ]
        results = await scored_while_connected(http, front.score(items), metrics)
        return {"results": results} if results is not None else Response(status_code=CLIENT_GONE_STATUS)

    def reward_item(
        query: str, prompt: str | None, label: Any, request_layer: dict[str, Any] | None
    ) -> WorkItem:
        """An OpenRLHF sample; one that the length limit cut off is marked so (the query's
        special tokens tell: a finished response ends with an end token)."""
        item = decode_item(response_from_query(query, prompt), label, prompt, base_options, (request_layer,))
        end_tokens = item.options.end_tokens if item.options.end_tokens is not None else DEFAULT_END_TOKENS
        if item.error is None and finished(query, item.response, end_tokens) is False:
            item = decode_item(item.response, label, prompt, base_options, (request_layer,), truncated=True)
        return item

    async def reward(request: RewardRequest, http: Request) -> Any:
        """OpenRLHF's remote reward: ``{query, prompts, labels}`` in, ``{rewards, scores, extra_logs}`` out."""
        check_batch_size(len(request.query))
        prompts = request.prompts or [None] * len(request.query)
        request_layer = request.options.model_dump(exclude_unset=True) if request.options else None
        items = [
            reward_item(query, prompt, label, request_layer)
            for query, prompt, label in zip(request.query, prompts, request.labels, strict=True)
        ]
        results = await scored_while_connected(http, front.score(items), metrics)
        if results is None:
            return Response(status_code=CLIENT_GONE_STATUS)
        extra_logs = openrlhf_extra_logs(items, results)
        return {
            "rewards": [r["reward"] for r in results],
            "scores": [r["score"] for r in results],
            "extra_logs": extra_logs,
        }

    for path in ("/reward", "/get_reward"):
        app.add_api_route(
            path, reward, methods=["POST"], response_model=RewardResponse, dependencies=[Depends(require_key)]
        )

    register_run_code(app, require_key, max_run_timeout_s=settings.max_item_timeout_s, concurrency=settings.code_threads)

    @app.get("/v1/languages", dependencies=[Depends(require_key)], tags=["sandbox"])
    async def languages() -> dict[str, Any]:
        """Every language of the sandbox (code labels' ``language``): installed on this host,
        version, aliases, compiled, and its ``/run_code`` names."""
        return await asyncio.to_thread(languages_report)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Backends reachable and sandbox layers active."""
        report: dict[str, Any] = {"backend": backend.readiness()}
        ready = bool(report["backend"].get("ok"))
        report["sandbox"] = await asyncio.to_thread(sandbox_report)  # versions: asked once, off the loop
        report["status"] = "ready" if ready else "not ready"
        return JSONResponse(report, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
