"""Reading the service's own ``/metrics`` during a run: gauges over time and counter deltas."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

GAUGES = ("reward_queue_depth", "reward_items_in_flight", "reward_pool_workers", "reward_rq_workers")


@dataclass
class MetricsSnapshot:
    """One scrape: every sample keyed by (name, sorted label pairs)."""

    t: float
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float]

    def total(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return sum(v for (n, lbl), v in self.values.items() if n == name and wanted <= set(lbl))

    def by_label(self, name: str, key: str, **labels: str) -> dict[str, float]:
        wanted = set(labels.items())
        out: dict[str, float] = {}
        for (n, lbl), v in self.values.items():
            if n == name and wanted <= set(lbl):
                value = dict(lbl).get(key, "")
                out[value] = out.get(value, 0.0) + v
        return out


def parse_metrics(text: str, t: float | None = None) -> MetricsSnapshot:
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return MetricsSnapshot(time.monotonic() if t is None else t, values)


def fetch_metrics(url: str, timeout: float = 10.0) -> MetricsSnapshot:
    response = httpx.get(f"{url.rstrip('/')}/metrics", timeout=timeout)
    response.raise_for_status()
    return parse_metrics(response.text)


def counted_by_service(before: MetricsSnapshot, after: MetricsSnapshot) -> dict[str, Any]:
    """What the service counted between two scrapes: requests per route and status, items."""
    routes: dict[str, dict[str, int]] = {}
    for route in ("/reward", "/get_reward", "/v1/score"):
        b = before.by_label("reward_http_requests_total", "status", route=route)
        a = after.by_label("reward_http_requests_total", "status", route=route)
        delta = {status: int(a.get(status, 0) - b.get(status, 0)) for status in set(a) | set(b)}
        delta = {s: n for s, n in delta.items() if n}
        if delta:
            routes[route] = delta
    items = int(after.total("reward_items_total") - before.total("reward_items_total"))
    verdicts = {
        key: int(after.by_label("reward_items_total", "verdict").get(key, 0)
                 - before.by_label("reward_items_total", "verdict").get(key, 0))
        for key in after.by_label("reward_items_total", "verdict")
    }
    return {
        "requests_by_route": routes,
        "requests": sum(sum(v.values()) for v in routes.values()),
        "items": items,
        "verdicts": {k: v for k, v in verdicts.items() if v},
        "cache_hits": int(after.total("reward_cache_hits_total") - before.total("reward_cache_hits_total")),
        "worker_restarts": int(after.total("reward_worker_restarts_total") - before.total("reward_worker_restarts_total")),
        "jobs_requeued": int(after.total("reward_rq_jobs_requeued_total") - before.total("reward_rq_jobs_requeued_total")),
    }


@dataclass
class MetricsSampler:
    """Scrapes ``/metrics`` every ``interval`` seconds in the background of a run."""

    url: str
    interval: float = 0.5
    origin: float = 0.0
    samples: list[dict[str, Any]] = field(default_factory=list)
    failures: int = 0
    last: dict[str, Any] | None = None
    rate_window: float = 2.0
    _recent: deque = field(default_factory=deque)

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=max(2.0, self.interval * 4)) as client:
            while not stop.is_set():
                try:
                    response = await client.get(f"{self.url.rstrip('/')}/metrics")
                    response.raise_for_status()
                    self.record(parse_metrics(response.text))
                except (httpx.HTTPError, ValueError):
                    self.failures += 1
                try:
                    await asyncio.wait_for(stop.wait(), self.interval)
                except TimeoutError:
                    pass

    def record(self, snapshot: MetricsSnapshot) -> None:
        sample: dict[str, Any] = {"t": round(snapshot.t - self.origin, 3)}
        for name in GAUGES:
            sample[name.removeprefix("reward_")] = snapshot.total(name)
        items = snapshot.total("reward_items_total")
        sample["items_total"] = items
        # Items scored per second over the last ``rate_window`` seconds (a scrape alone is too bursty).
        self._recent.append((snapshot.t, items))
        while len(self._recent) > 2 and snapshot.t - self._recent[1][0] >= self.rate_window:
            self._recent.popleft()
        first_t, first_items = self._recent[0]
        if snapshot.t > first_t:
            sample["items_per_s"] = (items - first_items) / (snapshot.t - first_t)
        capacity = sample["rq_workers"] or sample["pool_workers"]
        sample["capacity"] = capacity
        sample["utilisation"] = min(sample["items_in_flight"], capacity) / capacity if capacity else None
        self.samples.append(sample)
        self.last = sample
