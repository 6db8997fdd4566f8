"""A local ``reward serve`` for the length of a run: tests, benchmarks, `make train`, evaluation.

The service runs as a subprocess of this checkout (its own process group, its log in a
file) on the port asked for, or a free one when that is taken; :func:`start_service`
returns once ``/readyz`` answers 200. It needs the service itself (this checkout, or the
service's distribution installed beside the client); the client alone can only talk to one.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def _service_root() -> Path:
    """Where the service's packages are: the checkout around ``client/reward_client/``, else
    the directory an installed service's ``reward_server`` package sits in."""
    here = Path(__file__).resolve().parent.parent
    for root in (here.parent, here):
        if (root / "reward_server").is_dir():
            return root
    spec = importlib.util.find_spec("reward_server")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve().parent
    return here


REPO = _service_root()
# The client's own source, on the service's path too so its commands (`reward eval`) use this copy.
CLIENT_ROOT = Path(__file__).resolve().parent.parent


class ServiceStartError(RuntimeError):
    """The local service exited, or was not ready in time; the message points at its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_ready(base: str, timeout: float = 10.0) -> tuple[bool, str]:
    """Whether ``base/readyz`` answers 200, and what it said otherwise."""
    try:
        response = httpx.get(f"{base}/readyz", timeout=timeout)
    except httpx.HTTPError as exc:
        return False, f"{base}/readyz: {type(exc).__name__}: {exc}"
    if response.status_code == 200:
        return True, "ready"
    return False, f"{base}/readyz answered {response.status_code}: {response.text[:400]}"


@dataclass
class RunningService:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_service(self)


def _pythonpath() -> str:
    parts = dict.fromkeys((str(REPO), str(CLIENT_ROOT), os.environ.get("PYTHONPATH", "")))
    return os.pathsep.join(p for p in parts if p)


def start_service(
    log_dir: Path,
    env_overrides: dict[str, str] | None = None,
    args: list[str] | None = None,
    ready_timeout: float = 90.0,
    port: int | None = None,
) -> RunningService:
    """Start ``reward serve`` (settings from ``env_overrides`` over this environment) on
    ``port``, or a free port when none is given or it is taken, and wait until it is ready."""
    if not port or not port_free(port):
        port = free_port()
    # The service of the checkout this code comes from, even when the environment's
    # editable install predates one of its packages.
    pythonpath = _pythonpath()
    env = {**os.environ, "REWARD_HOST": "127.0.0.1", "PYTHONPATH": pythonpath, **(env_overrides or {}),
           "REWARD_PORT": str(port)}  # fmt: skip
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"service-{port}.log"
    with open(log_path, "ab") as log:
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
    detail = "not started"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServiceStartError(f"`reward serve` exited with {process.returncode}; see {log_path}:\n{running.log()[-4000:]}")
        ready, detail = check_ready(running.url, timeout=2)
        if ready:
            return running
        time.sleep(0.2)
    stop_service(running)
    raise ServiceStartError(f"`reward serve` not ready after {ready_timeout:.0f} s ({detail}); see {log_path}")


def stop_service(service: RunningService) -> None:
    """SIGTERM the service's process group, then SIGKILL what is left (verifier processes
    that outlived the leader go with the group)."""
    stop_process_group(service.process, grace_s=15.0)


def start_worker(log_dir: Path, name: str, env_overrides: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a ``reward worker`` (its settings, Redis included, from ``env_overrides`` over
    this environment) in its own process group, logging to ``log_dir/name.log``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    pythonpath = _pythonpath()
    with open(log_dir / f"{name}.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "reward_server.cli", "worker"],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": pythonpath, **(env_overrides or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_process_group(process: subprocess.Popen, grace_s: float = 20.0) -> None:
    """SIGTERM a process started in its own group, then SIGKILL the group."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()
