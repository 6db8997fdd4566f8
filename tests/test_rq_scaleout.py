"""The rq backend with a real Redis and real worker processes, one of them killed mid-batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import redis

from reward_client.local import REPO, start_service, stop_service

REDIS_HOST = os.environ.get("TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = os.environ.get("TEST_REDIS_PORT", "6379")  # another server lets two checkouts test at once
REDIS_DB = 13  # a database of its own, flushed by these tests
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"


def redis_or_fail() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail(f"no Redis at {REDIS_URL}: run `make system` (it installs and starts one)")
    return client


def start_worker(log_dir: Path, name: str, **settings: str) -> subprocess.Popen:
    env = {**os.environ, "REDIS_URL": REDIS_URL, "REWARD_POOL_WORKERS": "1", "REWARD_SANDBOX_WORKERS": "1",
           "REWARD_RQ_LIVENESS_S": "3", **settings}
    log = open(log_dir / f"{name}.log", "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "reward_server.cli", "worker"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


def wait_for_workers(url: str, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = httpx.get(f"{url}/readyz", timeout=5).json()
        if ready["backend"].get("workers", 0) >= n:
            return
        time.sleep(0.5)
    raise AssertionError(f"{n} workers did not register: {ready}")


def mixed_items(n_rounds: int) -> list[tuple[dict, str]]:
    """(item, expected verdict) across math, CountDown, code and puzzles."""
    items = []
    for i in range(n_rounds):
        items += [
            ({"response": f"\\boxed{{{i}}}", "label": {"domain": "math", "answer": str(i)}}, "correct"),
            ({"response": f"\\boxed{{{i + 1}}}", "label": {"domain": "math", "answer": str(i)}}, "wrong"),
            ({"response": "<answer>6/(1-3/4)</answer>", "label": {"domain": "countdown", "target": 24, "numbers": [1, 3, 4, 6]}}, "correct"),
            ({"response": f"```python\nimport time\ntime.sleep(1.0)\nprint(int(input()) * {i})\n```",
              "label": {"domain": "code", "tests": {"inputs": ["3\n"], "outputs": [f"{3 * i}\n"]}}}, "correct"),
            ({"response": "Zoey is a knight and Oliver is a knave",
              "label": {"domain": "kk", "solution": {"Zoey": "knight", "Oliver": "knave"}}}, "correct"),
            ({"response": '{"House 1": {"Name": "Arnold"}, "House 2": {"Name": "Eric"}}',
              "label": {"domain": "zebra", "solution": {"House 1": {"Name": "Eric"}, "House 2": {"Name": "Arnold"}}}}, "wrong"),
        ]
    return items


@pytest.fixture
def rq_cluster(tmp_path):
    client = redis_or_fail()
    client.flushdb()
    api = start_service(tmp_path, {"REWARD_BACKEND": "rq", "REDIS_URL": REDIS_URL, "REWARD_RQ_BATCH_SIZE": "6",
                                   "REWARD_RQ_SWEEP_INTERVAL_S": "1"}, ["--no-sandbox"])
    workers = [start_worker(tmp_path, f"worker-{i}") for i in range(2)]
    try:
        wait_for_workers(api.url, 2)
        yield api, workers
    finally:
        for worker in workers:
            kill_group(worker)
        stop_service(api)
        client.flushdb()


def test_mixed_batch_survives_a_worker_killed_mid_batch(rq_cluster, tmp_path):
    api, workers = rq_cluster
    pairs = mixed_items(8)
    body = {"items": [item for item, _ in pairs], "options": {"mode": "binary"}}
    outcome: dict = {}

    def send():
        outcome["response"] = httpx.post(f"{api.url}/v1/score", json=body, timeout=170)

    sender = threading.Thread(target=send)
    sender.start()
    # Kill a worker (and everything it started, as when its container dies) while jobs run.
    r = redis.Redis.from_url(REDIS_URL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and r.zcard("rq:wip:reward") < 2:
        time.sleep(0.05)
    time.sleep(0.3)
    kill_group(workers[0])
    # The orchestrator starts a replacement, whose start-up sweep finds the abandoned job too.
    time.sleep(1.0)
    workers.append(start_worker(tmp_path, "worker-replacement"))
    sender.join(timeout=180)

    response = outcome["response"]
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == len(pairs)
    verdicts = [r["verdict"] for r in results]
    assert verdicts == [expected for _, expected in pairs], [
        (i, v, e, results[i]["details"]) for i, (v, (_, e)) in enumerate(zip(verdicts, pairs, strict=True)) if v != e
    ]
    # Counted once each by the API, even though one job ran twice.
    metrics = httpx.get(f"{api.url}/metrics").text
    counted = sum(
        float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines() if line.startswith("reward_items_total{")
    )
    assert counted == len(pairs)
    requeued = [ln for ln in metrics.splitlines() if ln.startswith('reward_rq_jobs_requeued_total{reason="worker_lost"}')]
    assert requeued and float(requeued[0].rsplit(" ", 1)[1]) >= 1, "the kill did not hit a running job"


def test_redis_cache_and_metrics(rq_cluster):
    api, _ = rq_cluster
    item = {"response": "\\boxed{42}", "label": {"domain": "math", "answer": "42"}}
    first = httpx.post(f"{api.url}/v1/score", json={"items": [item]}, timeout=60).json()["results"][0]
    second = httpx.post(f"{api.url}/v1/score", json={"items": [item]}, timeout=60).json()["results"][0]
    assert first["verdict"] == second["verdict"] == "correct"
    assert not first["cached"] and second["cached"]
    assert redis.Redis.from_url(REDIS_URL).keys("reward:cache:*")
    time.sleep(1.5)
    metrics = httpx.get(f"{api.url}/metrics").text
    assert "reward_rq_workers 2.0" in metrics
    # Each worker's sandbox layers reach the API's /readyz through Redis.
    sandboxes = httpx.get(f"{api.url}/readyz").json()["backend"]["worker_sandboxes"]
    assert len(sandboxes) == 2, sandboxes
    assert all(report["layers"] and report["inactive"] == [] for report in sandboxes.values()), sandboxes
    assert "reward_rq_job_seconds_count" in metrics


def start_private_redis(port: int, tmp_path: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("private redis-server did not start")


def test_redis_going_away_and_coming_back(tmp_path):
    from reward_client.local import free_port

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = start_private_redis(port, tmp_path)
    api = start_service(tmp_path, {"REWARD_BACKEND": "rq", "REDIS_URL": url, "REWARD_RQ_SWEEP_INTERVAL_S": "0.5"},
                        ["--no-sandbox"])
    env = {**os.environ, "REDIS_URL": url, "REWARD_POOL_WORKERS": "1"}
    worker = subprocess.Popen([sys.executable, "-m", "reward_server.cli", "worker", "--no-sandbox"], cwd=REPO,
                              env=env, stdout=open(tmp_path / "worker.log", "wb"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    item = {"response": "\\boxed{7}", "label": {"domain": "math", "answer": "7"}}
    try:
        wait_for_workers(api.url, 1)
        assert httpx.post(f"{api.url}/v1/score", json={"items": [item]}, timeout=60).json()["results"][0]["verdict"] == "correct"

        server.kill()
        server.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ready = httpx.get(f"{api.url}/readyz", timeout=5)
            if ready.status_code == 503:
                break
            time.sleep(0.3)
        assert ready.status_code == 503
        assert "unreachable" in ready.json()["backend"]["redis"] and str(port) in ready.json()["backend"]["redis"]

        # A request made while Redis is down waits, and is answered once Redis is back.
        outcome = {}
        other = {"response": "\\boxed{8}", "label": {"domain": "math", "answer": "8"}}
        sender = threading.Thread(
            target=lambda: outcome.update(r=httpx.post(f"{api.url}/v1/score", json={"items": [other]}, timeout=120))
        )
        sender.start()
        time.sleep(2)
        server = start_private_redis(port, tmp_path)
        sender.join(timeout=120)
        assert outcome["r"].status_code == 200
        assert outcome["r"].json()["results"][0]["verdict"] == "correct"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and httpx.get(f"{api.url}/readyz").status_code != 200:
            time.sleep(0.3)
        assert httpx.get(f"{api.url}/readyz").status_code == 200
    finally:
        kill_group(worker)
        stop_service(api)
        server.kill()
        server.wait()


def start_item_per_job_api(tmp_path, queue_deadline_s: float):
    """An rq API that queues every item as a job of its own and caches nothing, so each
    item's way through the workers can be followed."""
    return start_service(tmp_path, {"REWARD_BACKEND": "rq", "REDIS_URL": REDIS_URL, "REWARD_RQ_BATCH_SIZE": "1",
                                    "REWARD_CACHE_SIZE": "0", "REWARD_QUEUE_DEADLINE_S": str(queue_deadline_s)},
                         ["--no-sandbox"])  # fmt: skip


