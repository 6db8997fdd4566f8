"""The scoring front: what happens to every item whatever backend scores it.

Items come in decoded (:func:`services.scoring.decode_item`); the front

- answers what needs no verifier: an unreadable item (``error``), a response over the
  size limit (``error``);
- answers from the result cache, or waits for an identical item already in flight;
- gives the backend the item, whose time budget (resolved once when it was decoded,
  :class:`services.scoring.TimeLimits`) the backend applies to its own running time;
- answers ``unscored`` when the backend has not finished the item by the queue deadline,
  and cancels the backend's work on it (that item's slot is freed for others);
- counts everything in the metrics.

Backends (:mod:`reward_server.execution`, :mod:`reward_server.rq_backend`) only execute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

from reward_server.cache import ResultCache
from reward_server.metrics import Metrics
from reward_server.settings import Settings
from services.core import Verdict
from services.result import Opinion, Result
from services.scoring import WorkItem, failure_result


class Backend(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def execute(self, item: WorkItem) -> Result | Opinion:
        """The item's result (an opinion for a second-opinion item); its own running time
        is limited to ``item.budget_s``. Cancelling the call stops the work (queued or
        running) and frees what it held."""
        ...

    def readiness(self) -> dict[str, Any]: ...


class Front:
    def __init__(self, settings: Settings, metrics: Metrics, backend: Backend) -> None:
        self.settings = settings
        self.metrics = metrics
        self.backend = backend
        self.cache = ResultCache(settings.cache_size)
        # Called with (item, result, cached) once an item is answered; they must not block
        # (the audit, reward_server.audit, starts its work in the background).
        self.observers: list[Callable[[WorkItem, Result, bool], None]] = []

    async def score(self, items: list[WorkItem]) -> list[Result]:
        return list(await asyncio.gather(*(self._one(item) for item in items)))

    async def _one(self, item: WorkItem) -> Result:
        started = time.perf_counter()
        cached = False
        self.metrics.in_flight.inc()
        try:
            if item.error is not None:
                result = failure_result(item, Verdict.ERROR, item.error)
            elif len(item.response) > self.settings.max_response_chars:
                reason = f"response longer than {self.settings.max_response_chars} characters"
                result = failure_result(item, Verdict.ERROR, reason)
            else:
                result, cached = await self._scored(item)
        finally:
            self.metrics.in_flight.dec()
        elapsed = time.perf_counter() - started
        if item.error is None:
            (self.metrics.cache_hits if cached else self.metrics.cache_misses).inc()
        self.metrics.items.labels(item.domain, result.verdict.value).inc()
        self.metrics.item_seconds.labels(item.domain).observe(elapsed)
        if result.verdict in (Verdict.TIMEOUT, Verdict.UNSCORED):
            self.metrics.timeouts.labels(item.domain).inc()
        for observe in self.observers:
            observe(item, result, cached)
        return result.answered(round(elapsed * 1000, 3), cached)

    async def _scored(self, item: WorkItem) -> tuple[Result, bool]:
        deadline = self.settings.queue_deadline_s
        try:
            return await asyncio.wait_for(self.cache.get_or_compute(item.key, lambda: self._execute(item)), deadline)
        except TimeoutError:
            self.metrics.items_given_up.inc()
            reason = f"not scored within the service's {deadline:g} s deadline (the service was busy)"
            return failure_result(item, Verdict.UNSCORED, reason), False

    async def _execute(self, item: WorkItem) -> Result:
        outcome = await self.backend.execute(item)
        if not isinstance(outcome, Result):  # only the audit sends second-opinion items
            raise TypeError(f"a second opinion came back for item {item.key[:16]}")
        return outcome
