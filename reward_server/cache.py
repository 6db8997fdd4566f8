"""In-process result cache with in-flight coalescing.

Identical (label, prompt, response, options) items share one result: a GRPO group often
holds the same response several times, and epochs repeat prompts. Items that arrive
while an identical one is being scored wait for that one instead of scoring again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from cachetools import LRUCache

# Verdicts that depend on the infrastructure rather than on the item are not cached.
UNCACHED_VERDICTS = frozenset({"timeout", "error"})


def item_key(label: Any, prompt: str | None, response: str, layers: tuple[Any, ...]) -> str:
    h = hashlib.blake2b(digest_size=20)
    h.update(json.dumps([label, prompt, layers], sort_keys=True, default=str).encode())
    h.update(b"\x00")
    h.update(response.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


class ResultCache:
    def __init__(self, size: int) -> None:
        self.enabled = size > 0
        self._lru: LRUCache[str, dict[str, Any]] = LRUCache(maxsize=max(size, 1))
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def __len__(self) -> int:
        return len(self._lru)

    async def get_or_compute(
        self, key: str, compute: Callable[[], Awaitable[dict[str, Any]]]
    ) -> tuple[dict[str, Any], bool]:
        """The result for ``key`` and whether it came from the cache (or an identical item in flight)."""
        if not self.enabled:
            return await compute(), False
        hit = self._lru.get(key)
        if hit is not None:
            return hit, True
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending), True
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            result = await compute()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here so an unobserved failure is not logged twice
            raise
        finally:
            self._pending.pop(key, None)
        if result["verdict"] not in UNCACHED_VERDICTS:
            self._lru[key] = result
        future.set_result(result)
        return result, False
