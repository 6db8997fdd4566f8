"""The load tester against real services: its report must agree with the service's own metrics.

Each test runs ``reward loadtest`` for a few seconds against a service started here and
reads ``/metrics`` itself before and after, so the load tester's figures are checked
against counters it did not compute.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from loadtest.cli import is_local_url
from loadtest.cli import main as loadtest_main
from reward_client.local import REPO, start_service, stop_service

REDIS_URL = f"redis://{os.environ.get('TEST_REDIS_HOST', '127.0.0.1')}:{os.environ.get('TEST_REDIS_PORT', '6379')}/11"  # this file's own database


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def delta(before: dict, after: dict, name: str, **labels: str) -> float:
    wanted = set(labels.items())

    def total(snapshot: dict) -> float:
        return sum(v for (n, lbl), v in snapshot.items() if n == name and wanted <= lbl)

    return total(after) - total(before)


def client_counts(report: dict) -> tuple[Counter, int, Counter]:
    """From the report's per-request records (warm-up included): requests per route,
    items, and (domain, verdict) pairs of the answered items."""
    routes: Counter = Counter()
    items = 0
    verdicts: Counter = Counter()
    for record in report["records"]:
        routes[record["route"]] += 1
        items += len(record["domains"])
        verdicts.update(zip(record["domains"], record["verdicts"], strict=True))
    return routes, items, verdicts


def check_against_service(report: dict, before: dict, after: dict) -> None:
    routes, items, verdicts = client_counts(report)
    # sent = answered = counted by the service, per route (every request answered 200)
    for route in ("/reward", "/v1/score"):
        assert routes[route] > 0, f"no {route} traffic"
        assert delta(before, after, "reward_http_requests_total", route=route) == routes[route]
        assert delta(before, after, "reward_http_requests_total", route=route, status="200") == routes[route]
    assert all(r["ok"] for r in report["records"]), [r["error"] for r in report["records"] if not r["ok"]][:5]
    assert delta(before, after, "reward_items_total") == items
    for (domain, verdict), n in verdicts.items():
        assert delta(before, after, "reward_items_total", domain=domain, verdict=verdict) == n, (domain, verdict)
    # the report's own reconciliation says the same
    reconciliation = report["service"]["reconciliation"]
    assert reconciliation["matches"], reconciliation
    assert reconciliation["client_requests"] == {"/reward": routes["/reward"], "/v1/score": routes["/v1/score"]}


def check_report_consistency(report: dict, out: Path) -> None:
    requests = report["requests"]
    assert requests["sent"] > 0
    assert requests["sent"] == requests["answered"]
    assert requests["lost"] == 0 and requests["errors"] == 0
    measured = [r for r in report["records"] if r["phase"] == "measured"]
    assert len(measured) == requests["sent"]
    assert sum(b["answered"] for b in report["timeline"]) == requests["answered"]
    assert sum(stats["n"] for stats in report["latency"]["by_domain"].values()) == report["items"]["answered"]
    overall = report["latency"]["all_requests"]
    assert 0 < overall["p50_s"] <= overall["p95_s"] <= overall["p99_s"] <= overall["max_s"]
    # hostile programs never pass
    for kind, counts in report["verdicts_by_kind"].items():
        if kind.startswith("code/hostile"):
            assert "correct" not in counts, (kind, counts)
    assert report["metrics_samples"], "the service's /metrics was never sampled"
    png = (out / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


@pytest.fixture(scope="module")
def embedded_service(tmp_path_factory: pytest.TempPathFactory):
    running = start_service(tmp_path_factory.mktemp("loadtest-service"), {"REWARD_POOL_WORKERS": "2"})
    yield running
    stop_service(running)


def test_report_matches_the_services_metrics(embedded_service, tmp_path: Path) -> None:
    url = embedded_service.url
    out = tmp_path / "report"
    before = scrape(url)
    code = loadtest_main([
        "--url", url, "--duration", "4", "--warmup", "1", "--concurrency", "32", "--batch", "4", "--samples", "4",
        "--score-batch", "6", "--out", str(out), "--sample-interval", "0.25",
    ])
    after = scrape(url)
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    check_report_consistency(report, out)
    check_against_service(report, before, after)
    assert report["timing"]["measured_s"] >= 4
    assert {r["domains"][0] for r in report["records"] if r["route"] == "/reward"} >= {"code"}
    assert report["metrics_samples"][-1]["pool_workers"] == 2


def test_bounded_by_request_count(embedded_service, tmp_path: Path) -> None:
    out = tmp_path / "report"
    code = loadtest_main([
        "--url", embedded_service.url, "--duration", "60", "--warmup", "0", "--max-requests", "12",
        "--traffic", "openrlhf", "--batch", "2", "--samples", "4", "--mix", "math=1", "--out", str(out),
    ])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["requests"]["sent"] == 12 == report["requests"]["answered"]
    assert report["timing"]["measured_s"] < 30


def test_refuses_a_remote_url(tmp_path: Path) -> None:
    assert is_local_url("http://127.0.0.1:8000") and is_local_url("http://localhost:1") and is_local_url("http://[::1]:80")
    assert not is_local_url("http://10.0.0.5:8000") and not is_local_url("https://reward.example.com")
    code = loadtest_main(["--url", "http://10.255.255.1:8000", "--duration", "1", "--out", str(tmp_path / "r")])
    assert code == 2
    assert not (tmp_path / "r" / "report.json").exists()


# --------------------------------------------------------------------------- chaos, rq mode


def start_worker(log_dir: Path, name: str) -> subprocess.Popen:
    with open(log_dir / f"{name}.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "reward_server.cli", "worker"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_chaos_kill_a_local_rq_worker_loses_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chaos path against rq workers run as local process groups (the compose stack's
    containers are the same workers): one is SIGKILLed mid-run and replaced; every request
    is still answered, and the counts agree with the API's metrics."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"no Redis at {REDIS_URL}: run `make system` (it installs and starts one)")
    client.flushdb()
    for key, value in {"REDIS_URL": REDIS_URL, "REWARD_POOL_WORKERS": "1", "REWARD_SANDBOX_WORKERS": "1",
                       "REWARD_RQ_LIVENESS_S": "3"}.items():
        monkeypatch.setenv(key, value)  # the API, the workers and the replacement all read these
    api = start_service(tmp_path, {"REWARD_BACKEND": "rq", "REWARD_RQ_BATCH_SIZE": "2"}, ["--no-sandbox"])
    workers = [start_worker(tmp_path, f"worker-{i}") for i in range(2)]
    replacement_pid = None
    try:
        deadline = time.monotonic() + 60
        while httpx.get(f"{api.url}/readyz", timeout=5).json()["backend"].get("workers", 0) < 2:
            assert time.monotonic() < deadline, "workers did not register"
            time.sleep(0.5)
        before = scrape(api.url)
        out = tmp_path / "report"
        code = loadtest_main([
            "--url", api.url, "--duration", "9", "--warmup", "0", "--concurrency", "16", "--batch", "2",
            "--samples", "4", "--score-batch", "4", "--code-mix", "humaneval=1,stdio=1,wrong=1,slow=1",
            "--out", str(out), "--chaos-kill-worker-after", "2", "--chaos-restart-after", "2",
            "--chaos-kill-pid-group", str(workers[0].pid),
            "--chaos-restart-cmd", f"{sys.executable} -m reward_server.cli worker",
        ])
        after = scrape(api.url)
        report = json.loads((out / "report.json").read_text())
        replacement_pid = report.get("chaos_replacement_pid")
        assert code == 0
        assert [e["action"] for e in report["chaos"]["events"]] == ["kill", "restart"]
        assert report["chaos"]["lost_requests"] == 0
        workers[0].wait(timeout=10)
        assert workers[0].returncode == -signal.SIGKILL
        assert replacement_pid is not None and os.path.exists(f"/proc/{replacement_pid}")
        check_report_consistency(report, out)
        check_against_service(report, before, after)
        counts = [s["rq_workers"] for s in report["metrics_samples"]]
        # The killed worker still counts until its liveness (3 s) runs out, and its
        # replacement (started 2 s after the kill) may register before that: 3 for a while.
        assert 2 <= max(counts) <= 3 and counts[-1] == 2, counts
    finally:
        if replacement_pid is not None:
            kill_group(replacement_pid)
        for worker in workers:
            kill_group(worker.pid)
            worker.wait(timeout=10)
        stop_service(api)
        client.flushdb()
