"""Prometheus metrics: requests, per-domain latency and verdicts, timeouts, cache, pool."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 180)


class Metrics:
    """One set of metrics per app, on its own registry (so tests can run several apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "reward_http_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "reward_http_request_seconds", "HTTP request latency", ["route"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.items = Counter("reward_items", "Items scored by domain and verdict", ["domain", "verdict"], registry=r)
        self.item_seconds = Histogram(
            "reward_item_seconds", "Per-item scoring latency by domain", ["domain"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.timeouts = Counter("reward_item_timeouts", "Items that hit their time limit", ["domain"], registry=r)
        self.cache_hits = Counter("reward_cache_hits", "Items answered from the result cache", registry=r)
        self.cache_misses = Counter("reward_cache_misses", "Items not in the result cache", registry=r)
        self.queue_depth = Gauge("reward_queue_depth", "Items waiting for a verifier process or a thread, plus sandbox runs waiting for a slot (embedded); jobs waiting in the queue (rq)", registry=r)
        self.in_flight = Gauge("reward_items_in_flight", "Items being scored or waiting", registry=r)
        self.pool_workers = Gauge("reward_pool_workers", "Verifier processes in the pool", registry=r)
        self.job_seconds = Histogram(
            "reward_rq_job_seconds", "Micro-batch time from enqueue to reply (rq backend)",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.jobs_requeued = Counter(
            "reward_rq_jobs_requeued", "Jobs queued again: worker died mid-job, or job lost by Redis", ["reason"],
            registry=r,
        )
        self.rq_workers = Gauge("reward_rq_workers", "Workers listening on the queue (rq backend)", registry=r)
        self.requests_abandoned = Counter(
            "reward_requests_abandoned", "Requests whose client left before the answer: their items were given up",
            registry=r,
        )
        self.items_given_up = Counter(
            "reward_items_given_up", "Items answered unscored at the queue deadline, or whose client left", registry=r
        )
        self.work_held = Gauge(
            "reward_work_held", "Items the service holds work for, by state: queued (waiting for a verifier "
            "process or a sandbox slot), running, or orphaned (given up, its work being stopped)", ["state"],
            registry=r,
        )
        self.sandbox_runs = Gauge(
            "reward_sandbox_runs", "Sandbox runs by state: waiting for a slot, or running", ["state"], registry=r
        )
        self.source_items = Counter(
            "reward_source_items", "Items scored by data source (the label's data_source, else its domain) and "
            "verdict: the verdict shares per source", ["data_source", "verdict"], registry=r,
        )
        self.audited = Counter(
            "reward_audit_items", "Items judged again by a second method (reward_server.audit) with a decision",
            ["domain", "data_source"], registry=r,
        )
        self.disagreements = Counter(
            "reward_audit_disagreements", "Audited items whose second opinion contradicts the verdict",
            ["domain", "data_source"], registry=r,
        )
        self.disagreement_rate = Gauge(
            "reward_audit_disagreement_rate", "Disagreements over audited items, among the last REWARD_AUDIT_WINDOW "
            "audits of the domain and source", ["domain", "data_source"], registry=r,
        )
        self.audit_skipped = Counter(
            "reward_audit_skipped", "Audit work not done or undecided, by reason (busy, abstain, timeout, ...)",
            ["reason"], registry=r,
        )
        self.canary_runs = Counter(
            "reward_canary_runs", "Canaries scored (gold answers dressed, right; perturbed, wrong)",
            ["domain", "data_source"], registry=r,
        )
        self.canary_failures = Counter(
            "reward_canary_failures", "Canaries whose verdict contradicts what they are known to be: verifier faults",
            ["domain", "data_source"], registry=r,
        )
        self.worker_restarts = Counter(
            "reward_worker_restarts", "Verifier processes killed (timeout) or lost (crash)", ["reason"], registry=r
        )
