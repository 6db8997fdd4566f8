"""Routes for operators: liveness, readiness, Prometheus metrics, the sandbox's languages."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from reward_server.auth import require_key
from reward_server.readiness import languages_report, sandbox_report

router = APIRouter()


@router.get("/v1/languages", dependencies=[Depends(require_key)], tags=["sandbox"])
async def languages() -> dict[str, Any]:
    """Every language of the sandbox (code labels' ``language``): installed on this host,
    version, aliases, compiled, and its ``/run_code`` names."""
    return await asyncio.to_thread(languages_report)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "not ready: the report says what is missing"}})
async def readyz(request: Request) -> JSONResponse:
    """Backends reachable and sandbox layers active."""
    report: dict[str, Any] = {"backend": request.app.state.engine.backend.readiness()}
    ready = bool(report["backend"].get("ok"))
    report["sandbox"] = await asyncio.to_thread(sandbox_report)  # versions: asked once, off the loop
    report["status"] = "ready" if ready else "not ready"
    return JSONResponse(report, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text exposition"}},
)
async def prometheus_metrics(request: Request) -> Response:
    """The service's metrics in Prometheus's text format."""
    return Response(generate_latest(request.app.state.engine.metrics.registry), media_type=CONTENT_TYPE_LATEST)
