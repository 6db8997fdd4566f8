"""``reward worker``: an RQ worker that scores micro-batches queued by the API.

Each worker process holds its own verifier pool and sandbox pool (the embedded backend,
running on an event loop in a background thread), so the work it takes is done with the
same time limits and isolation as in embedded mode.

A worker that dies mid-job (``kill -9``, a lost container) stops sending heartbeats;
after ``REWARD_RQ_LIVENESS_S`` its job counts as abandoned and is queued again for
another worker (the API sweeps for abandoned jobs every few seconds).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import time
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, SimpleWorker, get_current_job
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.timeouts import TimerDeathPenalty

from reward_server.engine import Engine
from reward_server.readiness import sandbox_report
from reward_server.rq_protocol import (
    ALIVE_PREFIX,
    CACHE_PREFIX,
    QUEUE_NAME,
    SANDBOX_REPORT_PREFIX,
    SANDBOX_REPORT_TTL_S,
    Batch,
    QueuedItem,
    Reply,
    send_reply,
)
from reward_server.settings import Settings
from services.core import Verdict
from services.result import Opinion, Result
from services.scoring import failure_result
from services.second_opinion import AUDIT_PREFIX

log = logging.getLogger("reward.worker")


def _announce(settings: Settings, stopping: threading.Event) -> None:
    """Until this process stops: renew its liveness key (a killed process's expires with its
    liveness) and publish its sandbox layers, for the API's /readyz."""
    where = f"{socket.gethostname()}:{os.getpid()}"
    alive_key, report_key = f"{ALIVE_PREFIX}{where}", f"{SANDBOX_REPORT_PREFIX}{where}"
    ttl_ms = int(max(settings.rq_liveness_s, 2) * 1000)
    connection = Redis.from_url(settings.redis_url, socket_timeout=5)
    while True:
        report = sandbox_report()
        try:
            with connection.pipeline(transaction=False) as pipe:
                pipe.set(alive_key, "1", px=ttl_ms)
                if report["started"]:
                    pipe.set(report_key, json.dumps(report), ex=SANDBOX_REPORT_TTL_S)
                pipe.execute()
        except (RedisConnectionError, RedisTimeoutError):
            pass
        if stopping.wait(ttl_ms / 3000):
            break
    try:
        connection.delete(alive_key, report_key)
    except (RedisConnectionError, RedisTimeoutError):
        pass


