"""The service a step is sent to when no URL is given: embedded, or an rq API with workers,
all on this machine (Redis at ``BENCH_REDIS_URL``, a database of its own, flushed)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType

import httpx
import redis

from reward_client.local import RunningService, start_service, start_worker, stop_process_group

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


class Cluster:
    def __init__(self, log_dir: Path, backend: str, workers: int, env: dict[str, str]) -> None:
        self.log_dir, self.backend, self.workers, self.env = log_dir, backend, workers, env
        self.api: RunningService | None = None
        self.worker_processes: list = []

    @property
    def url(self) -> str:
        assert self.api is not None
        return self.api.url

    def __enter__(self) -> Cluster:
        if self.backend == "embedded":
            self.api = start_service(self.log_dir, self.env, ready_timeout=180)
            return self
        redis.Redis.from_url(REDIS_URL).flushdb()
        settings = {"REDIS_URL": REDIS_URL, **self.env}
        self.api = start_service(self.log_dir, {**settings, "REWARD_BACKEND": "rq"}, ["--no-sandbox"], ready_timeout=180)
        self.worker_processes = [start_worker(self.log_dir, f"worker-{i}", settings) for i in range(self.workers)]
        deadline = time.monotonic() + 180
        while httpx.get(f"{self.url}/readyz", timeout=10).json()["backend"].get("workers", 0) < self.workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.workers} workers did not register; logs in {self.log_dir}")
            time.sleep(0.5)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        for process in self.worker_processes:
            stop_process_group(process)
        if self.api is not None:
            self.api.stop()
