"""Shared fixtures: a real service (``reward serve`` under uvicorn) on a free port."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from reward_client.local import RunningService, start_service, stop_service

__all__ = ["RunningService", "start_service", "stop_service"]

# The audit's background work (second opinions, canaries: reward_server.audit) is random;
# services and apps the tests start have it off unless a test turns it on (tests/test_audit.py).
os.environ.setdefault("REWARD_AUDIT_RATE", "0")
os.environ.setdefault("REWARD_CANARY_RATE", "0")


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """The service as `make serve` runs it (embedded execution), on a free port."""
    running = start_service(tmp_path_factory.mktemp("service"))
    yield running
    stop_service(running)


# A service already running elsewhere: `make client-check` runs the adapter tests from a
# virtualenv that holds the client alone, which cannot start the service itself.
SERVICE_URL_ENV = "REWARD_TEST_SERVICE_URL"


@pytest.fixture(scope="session")
def service_url(request: pytest.FixtureRequest) -> str:
    external = os.environ.get(SERVICE_URL_ENV)
    if external:
        return external.rstrip("/")
    return request.getfixturevalue("service").url


@pytest.fixture
def client(service_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service_url, timeout=120) as c:
        yield c