class _WorkerRuntime:
    """The embedded engine on its own event loop, shared by the jobs of this process. Its
    items come decoded by the API (budgets resolved there); the worker only executes them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="scoring-loop", daemon=True)
        self.thread.start()
        self.engine = Engine.build(settings, "embedded")
        asyncio.run_coroutine_threadsafe(self.engine.start(), self.loop).result()
        self.redis = Redis.from_url(settings.redis_url)

    def score(self, entries: list[QueuedItem]) -> list[Result | Opinion]:
        """Score a batch's items; one whose request gave up on it (``expires_at`` passed)
        is skipped."""

        async def one(entry: QueuedItem) -> Result | Opinion:
            item, expires_at = entry.item, entry.expires_at
            if time.time() > expires_at:
                return failure_result(item, Verdict.UNSCORED, "given up before a worker reached it")
            try:
                return await asyncio.wait_for(self.engine.backend.execute(item), max(expires_at - time.time(), 0.001))
            except TimeoutError:
                return failure_result(item, Verdict.UNSCORED, "given up while a worker was scoring it")

        async def every() -> list[Result | Opinion]:
            return list(await asyncio.gather(*(one(entry) for entry in entries)))

        return asyncio.run_coroutine_threadsafe(every(), self.loop).result()

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.engine.stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)


_runtime: _WorkerRuntime | None = None


def score_batch(payload: dict[str, Any]) -> int:
    """The RQ job (:data:`reward_server.rq_protocol.SCORE_BATCH`): score one micro-batch,
    keep its results in the shared cache, and push the reply to the API that sent it."""
    if _runtime is None:
        raise RuntimeError("score_batch runs inside `reward worker`")
    batch = Batch.from_json(payload)
    results = _runtime.score(batch.items)
    ttl = _runtime.settings.redis_cache_ttl_s
    if ttl > 0:
        with _runtime.redis.pipeline(transaction=False) as pipe:
            for entry, result in zip(batch.items, results, strict=True):
                # Audit work (second opinions, canaries) is never cached: its key is its own.
                if isinstance(result, Result) and result.cacheable and not entry.item.key.startswith(AUDIT_PREFIX):
                    pipe.set(CACHE_PREFIX + entry.item.key, json.dumps(result.to_json()), ex=int(ttl))
            pipe.execute()
    job = get_current_job()
    retried = bool(job and job.retries_left is not None and job.retries_left < batch.max_retries)
    send_reply(_runtime.redis, batch.reply_to, Reply(batch.batch_id, results, retried=retried, worker=os.getpid()))
    return len(results)


class RewardWorker(SimpleWorker):
    """A SimpleWorker (jobs run in this process, next to its warm pools) whose jobs stay
    alive in Redis only while it beats: a short liveness TTL, renewed from a thread."""

    liveness_s = 6

    def stop_after_job(self) -> None:
        """Leave the job loop once the job in hand (if any) is done. RQ's own
        ``request_stop`` installs signal handlers, which only the main thread may."""
        self._stop_requested = True

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return self.liveness_s

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        stop = threading.Event()

        def keep_alive() -> None:
            while not stop.wait(max(self.liveness_s / 3, 0.5)):
                try:
                    self.maintain_heartbeats(job, execution)
                except Exception:
                    log.warning("heartbeat for job %s failed", job.id, exc_info=True)

        beat = threading.Thread(target=keep_alive, name="job-heartbeat", daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            stop.set()
            beat.join()
        from rq.worker import WorkerStatus

        self.set_state(WorkerStatus.IDLE)


class ThreadWorker(RewardWorker):
    """A job loop on a thread of a worker process: signals go to the process's main loop,
    which stops the others, and a job's time limit is a timer, not SIGALRM (which only the
    main thread may use)."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


def _worker_loop(settings: Settings, burst: bool, worker_class: type[RewardWorker], stopping: threading.Event,
                 workers: list[RewardWorker]) -> None:  # fmt: skip
    """Take jobs until stopped; when Redis goes away, wait for it and carry on."""
    delay = 0.5
    while not stopping.is_set():
        connection = Redis.from_url(settings.redis_url)
        try:
            connection.ping()
            queue = Queue(QUEUE_NAME, connection=connection, serializer=JSONSerializer)
            worker = worker_class(
                [queue], connection=connection, serializer=JSONSerializer, worker_ttl=30, maintenance_interval=10
            )
            workers.append(worker)
            log.info("reward worker %s on %s, queue %r", worker.name, settings.redis_url, QUEUE_NAME)
            delay = 0.5
            worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
            return
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("Redis at %s unreachable (%s); trying again in %.1f s", settings.redis_url, exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def run_worker(settings: Settings, burst: bool = False) -> int:
    """Take jobs until stopped: ``REWARD_RQ_WORKER_JOBS`` job loops share this process's
    pools, so that a micro-batch waiting on one slow program does not keep the process
    from the next jobs (the sandbox and the verifier processes serve all of them)."""
    global _runtime
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    _runtime = _WorkerRuntime(settings)
    RewardWorker.liveness_s = max(2, int(settings.rq_liveness_s))
    stopping = threading.Event()
    announcer = threading.Thread(target=_announce, args=(settings, stopping), name="announce", daemon=True)
    announcer.start()
    workers: list[RewardWorker] = []
    loops = [
        threading.Thread(target=_worker_loop, args=(settings, burst, ThreadWorker, stopping, workers),
                         name=f"job-loop-{i}", daemon=True)  # fmt: skip
        for i in range(1, settings.rq_worker_jobs)
    ]
    for loop in loops:
        loop.start()
    try:
        _worker_loop(settings, burst, RewardWorker, stopping, workers)
        return 0
    finally:
        # The main loop was stopped (a signal, or an empty queue in burst mode): the others
        # finish the job they hold, then stop.
        stopping.set()
        for worker in list(workers):
            worker.stop_after_job()
        for loop in loops:
            loop.join(timeout=settings.max_item_timeout_s)
        announcer.join(timeout=10)
        _runtime.close()
