"""The FastAPI application."""

from __future__ import annotations

import secrets
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reward_server.execution import Backend, EmbeddedBackend, WorkItem
from reward_server.metrics import Metrics
from reward_server.settings import Settings
from services.api import RewardRequest, RewardResponse, ScoreRequest, ScoreResponse
from services.extraction import response_from_query

# Per-sample numbers returned in OpenRLHF's extra_logs (one list entry per query).
EXTRA_LOG_KEYS = ("correct", "partial", "format_ok", "format_error", "timeout", "error", "cached")


class BodySizeLimit:
    """Answer 413 for bodies over ``limit`` bytes, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._reject(send)
                return
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        body = f'{{"detail":"request body larger than {self.limit} bytes"}}'.encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass


def create_app(settings: Settings | None = None, backend: Backend | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()
    if backend is None:
        if settings.backend == "rq":
            from reward_server.rq_backend import RQBackend

            backend = RQBackend(settings, metrics)
        else:
            backend = EmbeddedBackend(settings, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await backend.start()
        try:
            yield
        finally:
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
    app.add_middleware(BodySizeLimit, limit=settings.max_request_bytes)

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

    @app.middleware("http")
    async def count_requests(request: Request, call_next):
        started = time.perf_counter()
        route = request.url.path
        try:
            response = await call_next(request)
        except Exception:
            metrics.requests.labels(route, "500").inc()
            raise
        metrics.requests.labels(route, str(response.status_code)).inc()
        metrics.request_seconds.labels(route).observe(time.perf_counter() - started)
        return response

    def check_batch_size(n: int) -> None:
        if n > settings.max_batch_items:
            raise HTTPException(status_code=413, detail=f"{n} items in one request; at most {settings.max_batch_items}")

    @app.post("/v1/score", response_model=ScoreResponse, dependencies=[Depends(require_key)])
    async def score(request: ScoreRequest) -> dict[str, Any]:
        """Score a batch of responses: one result per item, in order."""
        check_batch_size(len(request.items))
        request_layer = request.options.model_dump(exclude_unset=True) if request.options else None
        items = [WorkItem(it.response, it.label, it.prompt, (request_layer, it.options)) for it in request.items]
        return {"results": await backend.score(items)}

    async def reward(request: RewardRequest) -> dict[str, Any]:
        """OpenRLHF's remote reward: ``{query, prompts, labels}`` in, ``{rewards, scores, extra_logs}`` out."""
        check_batch_size(len(request.query))
        prompts = request.prompts or [None] * len(request.query)
        request_layer = request.options.model_dump(exclude_unset=True) if request.options else None
        items = [
            WorkItem(response_from_query(query, prompt), label, prompt, (request_layer,))
            for query, prompt, label in zip(request.query, prompts, request.labels, strict=True)
        ]
        results = await backend.score(items)
        extra_logs: dict[str, list[float]] = {key: [] for key in EXTRA_LOG_KEYS}
        for r in results:
            verdict = r["verdict"]
            extra_logs["correct"].append(float(verdict == "correct"))
            extra_logs["partial"].append(float(verdict == "partial"))
            extra_logs["format_ok"].append(float(r["format_ok"]))
            extra_logs["format_error"].append(float(verdict == "format_error"))
            extra_logs["timeout"].append(float(verdict == "timeout"))
            extra_logs["error"].append(float(verdict == "error"))
            extra_logs["cached"].append(float(r.get("cached", False)))
        return {
            "rewards": [r["reward"] for r in results],
            "scores": [r["score"] for r in results],
            "extra_logs": extra_logs,
        }

    for path in ("/reward", "/get_reward"):
        app.add_api_route(
            path, reward, methods=["POST"], response_model=RewardResponse, dependencies=[Depends(require_key)]
        )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Backends reachable and sandbox layers active."""
        report: dict[str, Any] = {"backend": backend.readiness()}
        ready = bool(report["backend"].get("ok"))
        sandbox_report = sandbox_readiness()
        if sandbox_report is not None:
            report["sandbox"] = sandbox_report
            ready = ready and bool(sandbox_report.get("ok"))
        report["status"] = "ready" if ready else "not ready"
        return JSONResponse(report, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def sandbox_readiness() -> dict[str, Any] | None:
    """The sandbox pool's layers, when this process runs one (None when it has none)."""
    try:
        import sandbox
    except ImportError:
        return None
    pool_getter = getattr(sandbox, "current_pool", None)
    pool = pool_getter() if pool_getter else None
    if pool is None:
        return {"ok": True, "started": False}
    layers = dict(pool.layers)
    return {"ok": True, "started": True, "layers": layers, "strict": getattr(pool, "strict", False)}
