"""Shared fixtures: a real service (``reward serve`` under uvicorn) on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningService:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_service(tmp_dir: Path, env_overrides: dict[str, str] | None = None, args: list[str] | None = None,
                  ready_timeout: float = 60.0) -> RunningService:
    """Start ``reward serve`` in a subprocess and wait until /readyz answers 200."""
    port = free_port()
    env = {**os.environ, "REWARD_PORT": str(port), "REWARD_HOST": "127.0.0.1", **(env_overrides or {})}
    log_path = tmp_dir / f"service-{port}.log"
    log = open(log_path, "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "reward_server.cli", "serve", *(args or [])],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return RunningService(url, process, log_path)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_service(RunningService(url, process, log_path))
    raise RuntimeError(f"service not ready in {ready_timeout} s:\n{log_path.read_text()}")


def stop_service(service: RunningService) -> None:
    if service.process.poll() is None:
        os.killpg(service.process.pid, signal.SIGTERM)
        try:
            service.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait(timeout=5)


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
