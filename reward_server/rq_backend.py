"""The scaled-out backend: items go to ``reward worker`` processes through Redis and RQ.

- Items are grouped into micro-batches (``REWARD_RQ_BATCH_SIZE`` items, or whatever
  arrived within ``REWARD_RQ_BATCH_WAIT_MS``) and each batch is one RQ job.
- Workers push results to this API instance's reply list; one listener task takes them
  off with BLPOP and wakes the waiting requests. The event loop never blocks on Redis:
  RQ's synchronous calls run in threads.
- Nothing is lost: every few seconds a sweep re-queues jobs whose worker stopped
  beating (RQ's abandoned-job retry), and re-sends batches whose job vanished (Redis
  restarted). A duplicate answer for a batch already answered is dropped.
- Redis being down is reported at ``/readyz``; items keep waiting (and enqueueing is
  retried) until Redis is back or their deadline passes, when the front answers them.
- Results are cached in Redis with a TTL, shared by all API instances: a batch looks its
  items up before it is queued, and workers store what they score.
- Every queued item carries the time its request gives up on it; a worker skips an item
  whose time has passed, and an item given up before its batch is queued never is.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis
from rq import Callback, Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty
from rq.worker_registration import clean_worker_registry

from reward_server.metrics import Metrics
from reward_server.rq_protocol import (
    ALIVE_PREFIX,
    CACHE_PREFIX,
    QUEUE_NAME,
    REPLY_PREFIX,
    SANDBOX_REPORT_PREFIX,
    SCORE_BATCH,
    Batch,
    QueuedItem,
    Reply,
    report_failure,
)
from reward_server.settings import Settings
from services.result import Opinion, Result
from services.scoring import WorkItem

log = logging.getLogger("reward.rq")


@dataclass
class _Batch:
    batch: Batch
    futures: list[asyncio.Future[Result | Opinion]]
    job_id: str | None = None
    enqueued_at: float = 0.0
    resends: int = 0


@dataclass
class _Pending:
    item: WorkItem
    expires_at: float
    """Wall-clock time (epoch seconds) after which nobody waits for this item."""
    future: asyncio.Future[Result | Opinion]


class RQBackend:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.instance_id = uuid.uuid4().hex[:12]
        self.sync_redis = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2)
        self.queue = Queue(QUEUE_NAME, connection=self.sync_redis, serializer=JSONSerializer)
        self.async_redis = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=2)
        self._pending: list[_Pending] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._batches: dict[str, _Batch] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._redis_ok = False
        self._redis_error: str | None = None
        self._workers = 0
        self._queued = 0
        self._worker_sandboxes: dict[str, Any] = {}

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        await self._check_redis()
        self._tasks = [
            asyncio.create_task(self._listen_for_replies(), name="rq-replies"),
            asyncio.create_task(self._sweep_forever(), name="rq-sweep"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.async_redis.aclose()
        self.sync_redis.close()

    def readiness(self) -> dict[str, Any]:
        return {
            "ok": self._redis_ok,
            "backend": "rq",
            "redis": "ok" if self._redis_ok else f"unreachable: {self._redis_error}",
            "workers": self._workers,
            "queued_jobs": self._queued,
            # Each live worker's sandbox layers, as the workers report them.
            "worker_sandboxes": self._worker_sandboxes,
        }

    async def _check_redis(self) -> bool:
        try:
            await self.async_redis.ping()
            self._redis_ok, self._redis_error = True, None
        except (redis.RedisError, OSError) as exc:
            self._redis_ok, self._redis_error = False, f"{self.settings.redis_url}: {exc}"
        return self._redis_ok

    # -- scoring ---------------------------------------------------------------------

    async def execute(self, item: WorkItem) -> Result | Opinion:
        loop = asyncio.get_running_loop()
        pending = _Pending(item, time.time() + self.settings.queue_deadline_s, loop.create_future())
        self._pending.append(pending)
        self._schedule_flush()
        try:
            return await asyncio.shield(pending.future)
        except asyncio.CancelledError:
            # Given up by the front: not queued if its batch has not gone yet; a worker
            # skips it once its time has passed.
            if pending in self._pending:
                self._pending.remove(pending)
            pending.future.cancel()
            raise

    async def _cache_lookup(self, keys: list[str]) -> list[Result | None]:
        if self.settings.redis_cache_ttl_s <= 0 or not self._redis_ok:
            return [None] * len(keys)
        try:
            raw = await self.async_redis.mget([CACHE_PREFIX + k for k in keys])
        except (redis.RedisError, OSError):
            return [None] * len(keys)
        return [Result.from_json(json.loads(r)) if r else None for r in raw]

    def _schedule_flush(self) -> None:
        if len(self._pending) >= self.settings.rq_batch_size:
            self._flush()
        elif self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(self.settings.rq_batch_wait_ms / 1000, self._flush)

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        size = self.settings.rq_batch_size
        while self._pending:
            chunk, self._pending = self._pending[:size], self._pending[size:]
            asyncio.get_running_loop().create_task(self._dispatch(chunk))

    async def _dispatch(self, chunk: list[_Pending]) -> None:
        """Answer what the shared cache holds, queue the rest as one batch."""
        cached = await self._cache_lookup([p.item.key for p in chunk])
        waiting = []
        for pending, hit in zip(chunk, cached, strict=True):
            if pending.future.done():
                continue
            if hit is not None:
                pending.future.set_result(hit)
            else:
                waiting.append(pending)
        if not waiting:
            return
        queued = [QueuedItem(p.item, p.expires_at) for p in waiting]
        batch = Batch(uuid.uuid4().hex, self.instance_id, self.settings.rq_max_retries, queued)
        out = _Batch(batch, [p.future for p in waiting])
        self._batches[batch.batch_id] = out
        await self._enqueue(out)

    async def _enqueue(self, batch: _Batch) -> None:
        delay = 0.2
        while batch.batch.batch_id in self._batches:
            try:
                await asyncio.to_thread(self._enqueue_job, batch)
                return
            except (redis.RedisError, OSError) as exc:
                self._redis_ok, self._redis_error = False, f"{self.settings.redis_url}: {exc}"
                log.warning("enqueue failed (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _enqueue_job(self, batch: _Batch) -> None:
        job = self.queue.enqueue(
            SCORE_BATCH,
            batch.batch.to_json(),
            job_timeout=int(self.settings.max_item_timeout_s * len(batch.futures) + 60),
            result_ttl=60,
            failure_ttl=600,
            retry=Retry(max=self.settings.rq_max_retries),
            on_failure=Callback(report_failure),
        )
        batch.job_id, batch.enqueued_at = job.id, time.monotonic()

    def _resolve(self, reply: Reply) -> None:
        if reply.retried:
            # Answered by a second run: the first worker died mid-job (whoever swept it).
            self.metrics.jobs_requeued.labels("worker_lost").inc()
        batch = self._batches.pop(reply.batch_id, None)
        if batch is None:
            return  # answered already (a retried job finished twice) or given up on
        if batch.enqueued_at:
            self.metrics.job_seconds.observe(time.monotonic() - batch.enqueued_at)
        for future, result in zip(batch.futures, reply.results, strict=False):
            if not future.done():
                future.set_result(result)

    async def _listen_for_replies(self) -> None:
        key = REPLY_PREFIX + self.instance_id
        while True:
            try:
                reply = await self.async_redis.blpop([key], timeout=1)
                if not self._redis_ok:
                    await self._check_redis()
                if reply is None:
                    continue
                self._resolve(Reply.from_json(reply[1]))
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                self._redis_ok, self._redis_error = False, f"{self.settings.redis_url}: {exc}"
                await asyncio.sleep(0.5)
            except Exception:
                log.exception("bad reply on %s", key)

    # -- the sweep: abandoned jobs, lost jobs, metrics ---------------------------------

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.rq_sweep_interval_s)
            try:
                await asyncio.to_thread(self._sweep_once)
                await self._check_redis()
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                self._redis_ok, self._redis_error = False, f"{self.settings.redis_url}: {exc}"
            except Exception:
                log.exception("sweep failed")
            self.metrics.queue_depth.set(self._queued)
            self.metrics.rq_workers.set(self._workers)

    def _count_held(self, queued_jobs: set[str]) -> None:
        """Items this API has work out for: not yet sent or in a queued job, in a job a
        worker runs, or given up while their job is still out (the worker skips them)."""
        held = {"queued": len(self._pending), "running": 0, "orphaned": 0}
        for batch in list(self._batches.values()):
            given_up = sum(1 for f in batch.futures if f.cancelled())
            held["orphaned"] += given_up
            state = "queued" if batch.job_id is None or batch.job_id in queued_jobs else "running"
            held[state] += len(batch.futures) - given_up
        for state, count in held.items():
            self.metrics.work_held.labels(state).set(count)

    def _sweep_once(self) -> None:
        # Jobs whose worker stopped beating go back on the queue (RQ retries them).
        # The sweep runs on a thread: failure callbacks get a timer, not SIGALRM.
        registry = StartedJobRegistry(queue=self.queue, death_penalty_class=TimerDeathPenalty)
        registry.cleanup()
        self._queued = self.queue.count
        self._count_held(set(self.queue.get_job_ids()))
        # A worker killed without a goodbye stays in RQ's registry until someone cleans it.
        clean_worker_registry(self.queue)
        # Worker processes alive now (each runs several job loops, every loop registered with
        # RQ): the keys they renew, which expire with their liveness.
        self._workers = sum(1 for _ in self.sync_redis.scan_iter(f"{ALIVE_PREFIX}*", count=1000))
        keys = sorted(self.sync_redis.scan_iter(f"{SANDBOX_REPORT_PREFIX}*", count=1000))
        reports = self.sync_redis.mget(keys) if keys else []
        self._worker_sandboxes = {
            k.decode().removeprefix(SANDBOX_REPORT_PREFIX): json.loads(v) for k, v in zip(keys, reports, strict=True) if v
        }
        # Batches whose job is gone (Redis restarted without persistence) are sent again.
        now = time.monotonic()
        for batch in list(self._batches.values()):
            if batch.job_id is None or now - batch.enqueued_at < 2 * self.settings.rq_sweep_interval_s:
                continue
            try:
                Job.fetch(batch.job_id, connection=self.sync_redis, serializer=JSONSerializer)
            except NoSuchJobError:
                batch.resends += 1
                self.metrics.jobs_requeued.labels("job_lost").inc()
                log.warning("job of batch %s vanished from Redis; sending it again", batch.batch.batch_id)
                self._enqueue_job(batch)
