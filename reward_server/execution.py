"""The embedded execution backend: items scored in this process's reach.

- math, CountDown and puzzle items run in a pebble process pool; a task that passes its
  time limit has its worker process killed and replaced, which is the only way to stop
  big-integer work such as ``9**9**9``. pebble's clock starts when a worker takes the
  task, so waiting for a free process never counts. The pool has two lanes
  (:class:`Lanes`): one process per core for items that have just started, and spare
  processes that an item moves to once it has run ``pool_slow_after_s``, so that a few
  slow items (a pathological answer the math screen does not read) never keep a correct
  neighbour waiting for their time limit;
- code items run on threads that wait on the sandbox pool, whose runs carry their own
  hard limits (CPU and wall clock per run); the code verifier counts only the time its
  runs took against the item's budget, never the wait for a slot.

The event loop only awaits futures; it never runs a verifier. What every backend shares
(cache, deadline, size check, metrics, failures) is the front's (:mod:`reward_server.front`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import resource
import threading
from collections.abc import AsyncIterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pebble import ProcessExpired, ProcessPool

from reward_server.metrics import Metrics
from reward_server.settings import Settings
from services.core import RunControl, Verdict
from services.registry import warm_up
from services.result import Opinion, Result
from services.scoring import WorkItem, failure_result
from services.second_opinion import run_item

# Modules each verifier process needs; the fork server imports them once.
PRELOAD = ["services.scoring", "services.domains.math", "services.domains.countdown", "math_verify", "sympy"]
# Times an item is scored again after its verifier process died under it, and after the
# whole pool had to be replaced.
CRASH_RETRIES = 1
BROKEN_POOL_RETRIES = 3
log = logging.getLogger("reward.execution")


def _init_verifier_process(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):
        pass
    warm_up()


class Lanes:
    """Admission to the verifier processes: ``fresh`` of them take the items that have just
    started, ``spare`` more take items that have already run ``slow_after_s``.

    An item holds a fresh place while it starts; once it has run ``slow_after_s`` it moves
    to a spare place when one is free (else when one frees), giving its fresh place to the
    next item. The pool has ``fresh + spare`` processes, so an admitted item always finds
    one free. Nothing happens to the moved item itself: it runs on, to its own limit.
    Event-loop state only (no locks)."""

    def __init__(self, fresh: int, spare: int, slow_after_s: float) -> None:
        self.fresh = fresh
        self.spare = spare
        self.slow_after_s = slow_after_s
        self._fresh_free = asyncio.Semaphore(fresh)
        self._spare_free = spare
        self._ripe: list[_Place] = []
        self.slow = 0
        self.held = 0

    @asynccontextmanager
    async def place(self) -> AsyncIterator[None]:
        await self._fresh_free.acquire()
        place = _Place()
        self.held += 1
        timer = asyncio.get_running_loop().call_later(self.slow_after_s, self._ripen, place) if self.spare else None
        try:
            yield
        finally:
            self.held -= 1
            if timer is not None:
                timer.cancel()
            if place in self._ripe:
                self._ripe.remove(place)
            if place.slow:
                self.slow -= 1
                self._spare_free += 1
                self._move_ripe()
            else:
                self._fresh_free.release()

    def _ripen(self, place: _Place) -> None:
        self._ripe.append(place)
        self._move_ripe()

    def _move_ripe(self) -> None:
        while self._spare_free and self._ripe:
            place = self._ripe.pop(0)
            place.slow = True
            self.slow += 1
            self._spare_free -= 1
            self._fresh_free.release()


@dataclass(eq=False, slots=True)
class _Place:
    slow: bool = False


def _sandbox_runs(state: str) -> int:
    import sandbox

    pool = sandbox.current_pool()
    return int(getattr(pool, state, 0) or 0) if pool is not None else 0


class EmbeddedBackend:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._pool: ProcessPool | None = None
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None
        spare = settings.pool_spare_workers or 0
        self._lanes = Lanes(settings.pool_workers, spare, settings.pool_slow_after_s)
        self._processes = settings.pool_workers + spare
        # Items handed to the verifier pool / to the sandbox threads and not yet answered,
        # and code items given up whose thread has not yet stopped.
        self._outstanding = 0
        self._outstanding_code = 0
        self._orphaned = 0
        for state in ("queued", "running", "orphaned"):
            metrics.work_held.labels(state).set_function(lambda state=state: self.held()[state])
        for state in ("waiting", "running"):
            metrics.sandbox_runs.labels(state).set_function(lambda state=state: _sandbox_runs(state))
        metrics.queue_depth.set_function(lambda: self.held()["queued"] + _sandbox_runs("waiting"))

    def _new_pool(self) -> ProcessPool:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return ProcessPool(
            max_workers=self._processes,
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
        warmups = [self._pool.schedule(warm_up) for _ in range(self._processes)]
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
        return {"ok": alive, "backend": "embedded", "verifier_processes": self._processes if alive else 0}

    async def execute(self, item: WorkItem) -> Result | Opinion:
        assert self._pool is not None and self._threads is not None
        if item.sandbox:
            return await self._on_thread(item)
        return await self._in_process(item)

    async def _on_thread(self, item: WorkItem) -> Result | Opinion:
        assert self._threads is not None
        control = RunControl(budget_s=item.budget_s)
        future = asyncio.get_running_loop().run_in_executor(self._threads, run_item, item, control)
        self._outstanding_code += 1
        try:
            return await future
        except asyncio.CancelledError:
            # Given up: an item still queued for a thread never starts, and the program of
            # one that runs is stopped (waiting for a slot or running), freeing its slot.
            control.cancel.set()
            if not future.cancel():
                self._orphaned += 1
                future.add_done_callback(lambda _: self._orphan_done())
            raise
        finally:
            self._outstanding_code -= 1

    async def _in_process(self, item: WorkItem) -> Result | Opinion:
        self._outstanding += 1
        try:
            async with self._lanes.place():
                return await self._on_pool(item)
        finally:
            self._outstanding -= 1

    async def _on_pool(self, item: WorkItem) -> Result | Opinion:
        """The item on a verifier process, killed past the item's budget (wall clock)."""
        crashes = broken = 0
        while True:
            pool = self._pool
            assert pool is not None
            try:
                pebble_future = pool.schedule(run_item, args=(item,), timeout=item.budget_s)
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
                reason = f"item took longer than {item.budget_s:g} s; its worker was killed"
                return failure_result(item, Verdict.TIMEOUT, reason)
            except ProcessExpired as exc:
                # A verifier process that died under an item (killed, out of memory) costs
                # the item nothing the first time: it is scored again on a fresh process.
                self.metrics.worker_restarts.labels("crash").inc()
                crashes += 1
                if crashes > CRASH_RETRIES:
                    reason = f"verifier process died {crashes} times (last exit code {exc.exitcode})"
                    return failure_result(item, Verdict.ERROR, reason)
            except BrokenProcessPool:
                broken += 1
                if broken > BROKEN_POOL_RETRIES:
                    return failure_result(item, Verdict.ERROR, "verifier pool failed repeatedly")
                self._replace_broken_pool(pool)
            except asyncio.CancelledError:
                if pebble_future.cancelled() and not asyncio.current_task().cancelling():
                    continue  # cancelled by the replacement of a broken pool: run it again
                pebble_future.cancel()  # given up: a queued task is dropped, a running one's process stopped
                raise

    def _orphan_done(self) -> None:
        self._orphaned -= 1

    def held(self) -> dict[str, int]:
        """Items this backend holds work for: waiting for a verifier process or a thread,
        running (their programs may still wait for a sandbox slot), and given up but still
        being stopped."""
        busy = self._lanes.held
        threads = min(self._outstanding_code, self.settings.code_threads)
        queued = (self._outstanding - busy) + (self._outstanding_code - threads)
        return {"queued": queued, "running": busy + threads, "orphaned": self._orphaned}
