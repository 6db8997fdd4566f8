"""Where the audit's findings are kept: bounded, newest first when read.

- :class:`FileStore` (embedded backend): JSON lines appended to a local file; past
  ``max_bytes`` the file becomes ``<name>.1`` (the previous ``.1`` is dropped), so the two
  together never hold more than twice the bound.
- :class:`RedisStore` (rq backend): one Redis list shared by every API instance, ``LPUSH``
  then ``LTRIM`` to ``max_records``.

A record is one JSON object: ``kind`` (``disagreement`` or ``canary``), ``time`` (ISO UTC),
``key``, ``domain``, ``data_source``, ``response`` and ``label`` excerpts, ``primary`` and
``second`` (each ``{"verdict", "reason"}``) and ``class`` (domain, verdict pair, reason),
which ``reward audit`` groups by. Writing never raises into the audit: a store that fails
is logged and the record dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("reward.audit")

REDIS_KEY = "reward:audit:records"


class Store(Protocol):
    async def add(self, record: dict[str, Any]) -> None: ...
    async def close(self) -> None: ...


class FileStore:
    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    async def add(self, record: dict[str, Any]) -> None:
        await asyncio.to_thread(self.append, record)

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if self.path.exists() and self.path.stat().st_size + len(line) > self.max_bytes:
                    self.path.replace(rotated(self.path))
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(line)
        except OSError as exc:
            log.warning("audit record not written to %s: %s", self.path, exc)

    async def close(self) -> None:
        pass


def rotated(path: Path) -> Path:
    return path.with_name(path.name + ".1")


def read_file(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Records of a file store (and its rotated part), newest first."""
    records: list[dict[str, Any]] = []
    for part in (Path(path), rotated(Path(path))):
        if not part.exists():
            continue
        lines = part.read_text(encoding="utf-8", errors="replace").splitlines()
        for line in reversed(lines):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash mid-write
            if limit is not None and len(records) >= limit:
                return records
    return records


class RedisStore:
    def __init__(self, url: str, max_records: int, key: str = REDIS_KEY) -> None:
        import redis.asyncio as aioredis

        self.key = key
        self.max_records = max_records
        self.redis = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)

    async def add(self, record: dict[str, Any]) -> None:
        import redis

        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.lpush(self.key, json.dumps(record, ensure_ascii=False))
                pipe.ltrim(self.key, 0, self.max_records - 1)
                await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            log.warning("audit record not written to Redis: %s", exc)

    async def close(self) -> None:
        await self.redis.aclose()


def read_redis(url: str, limit: int | None = None, key: str = REDIS_KEY) -> list[dict[str, Any]]:
    """Records of the Redis store, newest first."""
    import redis

    connection = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
    try:
        raw = connection.lrange(key, 0, -1 if limit is None else limit - 1)
    finally:
        connection.close()
    records = []
    for value in raw:
        try:
            records.append(json.loads(value))
        except json.JSONDecodeError:
            continue
    return records
