"""Shared fixtures: a real service (``reward serve`` under uvicorn) on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from reward_client.local import RunningService, start_service, stop_service

__all__ = ["RunningService", "start_service", "stop_service"]


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """The service as `make serve` runs it (embedded execution), on a free port."""
    running = start_service(tmp_path_factory.mktemp("service"))
    yield running
    stop_service(running)


@pytest.fixture(scope="session")
def service_url(service: RunningService) -> str:
    return service.url


@pytest.fixture
def client(service_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service_url, timeout=120) as c:
        yield c
