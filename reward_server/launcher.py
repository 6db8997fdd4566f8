"""Start and stop ``reward serve`` as a subprocess on a free port (tests, benchmarks, tools)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

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

    def stop(self) -> None:
        stop_service(self)


def start_service(
    log_dir: Path,
    env_overrides: dict[str, str] | None = None,
    args: list[str] | None = None,
    ready_timeout: float = 90.0,
    port: int | None = None,
) -> RunningService:
    """Start ``reward serve`` on ``port`` (default: a free one) and wait until ``/readyz`` answers 200."""
    port = port or free_port()
    env = {**os.environ, "REWARD_HOST": "127.0.0.1", **(env_overrides or {}), "REWARD_PORT": str(port)}
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"service-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "reward_server.cli", "serve", *(args or [])],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    running = RunningService(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"service exited with {process.returncode}:\n{running.log()}")
        try:
            if httpx.get(f"{running.url}/readyz", timeout=2).status_code == 200:
                return running
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_service(running)
    raise RuntimeError(f"service not ready in {ready_timeout} s:\n{running.log()}")


def stop_service(service: RunningService) -> None:
    """SIGTERM the service's process group, then SIGKILL what is left."""
    if service.process.poll() is None:
        try:
            os.killpg(service.process.pid, signal.SIGTERM)
            service.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait(timeout=5)
        except ProcessLookupError:
            pass
    # Children that outlived the leader (verifier processes) go with the group.
    try:
        os.killpg(service.process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
