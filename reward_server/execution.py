"""Execution backends: where items are scored and how their time limits are enforced.

The embedded backend (the default) keeps everything in this process's reach:

- math, CountDown and puzzle items run in a pebble process pool sized to the cores;
  a task that passes its time limit has its worker process killed and replaced, which
  is the only way to stop big-integer work such as ``9**9**9``;
- code items run on threads that wait on the sandbox pool, whose runs carry their own
  hard limits.

The event loop only awaits futures; it never runs a verifier.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import resource
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol

from pebble import ProcessExpired, ProcessPool

from reward_server.cache import ResultCache, item_key
from reward_server.metrics import Metrics
from reward_server.settings import Settings
from services.rewards import RewardOptions
from services.scoring import failure_result, label_domain, score_item, warm_up

# Modules each verifier process needs; the fork server imports them once.
PRELOAD = ["services.scoring", "services.domains.math", "services.domains.countdown"]
# Domains whose work happens in the sandbox rather than in the verifier processes.
SANDBOX_DOMAINS = frozenset({"code"})
# Times an item is scored again after its verifier process died under it, and after the
# whole pool had to be replaced.
CRASH_RETRIES = 1
BROKEN_POOL_RETRIES = 3
log = logging.getLogger("reward.execution")


@dataclass(slots=True)
class WorkItem:
    response: str
    label: Any
    prompt: str | None
    layers: tuple[dict[str, Any] | None, ...]


def _init_verifier_process(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):
        pass
    warm_up()


def _sandbox_slots() -> int:
    import sandbox

    pool = sandbox.current_pool()
    return pool.size if pool is not None else 0


class Backend(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def score(self, items: list[WorkItem]) -> list[dict[str, Any]]: ...
    def readiness(self) -> dict[str, Any]: ...


class EmbeddedBackend:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.base_options = RewardOptions(mode=settings.default_mode)
        self.cache = ResultCache(settings.cache_size)
        self._pool: ProcessPool | None = None
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None
        # Items handed to the verifier pool / to the sandbox threads and not yet answered.
        self._outstanding = 0
        self._outstanding_code = 0

    def _new_pool(self) -> ProcessPool:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return ProcessPool(
            max_workers=self.settings.pool_workers,
            max_tasks=self.settings.pool_max_tasks,
            initializer=_init_verifier_process,
            initargs=(self.settings.pool_memory_mb,),
            context=context,
        )

    def _replace_broken_pool(self, broken: ProcessPool) -> None:
        """pebble gives up on the whole pool when a process dies outside a task (killed
        while idle, say); put a new pool in its place and let the old one go."""
        if self._pool is not broken:
            return  # another item replaced it already
        log.warning("verifier pool broken (a process died outside a task); starting a new one")
        self.metrics.worker_restarts.labels("pool").inc()
        self._pool = self._new_pool()
        broken.stop()
        threading.Thread(target=broken.join, args=(10,), daemon=True).start()

    async def start(self) -> None:
        self._pool = self._new_pool()
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.settings.code_threads, thread_name_prefix="code-item"
        )
        self.metrics.pool_workers.set(self.settings.pool_workers)
        # One round trip per worker so the first real items find warm processes.
        warmups = [self._pool.schedule(warm_up) for _ in range(self.settings.pool_workers)]
        await asyncio.gather(*(asyncio.wrap_future(f) for f in warmups), return_exceptions=True)

    async def stop(self) -> None:
        if self._pool is not None:
            self._pool.stop()
            await asyncio.to_thread(self._pool.join, 10)
            self._pool = None
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None

    def readiness(self) -> dict[str, Any]:
        if self._pool is not None and not self._pool.active:
            self._replace_broken_pool(self._pool)
        alive = self._pool is not None and self._pool.active
        return {"ok": alive, "backend": "embedded", "verifier_processes": self.settings.pool_workers if alive else 0}

    def _timeout_for(self, domain: str, item: WorkItem) -> float:
        default = self.settings.code_item_timeout_s if domain in SANDBOX_DOMAINS else self.settings.item_timeout_s
        asked = None
        for layer in item.layers:
            if layer and isinstance(layer.get("timeout_s"), int | float):
                asked = float(layer["timeout_s"])
        if isinstance(item.label, dict) and isinstance(item.label.get("reward"), dict):
            value = item.label["reward"].get("timeout_s")
            if isinstance(value, int | float):
                asked = float(value)
        if asked is None or asked <= 0:
            return default
        return min(asked, self.settings.max_item_timeout_s)

    async def _run(self, item: WorkItem, domain: str) -> dict[str, Any]:
        assert self._pool is not None and self._threads is not None
        timeout = self._timeout_for(domain, item)
        args = (item.response, item.label, item.prompt, self.base_options, item.layers)
        if domain in SANDBOX_DOMAINS:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._threads, score_item, *args)
            self._outstanding_code += 1
            self._update_queue_depth()
            try:
                return await asyncio.wait_for(future, timeout)
            except TimeoutError:
                return self._failure("timeout", f"item took longer than {timeout:g} s", item)
            finally:
                self._outstanding_code -= 1
                self._update_queue_depth()
        self._outstanding += 1
        self._update_queue_depth()
        crashes = broken = 0
        try:
            while True:
                pool = self._pool
                try:
                    pebble_future = pool.schedule(score_item, args=args, timeout=timeout)
                except RuntimeError:  # the pool is in pebble's error state
                    broken += 1
                    if broken > BROKEN_POOL_RETRIES:
                        raise
                    self._replace_broken_pool(pool)
                    continue
                try:
                    return await asyncio.wrap_future(pebble_future)
                except TimeoutError:
                    self.metrics.worker_restarts.labels("timeout").inc()
                    return self._failure("timeout", f"item took longer than {timeout:g} s; its worker was killed", item)
                except ProcessExpired as exc:
                    # A verifier process that died under an item (killed, out of memory) costs
                    # the item nothing the first time: it is scored again on a fresh process.
                    self.metrics.worker_restarts.labels("crash").inc()
                    crashes += 1
                    if crashes > CRASH_RETRIES:
                        return self._failure(
                            "error", f"verifier process died {crashes} times (last exit code {exc.exitcode})", item
                        )
                except BrokenProcessPool:
                    broken += 1
                    if broken > BROKEN_POOL_RETRIES:
                        return self._failure("error", "verifier pool failed repeatedly", item)
                    self._replace_broken_pool(pool)
                except asyncio.CancelledError:
                    if pebble_future.cancelled() and not asyncio.current_task().cancelling():
                        continue  # cancelled by the replacement of a broken pool: run it again
                    pebble_future.cancel()
                    raise
        finally:
            self._outstanding -= 1
            self._update_queue_depth()

    def _update_queue_depth(self) -> None:
        """Items waiting for a free verifier process or sandbox slot (beyond those busy)."""
        slots = _sandbox_slots()
        waiting = max(0, self._outstanding - self.settings.pool_workers) + max(0, self._outstanding_code - slots)
        self.metrics.queue_depth.set(waiting)

    def _failure(self, verdict: str, reason: str, item: WorkItem) -> dict[str, Any]:
        return failure_result(verdict, reason, item.response, item.prompt, self.base_options, item.layers)

    async def _score_one(self, item: WorkItem) -> dict[str, Any]:
        started = time.perf_counter()
        domain = label_domain(item.label)
        self.metrics.in_flight.inc()
        try:
            if len(item.response) > self.settings.max_response_chars:
                result = self._failure(
                    "error", f"response longer than {self.settings.max_response_chars} characters", item
                )
                cached = False
            else:
                key = item_key(item.label, item.prompt, item.response, item.layers)
                try:
                    result, cached = await asyncio.wait_for(
                        self.cache.get_or_compute(key, lambda: self._run(item, domain)),
                        self.settings.queue_deadline_s,
                    )
                except TimeoutError:
                    result, cached = (
                        self._failure("timeout", f"not answered within {self.settings.queue_deadline_s:g} s", item),
                        False,
                    )
        finally:
            self.metrics.in_flight.dec()
        elapsed = time.perf_counter() - started
        (self.metrics.cache_hits if cached else self.metrics.cache_misses).inc()
        self.metrics.items.labels(domain, result["verdict"]).inc()
        self.metrics.item_seconds.labels(domain).observe(elapsed)
        if result["verdict"] == "timeout":
            self.metrics.timeouts.labels(domain).inc()
        return {**result, "latency_ms": round(elapsed * 1000, 3), "cached": cached}

    async def score(self, items: list[WorkItem]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(self._score_one(item) for item in items)))
