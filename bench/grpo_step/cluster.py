"""The service a step is sent to when no URL is given: embedded, or an rq API with workers,
all on this machine (Redis at ``BENCH_REDIS_URL``, a database of its own, flushed).

Everything the bench starts (the service, its workers, the study's programs) runs in a
process group of its own, out of reach of the terminal's Ctrl-C; :func:`stopped_on_exit`
turns Ctrl-C and SIGTERM into an exception and, however the bench ends, stops every such
group it started."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import httpx
import redis
from rich.console import Console

from reward_client.local import RunningService, start_service, start_worker, stop_process_group

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")


class Cluster:
    def __init__(
        self, log_dir: Path, backend: str, workers: int, env: dict[str, str], console: Console | None = None
    ) -> None:
        self.log_dir, self.backend, self.workers, self.env = log_dir, backend, workers, env
        self.console = console or Console(stderr=True)
        self.api: RunningService | None = None
        self.worker_processes: list = []

    @property
    def url(self) -> str:
        assert self.api is not None
        return self.api.url

    def __enter__(self) -> Cluster:
        try:
            with self.console.status(f"starting the service ({self.backend}; logs in {self.log_dir})"):
                self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        if self.backend == "embedded":
            self.api = start_service(self.log_dir, self.env, ready_timeout=180)
            return
        redis.Redis.from_url(REDIS_URL).flushdb()
        settings = {"REDIS_URL": REDIS_URL, **self.env}
        self.api = start_service(self.log_dir, {**settings, "REWARD_BACKEND": "rq"}, ["--no-sandbox"], ready_timeout=180)
        self.worker_processes = [start_worker(self.log_dir, f"worker-{i}", settings) for i in range(self.workers)]
        deadline = time.monotonic() + 180
        while httpx.get(f"{self.url}/readyz", timeout=10).json()["backend"].get("workers", 0) < self.workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.workers} workers did not register; logs in {self.log_dir}")
            time.sleep(0.5)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        for process in self.worker_processes:
            stop_process_group(process)
        if self.api is not None:
            self.api.stop()


def started_groups() -> list[int]:
    """This process's children that lead a process group of their own: what it started in a
    new session (a service interrupted while it started is known by nothing else)."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me and int(fields[2]) == int(entry):
            found.append(int(entry))
    return found


def stop_started_groups(grace_s: float = 15.0) -> None:
    """SIGTERM every group :func:`started_groups` finds (a service shuts its pools down on
    it), then SIGKILL what is left of them after ``grace_s``."""
    groups = started_groups()
    for group in groups:
        try:
            os.killpg(group, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    alive = set(groups)
    while alive and time.monotonic() < deadline:
        for leader in list(alive):
            try:
                if os.waitpid(leader, os.WNOHANG)[0] == leader:
                    alive.discard(leader)
            except ChildProcessError:  # reaped by the thread that started it
                alive.discard(leader)
        time.sleep(0.1)
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for leader in alive:
        try:
            os.waitpid(leader, 0)
        except ChildProcessError:
            pass


class Stopped(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same cleanup runs."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise Stopped(f"signal {signum}")


@contextmanager
def stopped_on_exit(console: Console) -> Iterator[None]:
    """Run the bench; on Ctrl-C or SIGTERM, and whenever it ends, stop every process group it started."""
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        yield
    except KeyboardInterrupt:
        console.print("[yellow]stopped: stopping the service and the programs it started[/]")
        raise
    finally:
        # A second signal while the groups stop must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            stop_started_groups()
        finally:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, signal.default_int_handler)