def test_a_worker_cuts_short_and_skips_the_items_a_request_gave_up(tmp_path):
    client = redis_or_fail()
    client.flushdb()
    api = start_item_per_job_api(tmp_path, queue_deadline_s=4)
    worker = start_worker(tmp_path, "worker", REWARD_RQ_WORKER_JOBS="1")  # one job at a time: the echo waits
    try:
        wait_for_workers(api.url, 1)

        def code(program: str, time_limit_s: float = 4.0) -> dict:
            return {"response": f"```python\n{program}\n```",
                    "label": {"domain": "code", "time_limit_s": time_limit_s,
                              "tests": {"inputs": ["7\n"], "outputs": ["7\n"]}}}  # fmt: skip

        spin, echo = code("while True:\n    pass", time_limit_s=30.0), code("print(input())")
        results = httpx.post(f"{api.url}/v1/score", json={"items": [spin, echo]}, timeout=60).json()["results"]
        # One job at a time on the worker: the spinner's held it past the deadline, the echo's
        # waited behind it. Both are unscored, not wrong.
        assert [r["verdict"] for r in results] == ["unscored", "unscored"], results
        # The worker stopped the spinner at the deadline (not after its 30 s) and skipped the
        # echo, so a new item is scored within the same 4 s deadline.
        fresh = httpx.post(f"{api.url}/v1/score", json={"items": [code("print(input().strip())")]}, timeout=60)
        assert fresh.json()["results"][0]["verdict"] == "correct", fresh.json()
    finally:
        kill_group(worker)
        stop_service(api)
        client.flushdb()


