"""What the API and the ``reward worker`` processes say to each other through Redis.

The API (:mod:`reward_server.rq_backend`) queues a :class:`Batch` as one RQ job, naming
the job function by its dotted path (:data:`SCORE_BATCH`), so the API never imports the
worker's module (nor its verifier pool). A worker (:mod:`reward_server.rq_worker`) pushes
a :class:`Reply` onto the list of the API instance that sent the batch. Results travel as
the JSON of :class:`services.result.Result` (a second opinion's as an
:class:`services.result.Opinion`, marked so).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from rq.job import Job

from services.core import Verdict
from services.result import Opinion, Result
from services.scoring import WorkItem, failure_result

log = logging.getLogger("reward.rq")

QUEUE_NAME = "reward"
SCORE_BATCH = "reward_server.rq_worker.score_batch"
"""The job function, run by the workers."""
REPLY_PREFIX = "reward:reply:"
"""+ an API instance's id: the list its replies arrive on."""
REPLY_TTL_S = 3600
CACHE_PREFIX = "reward:cache:"
"""+ an item's key: its result, shared by every API instance and worker."""
SANDBOX_REPORT_PREFIX = "reward:sandbox:"
"""+ host:pid: a worker's sandbox layers, for the API's /readyz."""
SANDBOX_REPORT_TTL_S = 60
ALIVE_PREFIX = "reward:worker:"
"""+ host:pid: one key per live worker process, renewed while it lives (its RQ
registrations, one per job loop, outlast a killed process by a minute and more)."""


@dataclass(frozen=True, slots=True)
class QueuedItem:
    item: WorkItem
    expires_at: float
    """Wall-clock time (epoch seconds) after which nobody waits for the item: a worker skips it."""


@dataclass(frozen=True, slots=True)
class Batch:
    batch_id: str
    reply_to: str
    """The API instance that waits for the reply."""
    max_retries: int
    items: list[QueuedItem]

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "reply_to": self.reply_to,
            "max_retries": self.max_retries,
            "items": [{**q.item.to_wire(), "expires_at": q.expires_at} for q in self.items],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Batch:
        items = [QueuedItem(WorkItem.from_wire(it), float(it["expires_at"])) for it in data["items"]]
        return cls(str(data["batch_id"]), str(data["reply_to"]), int(data.get("max_retries", 0)), items)


def outcome_to_json(outcome: Result | Opinion) -> dict[str, Any]:
    if isinstance(outcome, Opinion):
        return {"opinion": outcome.to_json()}
    return outcome.to_json()


def outcome_from_json(data: dict[str, Any]) -> Result | Opinion:
    if "opinion" in data:
        return Opinion.from_json(data["opinion"])
    return Result.from_json(data)


@dataclass(frozen=True, slots=True)
class Reply:
    batch_id: str
    results: list[Result | Opinion]
    """One per item of the batch, in order."""
    retried: bool = False
    """Answered by a second run of the job: the worker of the first one was lost."""
    failed: bool = False
    """The job failed for good; every item is answered with ``error``."""
    worker: int | None = field(default=None)

    def to_json(self) -> str:
        return json.dumps(
            {
                "batch_id": self.batch_id,
                "results": [outcome_to_json(r) for r in self.results],
                "retried": self.retried,
                "failed": self.failed,
                "worker": self.worker,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Reply:
        data = json.loads(text)
        results = [outcome_from_json(r) for r in data["results"]]
        return cls(data["batch_id"], results, bool(data.get("retried")), bool(data.get("failed")), data.get("worker"))


def send_reply(connection: Redis, reply_to: str, reply: Reply) -> None:
    key = REPLY_PREFIX + reply_to
    with connection.pipeline(transaction=False) as pipe:
        pipe.rpush(key, reply.to_json())
        pipe.expire(key, REPLY_TTL_S)
        pipe.execute()


def report_failure(job: Job, connection: Redis, exc_type: Any, exc_value: Any, traceback: Any) -> None:
    """RQ's failure callback: when a job fails for good, every item of it is answered with
    an ``error`` verdict (it could not be scored; never a wrong answer).

    RQ calls this for every failure, also for an abandoned job that it is about to queue
    again (the API's sweep does that); such a job is answered by its next run, so nothing
    is sent then.
    """
    if job.retries_left:
        return
    try:
        batch = Batch.from_json(job.args[0])
        reason = f"worker failed: {getattr(exc_type, '__name__', exc_type)}: {exc_value}"[:300]
        results: list[Result | Opinion] = [failure_result(q.item, Verdict.ERROR, reason) for q in batch.items]
        send_reply(connection, batch.reply_to, Reply(batch.batch_id, results, failed=True))
    except Exception:  # a failure callback must not raise
        log.exception("could not report failed job %s", job.id)
