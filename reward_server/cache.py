"""In-process result cache with in-flight coalescing.

Identical items (same domain, label, prompt, options and response: the key a
:class:`services.scoring.WorkItem` carries) share one result: a GRPO group often holds the
same response several times, and epochs repeat prompts. Items that arrive while an
identical one is being scored wait for that one instead of scoring again; if that one is
given up (its request's deadline passed), a waiter scores the item itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from cachetools import LRUCache

from services.result import Result


class ResultCache:
    def __init__(self, size: int) -> None:
        self.enabled = size > 0
        self._lru: LRUCache[str, Result] = LRUCache(maxsize=max(size, 1))
        self._pending: dict[str, asyncio.Future[Result]] = {}

    def __len__(self) -> int:
        return len(self._lru)

    async def get_or_compute(
        self, key: str, compute: Callable[[], Awaitable[Result]]
    ) -> tuple[Result, bool]:
        """The result for ``key`` and whether it came from the cache (or an identical item in flight)."""
        if not self.enabled:
            return await compute(), False
        while True:
            hit = self._lru.get(key)
            if hit is not None:
                return hit, True
            pending = self._pending.get(key)
            if pending is None:
                break
            try:
                return await asyncio.shield(pending), True
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this waiter itself was cancelled
                # The item it waited for was given up; score it here instead.
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            result = await compute()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # retrieved here so an unobserved failure is not logged twice
            raise
        finally:
            if self._pending.get(key) is future:
                del self._pending[key]
        # A result that depends on the infrastructure (timeout, error, unscored) is not kept.
        if result.cacheable:
            self._lru[key] = result
        future.set_result(result)
        return result, False
