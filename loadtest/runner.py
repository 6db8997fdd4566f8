"""The traffic engine: OpenRLHF-style bursts and batch clients on one asyncio loop.

Two kinds of client run side by side:

* the **trainer** (OpenRLHF 0.11): a rollout batch is ``batch x samples`` single-sample
  ``POST /reward`` requests released at once, each in its own ``aiohttp.ClientSession``
  (so a new TCP connection per request), with OpenRLHF's 180 s timeout. The next burst
  starts when every request of the previous one is answered, as a trainer waits for its
  rewards before the next rollout.
* **batch clients**: each sends ``POST /v1/score`` with ``score_batch`` items on a kept-alive
  session, one request after the other.

``concurrency`` caps the HTTP requests in flight (a burst larger than that waits in the
client), ``rate`` caps the requests started per second. A phase stops starting requests
when its time is up or ``max_requests`` were sent, then waits for what is in flight (at
most ``drain_timeout``); whatever is still unanswered then is cancelled and counted lost.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from loadtest.chaos import ChaosTarget
from loadtest.probe import MetricsSampler
from loadtest.traffic import Corpus, Sample

VERDICT_FLAGS = ("correct", "partial", "format_error", "timeout", "error")


@dataclass
class LoadConfig:
    url: str
    duration: float = 30.0
    concurrency: int = 256
    rate: float = 0.0
    warmup: float = 0.0
    max_requests: int = 0
    traffic: str = "both"
    batch: int = 32
    samples: int = 8
    score_batch: int = 16
    score_clients: int = 1
    request_timeout: float = 180.0
    drain_timeout: float = 200.0
    retries: int = 0
    sample_interval: float = 0.5
    api_key: str | None = None
    chaos_kill_after: float | None = None
    chaos_restart_after: float = 5.0


@dataclass
class RequestRecord:
    phase: str
    route: str
    t_start: float
    kinds: list[str]
    domains: list[str]
    t_end: float | None = None
    status: int | None = None
    ok: bool = False
    error: str | None = None
    verdicts: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    attempts: int = 0

    @property
    def latency(self) -> float | None:
        return None if self.t_end is None else self.t_end - self.t_start


def reward_verdict(extra_logs: dict[str, list[float]], index: int = 0) -> str:
    """The verdict behind one ``/reward`` answer, read from its ``extra_logs`` flags."""
    for flag in VERDICT_FLAGS:
        values = extra_logs.get(flag)
        if values and values[index] >= 0.5:
            return flag
    return "wrong"


class RateLimiter:
    """Spaces request starts ``1 / rate`` seconds apart (no limit when rate <= 0)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next_slot = 0.0
        self.lock = asyncio.Lock()

    async def acquire(self) -> None:
        if not self.interval:
            return
        async with self.lock:
            now = time.monotonic()
            slot = max(now, self.next_slot)
            self.next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class LoadTester:
    def __init__(
        self,
        config: LoadConfig,
        corpus: Corpus,
        chaos: ChaosTarget | None = None,
        on_tick: Callable[[LoadTester], None] | None = None,
    ) -> None:
        self.config = config
        self.corpus = corpus
        self.chaos = chaos
        self.on_tick = on_tick
        self.url = config.url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self.records: list[RequestRecord] = []
        self.chaos_events: list[dict[str, Any]] = []
        self.origin = time.monotonic()
        self.phase = "idle"
        self.phase_deadline = 0.0
        self.phase_sent = 0
        self.attempts = 0
        self.bursts = 0
        self.in_flight = 0
        self.recent_answers: deque[float] = deque()
        self.sampler = MetricsSampler(config.url, config.sample_interval)
        self._semaphore = asyncio.Semaphore(max(1, config.concurrency))
        self._limiter = RateLimiter(config.rate)

    # ------------------------------------------------------------------ state

    def now(self) -> float:
        """Seconds since the run started (warm-up included)."""
        return time.monotonic() - self.origin

    def sent(self, phase: str | None = None) -> int:
        return sum(1 for r in self.records if phase is None or r.phase == phase)

    def answered(self, phase: str | None = None) -> int:
        return sum(1 for r in self.records if r.ok and (phase is None or r.phase == phase))

    def failed(self, phase: str | None = None) -> int:
        return sum(1 for r in self.records if r.t_end is not None and not r.ok and (phase is None or r.phase == phase))

    def answers_per_s(self, window: float = 3.0) -> float:
        cutoff = time.monotonic() - window
        while self.recent_answers and self.recent_answers[0] < cutoff:
            self.recent_answers.popleft()
        return len(self.recent_answers) / window

    def _stopping(self) -> bool:
        if time.monotonic() >= self.phase_deadline:
            return True
        return self.phase == "measured" and bool(self.config.max_requests) and self.phase_sent >= self.config.max_requests

    # ------------------------------------------------------------------ one request

    async def _post(self, session: aiohttp.ClientSession, route: str, body: dict[str, Any],
                    record: RequestRecord, expected_items: int) -> dict[str, Any] | None:
        """POST with retries; fills the record's status and error; the parsed body on success."""
        for attempt in range(self.config.retries + 1):
            record.attempts += 1
            self.attempts += 1
            try:
                async with session.post(self.url + route, json=body, headers=self.headers) as response:
                    record.status = response.status
                    if response.status == 200:
                        data = await response.json(content_type=None)
                        size = len(data.get("rewards", data.get("results", [])))
                        if size == expected_items:
                            record.error = None
                            return data
                        record.error = f"bad body: {size} results for {expected_items} items"
                    else:
                        text = await response.text()
                        record.error = f"HTTP {response.status}: {text[:200]}"
            except TimeoutError:
                record.error = f"client timeout ({self.config.request_timeout:g} s)"
            except (aiohttp.ClientError, ValueError) as exc:
                record.error = f"{type(exc).__name__}: {exc}"[:300]
            if attempt < self.config.retries:
                await asyncio.sleep(1.0)  # OpenRLHF retries 1 s apart
        return None

    def _start_record(self, route: str, samples: list[Sample]) -> RequestRecord:
        record = RequestRecord(self.phase, route, self.now(), [s.kind for s in samples], [s.domain for s in samples])
        self.records.append(record)
        self.phase_sent += 1
        self.in_flight += 1
        return record

    def _finish(self, record: RequestRecord, verdicts: list[str] | None, samples: list[Sample]) -> None:
        record.t_end = self.now()
        self.in_flight -= 1
        if verdicts is not None:
            record.ok = True
            record.verdicts = verdicts
            record.unexpected = [
                f"{s.kind}: {v}" for s, v in zip(samples, verdicts, strict=True) if v not in s.expected
            ]
            self.recent_answers.append(time.monotonic())

    async def reward_request(self, sample: Sample) -> None:
        """One OpenRLHF sample: its own session (a new connection), one POST /reward."""
        async with self._semaphore:
            if self._stopping():
                return
            await self._limiter.acquire()
            record = self._start_record("/reward", [sample])
            verdicts = None
            try:
                timeout = aiohttp.ClientTimeout(total=self.config.request_timeout)
                async with aiohttp.ClientSession(timeout=timeout) as session:
                    body = {"query": [sample.query], "prompts": [sample.prompt], "labels": [sample.label]}
                    data = await self._post(session, "/reward", body, record, 1)
                if data is not None:
                    verdicts = [reward_verdict(data.get("extra_logs") or {})]
            except asyncio.CancelledError:
                record.error = "cancelled: unanswered at the drain deadline"
                raise
            finally:
                self._finish(record, verdicts, [sample])

    async def score_request(self, session: aiohttp.ClientSession, samples: list[Sample]) -> None:
        async with self._semaphore:
            if self._stopping():
                return
            await self._limiter.acquire()
            record = self._start_record("/v1/score", samples)
            verdicts = None
            try:
                body = {"items": [{"response": s.response, "label": s.label, "prompt": s.prompt} for s in samples]}
                data = await self._post(session, "/v1/score", body, record, len(samples))
                if data is not None:
                    verdicts = [r["verdict"] for r in data["results"]]
            except asyncio.CancelledError:
                record.error = "cancelled: unanswered at the drain deadline"
                raise
            finally:
                self._finish(record, verdicts, samples)

    # ------------------------------------------------------------------ clients

    async def trainer_client(self) -> None:
        size = max(1, self.config.batch * self.config.samples)
        while not self._stopping():
            burst = [self.corpus.draw() for _ in range(size)]
            await asyncio.gather(*(self.reward_request(sample) for sample in burst))
            self.bursts += 1

    async def batch_client(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.config.request_timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while not self._stopping():
                samples = [self.corpus.draw() for _ in range(max(1, self.config.score_batch))]
                await self.score_request(session, samples)

    # ------------------------------------------------------------------ phases

    async def _phase(self, name: str, seconds: float) -> None:
        self.phase = name
        self.phase_sent = 0
        self.phase_deadline = time.monotonic() + seconds
        clients = []
        if self.config.traffic in ("both", "openrlhf"):
            clients.append(asyncio.create_task(self.trainer_client()))
        if self.config.traffic in ("both", "batch"):
            clients += [asyncio.create_task(self.batch_client()) for _ in range(max(1, self.config.score_clients))]
        chaos = asyncio.create_task(self._chaos()) if name == "measured" and self.chaos else None
        done, pending = await asyncio.wait(clients, timeout=seconds + self.config.drain_timeout)
        for task in pending:  # unanswered at the drain deadline: cancelled, counted lost
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()
        if chaos is not None:
            await chaos

    async def _chaos(self) -> None:
        assert self.chaos is not None and self.config.chaos_kill_after is not None
        await asyncio.sleep(self.config.chaos_kill_after)
        t = self.now()
        what = await asyncio.to_thread(self.chaos.kill)
        self.chaos_events.append({"t": round(t, 3), "action": "kill", "target": what})
        await asyncio.sleep(self.config.chaos_restart_after)
        t = self.now()
        what = await asyncio.to_thread(self.chaos.restart)
        self.chaos_events.append({"t": round(t, 3), "action": "restart", "target": what})

    async def _ticker(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.on_tick is not None:
                self.on_tick(self)
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except TimeoutError:
                pass

    async def run(self) -> dict[str, float]:
        """Warm-up (if any), then the measured phase; returns the phases' start times and walls."""
        stop = asyncio.Event()
        self.origin = time.monotonic()
        self.sampler.origin = self.origin
        sampler = asyncio.create_task(self.sampler.run(stop))
        ticker = asyncio.create_task(self._ticker(stop))
        timing: dict[str, float] = {}
        try:
            if self.config.warmup > 0:
                await self._phase("warmup", self.config.warmup)
                timing["warmup_s"] = self.now()
            timing["measured_start"] = self.now()
            await self._phase("measured", self.config.duration)
            timing["measured_s"] = self.now() - timing["measured_start"]
        finally:
            stop.set()
            await asyncio.gather(sampler, ticker, return_exceptions=True)
            if self.on_tick is not None:
                self.on_tick(self)
        return timing
