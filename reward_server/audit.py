"""Auditing live rewards, off the request's path: second opinions and canaries.

The front hands every answered item to :meth:`Auditor.observe` after its result is known;
``observe`` counts the verdict per data source and, for a share of the items, starts
background work on the same backend as the traffic (in rq mode the workers do it, so the
API never runs untrusted programs or heavy math itself):

- a **second opinion** (``REWARD_AUDIT_RATE``): the item judged again by another method
  (:mod:`services.second_opinion`); where the two disagree, a record goes to the store
  (:mod:`reward_server.audit_store`) and the metrics. Cached results (judged already) and
  items that failed (``error``, ``unscored``, ``truncated``; ``timeout`` outside code) are
  not audited, nor code that passed (the lenient re-run looks for false negatives);
- **canaries** (``REWARD_CANARY_RATE``, per data source ``REWARD_CANARY_RATES``): the
  item's own gold answer dressed as a right answer and perturbed as a wrong one
  (:mod:`services.canaries`), each label at most once per process while it is recent;
  a canary with the wrong verdict is a verifier fault, recorded and counted.

An item (by key) is judged again at most once while it is recent (an identical item met
again, from Redis's cache in rq mode or in a later epoch, is not audited twice).

Nothing here is awaited by a request, and nothing changes a reward: audit work runs as
background tasks, at most ``REWARD_AUDIT_MAX_CONCURRENT`` at once (work past that is
dropped and counted, never queued), under keys of its own that no result cache holds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import random
import re
from collections import OrderedDict, deque
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from reward_server.audit_store import FileStore, RedisStore, Store
from reward_server.front import Backend
from reward_server.metrics import Metrics
from reward_server.settings import Settings
from services.canaries import Canary, canaries_for, failed
from services.core import Verdict
from services.result import Opinion, OpinionVerdict, Result
from services.scoring import WorkItem
from services.second_opinion import AUDIT_PREFIX, AUDITED_DOMAINS, SECOND_OPINION_PREFIX

log = logging.getLogger("reward.audit")

NOT_AUDITED = frozenset({Verdict.ERROR, Verdict.UNSCORED, Verdict.TRUNCATED})
"""Verdicts that say nothing about the answer: no second opinion can contradict them."""
DECIDED = frozenset({OpinionVerdict.CORRECT, OpinionVerdict.WRONG})
MAX_SOURCES = 64
"""Distinct data sources named in the metrics; more are counted as ``other``."""
RECENT_KEYS = 4096
EXCERPT_HEAD, EXCERPT_TAIL = 300, 900


def data_source_of(item: WorkItem) -> str:
    """The item's data source: its label's ``data_source`` field when it has one, else its domain."""
    source = getattr(item.label, "data_source", None) if item.label is not None else None
    return str(source)[:64] if isinstance(source, str) and source.strip() else item.domain


def excerpt(text: str) -> str:
    if len(text) <= EXCERPT_HEAD + EXCERPT_TAIL:
        return text
    return f"{text[:EXCERPT_HEAD]} [... {len(text) - EXCERPT_HEAD - EXCERPT_TAIL} characters ...] {text[-EXCERPT_TAIL:]}"


def reason_class(reason: str | None) -> str:
    """A reason with its numbers and quoted text folded, so alike failures group together."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", str(reason or ""))
    return re.sub(r"\d+(?:\.\d+)?", "N", text)[:80]


def make_store(settings: Settings) -> Store:
    if settings.backend == "rq":
        return RedisStore(settings.redis_url, settings.audit_max_records)
    return FileStore(settings.audit_path, settings.audit_max_bytes)


