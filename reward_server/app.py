"""The FastAPI application: the engine (:mod:`reward_server.engine`) behind the routers."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from reward_server import ops_routes, run_code, scoring_routes
from reward_server.engine import Engine
from reward_server.errors import register_error_handlers
from reward_server.front import Backend
from reward_server.middleware import BodySizeLimit, RequestMetrics
from reward_server.settings import Settings


def create_app(settings: Settings | None = None, backend: Backend | None = None) -> FastAPI:
    """The service on ``backend`` (default: the one the settings name), with the audit."""
    engine = Engine.build(settings or Settings(), backend, audit=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await engine.start()
        try:
            yield
        finally:
            await engine.stop()

    app = FastAPI(
        title="Verifiable reward service",
        version="0.1.0",
        description="Scores LLM rollouts for RL: math, CountDown, code and logic puzzles.",
        lifespan=lifespan,
    )
    app.state.engine = engine
    register_error_handlers(app)
    app.add_middleware(BodySizeLimit, limit=engine.settings.max_request_bytes)
    app.add_middleware(RequestMetrics, metrics=engine.metrics)
    app.include_router(scoring_routes.router)
    app.include_router(run_code.router)
    app.include_router(ops_routes.router)
    run_code.configure(app, max_run_timeout_s=engine.settings.max_item_timeout_s, concurrency=engine.settings.code_threads)
    return app