def test_a_worker_runs_several_jobs_at_once_so_a_slow_one_holds_back_no_other(tmp_path):
    client = redis_or_fail()
    client.flushdb()
    api = start_item_per_job_api(tmp_path, queue_deadline_s=20)
    worker = start_worker(tmp_path, "worker", REWARD_RQ_WORKER_JOBS="2", REWARD_SANDBOX_WORKERS="2")
    try:
        wait_for_workers(api.url, 1)
        sleepy = {"response": "```python\nimport time\ntime.sleep(3)\nprint(input())\n```",
                  "label": {"domain": "code", "tests": {"inputs": [f"{i}\n" for i in range(4)],
                                                        "outputs": [f"{i}\n" for i in range(4)]}}}
        quick = {"response": "\\boxed{2}", "label": {"domain": "math", "answer": "2"}}
        finished: list[str] = []

        def send(name: str, item: dict) -> None:
            reply = httpx.post(f"{api.url}/v1/score", json={"items": [item]}, timeout=120).json()["results"][0]
            assert reply["verdict"] == "correct", reply
            finished.append(name)

        slow = threading.Thread(target=send, args=("slow", sleepy))
        slow.start()
        deadline = time.monotonic() + 30
        while redis.Redis.from_url(REDIS_URL).zcard("rq:wip:reward") < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        send("quick", quick)  # its job runs beside the slow one's, on the same worker process
        slow.join(timeout=120)
        assert finished == ["quick", "slow"]
        # The worker process counts once, though two job loops are registered with RQ.
        assert httpx.get(f"{api.url}/readyz", timeout=10).json()["backend"]["workers"] == 1
    finally:
        kill_group(worker)
        stop_service(api)
        client.flushdb()