class Auditor:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        backend: Backend,
        store: Store | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.backend = backend
        self.store = store if store is not None else make_store(settings)
        self.rng = rng or random.Random()
        self._tasks: set[asyncio.Task[None]] = set()
        self._windows: dict[tuple[str, str], deque[bool]] = {}
        self._sources: set[str] = set()
        self._canaried: OrderedDict[str, None] = OrderedDict()
        # Items judged again lately: an identical item answered from Redis (rq mode) or met
        # again in a later epoch is not audited twice.
        self._audited_keys: OrderedDict[str, None] = OrderedDict()

    # -- what the front calls ----------------------------------------------------------

    def observe(self, item: WorkItem, result: Result, cached: bool) -> None:
        """Count the verdict; maybe start a second opinion and canaries. Never blocks, never raises."""
        try:
            self._observe(item, result, cached)
        except Exception:  # the audit must never fail a request
            log.exception("audit observe failed")

    def _observe(self, item: WorkItem, result: Result, cached: bool) -> None:
        source = self._source(item)
        self.metrics.source_items.labels(source, result.verdict.value).inc()
        if item.label is None or item.error is not None or item.key.startswith(AUDIT_PREFIX):
            return
        rate = self.settings.audit_rate
        if rate > 0 and not cached and self._auditable(item, result) and self.rng.random() < rate:
            if self._first_time(self._audited_keys, item.key):
                self._spawn(self._second_opinion(item, result, source))
        canary_rate = self.settings.canary_rates.get(source, self.settings.canary_rate)
        if canary_rate > 0 and self.rng.random() < canary_rate and self._first_canary(item):
            self._spawn(self._canaries(item, source))

    async def drain(self) -> None:
        """Wait for the audit work started so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.store.close()

    # -- scheduling --------------------------------------------------------------------

    def _source(self, item: WorkItem) -> str:
        source = data_source_of(item)
        if source not in self._sources:
            if len(self._sources) >= MAX_SOURCES:
                return "other"
            self._sources.add(source)
        return source

    @staticmethod
    def _auditable(item: WorkItem, result: Result) -> bool:
        verdict = result.verdict
        if item.domain not in AUDITED_DOMAINS or verdict in NOT_AUDITED:
            return False
        if result.details.get("screen") == "huge":
            return False  # a value too large to build: Math-Verify would only spend its time limit on it
        if item.domain == "code":
            return verdict != Verdict.CORRECT  # the lenient re-run looks for false negatives
        return verdict != Verdict.TIMEOUT  # the same math again would only time out again

    def _first_canary(self, item: WorkItem) -> bool:
        assert item.label is not None
        identity = hashlib.blake2b(item.label.model_dump_json().encode(), digest_size=12).hexdigest()
        return self._first_time(self._canaried, identity)

    @staticmethod
    def _first_time(recent: OrderedDict[str, None], key: str) -> bool:
        """Whether ``key`` is new among the recent ones (remembered, the oldest forgotten)."""
        if key in recent:
            return False
        recent[key] = None
        if len(recent) > RECENT_KEYS:
            recent.popitem(last=False)
        return True

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if len(self._tasks) >= self.settings.audit_max_concurrent:
            work.close()
            self.metrics.audit_skipped.labels("busy").inc()
            return
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, item: WorkItem) -> Result | Opinion | None:
        try:
            return await asyncio.wait_for(self.backend.execute(item), self.settings.queue_deadline_s)
        except TimeoutError:
            self.metrics.audit_skipped.labels("deadline").inc()
        except Exception:
            log.exception("audit work failed")
            self.metrics.audit_skipped.labels("failed").inc()
        return None

    # -- second opinions -----------------------------------------------------------------

    async def _second_opinion(self, item: WorkItem, result: Result, source: str) -> None:
        budget = item.budget_s
        if item.sandbox:  # a longer budget for the re-run, within the cap on any item
            budget = max(budget, min(2 * budget, self.settings.max_item_timeout_s))
        audit_item = dataclasses.replace(item, key=SECOND_OPINION_PREFIX + item.key, budget_s=budget)
        opinion = await self._run(audit_item)
        if not isinstance(opinion, Opinion):
            if isinstance(opinion, Result):  # the backend failed it (a timeout, a crash)
                self.metrics.audit_skipped.labels(opinion.verdict.value).inc()
            return
        second = opinion.verdict
        if second not in DECIDED:
            self.metrics.audit_skipped.labels(second.value).inc()
            return
        disagree = (second == OpinionVerdict.CORRECT) != (result.verdict == Verdict.CORRECT)
        self.metrics.audited.labels(item.domain, source).inc()
        window = self._windows.setdefault((item.domain, source), deque(maxlen=self.settings.audit_window))
        window.append(disagree)
        self.metrics.disagreement_rate.labels(item.domain, source).set(sum(window) / len(window))
        if not disagree:
            return
        self.metrics.disagreements.labels(item.domain, source).inc()
        primary_reason = result.reason
        await self.store.add(
            self._record(item, source, "disagreement", {"verdict": result.verdict.value, "reason": primary_reason},
                         {"verdict": second.value, "reason": opinion.reason, "judge": opinion.judge},
                         f"{item.domain}: {result.verdict} vs {second} ({reason_class(primary_reason or second)})")
        )  # fmt: skip

    # -- canaries ------------------------------------------------------------------------

    async def _canaries(self, item: WorkItem, source: str) -> None:
        assert item.label is not None
        found = canaries_for(item.domain, item.label)
        work = [
            WorkItem(
                c.response,
                None,
                item.domain,
                item.label,
                item.options,
                f"{AUDIT_PREFIX}canary:{i}:{item.key}",
                budget_s=item.budget_s,
            )
            for i, c in enumerate(found)
        ]
        results = await asyncio.gather(*(self._run(w) for w in work))
        for canary, work_item, got in zip(found, work, results, strict=True):
            if not isinstance(got, Result) or got.verdict == Verdict.UNSCORED:
                continue  # the service was busy: nothing learnt about the verifier
            self.metrics.canary_runs.labels(item.domain, source).inc()
            if failed(canary, got.verdict):
                self.metrics.canary_failures.labels(item.domain, source).inc()
                await self.store.add(self._canary_record(work_item, source, canary, got))

    def _canary_record(
        self, item: WorkItem, source: str, canary: Canary, got: Result
    ) -> dict[str, Any]:
        expected = "correct" if canary.right else "not correct"
        record = self._record(
            item, source, "canary", {"verdict": got.verdict.value, "reason": got.reason},
            {"verdict": expected, "reason": f"canary {canary.form}: the gold answer {'dressed' if canary.right else 'perturbed'}"},
            f"{item.domain}: canary {canary.form} expected {expected}, got {got.verdict}",
        )  # fmt: skip
        record["form"] = canary.form
        return record

    @staticmethod
    def _record(item: WorkItem, source: str, kind: str, primary: dict[str, Any], second: dict[str, Any],
                klass: str) -> dict[str, Any]:  # fmt: skip
        assert item.label is not None
        return {
            "kind": kind,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "key": item.key.removeprefix(SECOND_OPINION_PREFIX),
            "domain": item.domain,
            "data_source": source,
            "response": excerpt(item.response),
            "label": item.label.model_dump_json(exclude_none=True)[:2000],
            "primary": primary,
            "second": second,
            "class": klass,
        }
