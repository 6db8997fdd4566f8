"""The real service over real HTTP: contracts, bad input, pathological math, metrics."""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import start_service, stop_service

R1_PROMPT = "Put the answer in <answer> </answer> tags.\nUser: What is 1+1?\nAssistant: <think>"
MATH_2 = {"domain": "math", "answer": "2"}


def score(client, items, **options):
    body = {"items": items}
    if options:
        body["options"] = options
    response = client.post("/v1/score", json=body)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_health_ready_docs(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["backend"]["ok"]
    sandbox = ready.json()["sandbox"]
    assert sandbox["started"] and sandbox["layers"] and sandbox["inactive"] == [], sandbox
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/reward", "/get_reward", "/v1/score"} <= set(paths)


def test_batch_with_bad_items_is_scored_item_by_item(client):
    results = score(
        client,
        [
            {"response": "\\boxed{2}", "label": MATH_2},
            {"response": "\\boxed{2}", "label": "not json"},
            {"response": "\\boxed{2}", "label": {"domain": "chess"}},
            {"response": "\\boxed{2}", "label": {"domain": "math"}},
            {"response": "\\boxed{2}", "label": 17},
            {"response": "\\boxed{2}", "label": MATH_2, "options": {"mode": "nonsense"}},
            {"response": "<answer>6/(1-3/4)</answer>", "label": {"domain": "countdown", "target": 24, "numbers": [1, 3, 4, 6]}},
            {"response": "\\boxed{3}", "label": json_string(MATH_2)},
        ],
    )
    verdicts = [r["verdict"] for r in results]
    assert verdicts == ["correct", "error", "error", "error", "error", "error", "correct", "wrong"]
    assert "not JSON" in results[1]["details"]["reason"]
    assert "unknown domain 'chess'" in results[2]["details"]["reason"]
    assert "answer" in results[3]["details"]["reason"]
    assert "mode" in results[5]["details"]["reason"]
    assert all(r["reward"] == 0.0 for r in results[1:6])
    assert all(r["latency_ms"] >= 0 for r in results)


def json_string(obj):
    import json

    return json.dumps(obj)


@pytest.mark.parametrize("path", ["/reward", "/get_reward"])
def test_openrlhf_contract(client, path):
    queries = [R1_PROMPT + "1+1 is 2</think><answer>\\boxed{2}</answer><|im_end|>", R1_PROMPT + "hmm</think> 3"]
    body = {"query": queries, "prompts": [R1_PROMPT, R1_PROMPT], "labels": [json_string(MATH_2), MATH_2]}
    data = client.post(path, json=body).json()
    assert data["rewards"] == [1.0, 0.0]
    assert data["scores"] == [1.0, 0.0]
    logs = data["extra_logs"]
    assert logs["correct"] == [1.0, 0.0]
    assert logs["format_ok"] == [1.0, 0.0]
    assert logs["format_error"] == [0.0, 1.0]
    assert logs["timeout"] == [0.0, 0.0] and logs["error"] == [0.0, 0.0]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"query": ["a"]}, "labels"),
        ({"query": "a", "labels": ["x"]}, "query"),
        ({"query": ["a", "b"], "labels": ["x"]}, "labels"),
        ({"query": ["a"], "prompts": [], "labels": ["x"]}, "prompts"),
        ({"query": ["a"], "labels": ["x"], "options": {"mode": "best"}}, "mode"),
    ],
)
def test_malformed_reward_request_names_the_field(client, body, field):
    response = client.post("/reward", json=body)
    assert response.status_code == 422
    assert field in response.text


@pytest.mark.parametrize(
    "body, field",
    [({}, "items"), ({"items": []}, "items"), ({"items": [{"label": MATH_2}]}, "response"), ({"items": [{"response": 3, "label": MATH_2}]}, "response")],
)
def test_malformed_score_request_names_the_field(client, body, field):
    response = client.post("/v1/score", json=body)
    assert response.status_code == 422
    assert field in response.text


def test_not_json_is_a_4xx(client):
    response = client.post("/v1/score", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422


PATHOLOGICAL = [
    "\\boxed{5^{5^{5^{5^5}}}}",
    "\\boxed{9^{9^{9}}}",
    "The answer is $9^{9^{9}}$.",
    "\\boxed{100000000!}",
]


def test_pathological_math_times_out_and_the_service_stays_healthy(client):
    limit = 2.0
    results = score(client, [{"response": r, "label": MATH_2} for r in PATHOLOGICAL], timeout_s=limit)
    assert [r["verdict"] for r in results] == ["timeout"] * len(PATHOLOGICAL), results
    assert all(r["reward"] == 0.0 for r in results)
    # Each was stopped by its own limit: its verifier process was killed.
    assert all(r["details"]["reason"] == "item took longer than 2 s; its worker was killed" for r in results)
    assert client.get("/healthz").status_code == 200
    assert score(client, [{"response": "\\boxed{2}", "label": MATH_2}])[0]["verdict"] == "correct"
    assert client.get("/readyz").status_code == 200


def test_twenty_thousand_term_sum(client):
    response = "\\boxed{" + "+".join(["1"] * 20_000) + "}"
    right, off_by_one = score(
        client,
        [
            {"response": response, "label": {"domain": "math", "answer": "20000"}},
            {"response": response, "label": {"domain": "math", "answer": "20001"}},
        ],
    )
    # Too long for a symbolic parse, math-verify may fall back to comparing text: never an
    # error, never a false positive, and answered within the item time limit.
    assert right["verdict"] in ("correct", "wrong", "timeout"), right
    assert off_by_one["verdict"] in ("wrong", "timeout"), off_by_one
    for result in (right, off_by_one):
        if result["verdict"] == "timeout":
            assert "took longer than 10 s" in result["details"]["reason"], result


def test_one_megabyte_responses(client):
    filler = "the quick brown fox " * 50_000
    results = score(
        client,
        [
            {"response": filler + "\\boxed{2}", "label": MATH_2},
            {"response": filler, "label": MATH_2},
            {"response": "<think>" + filler + "</think>\\boxed{2}", "label": MATH_2},
        ],
    )
    assert [r["verdict"] for r in results][0] == "correct"
    assert results[1]["verdict"] in ("wrong", "format_error")
    assert results[2]["verdict"] == "correct"


def test_think_only_empty_and_spam(client):
    results = score(
        client,
        [
            {"response": "<think>\\boxed{2}</think>", "label": MATH_2},
            {"response": "", "label": MATH_2},
            {"response": " ".join(f"\\boxed{{{i}}}" for i in range(100)), "label": MATH_2},
        ],
    )
    assert [r["verdict"] for r in results] == ["format_error", "format_error", "wrong"]
    assert all(r["reward"] == 0.0 for r in results)


@pytest.mark.parametrize(
    "mode, rewards",
    [
        ("binary", [1.0, 0.0, 0.0]),
        ("partial", [1.0, 0.0, 0.0]),
        ("format", [1.0, 0.0, -1.0]),
        ("rescaled", [1.0, -1.0, -1.0]),
        ("logic-rl", [3.0, -0.5, -3.0]),
    ],
)
def test_each_reward_mode_over_http(client, mode, rewards):
    items = [
        {"response": "t</think><answer>\\boxed{2}</answer>", "label": MATH_2, "prompt": R1_PROMPT},
        {"response": "t</think><answer>\\boxed{5}</answer>", "label": MATH_2, "prompt": R1_PROMPT},
        {"response": "t</think> no tags", "label": MATH_2, "prompt": R1_PROMPT},
    ]
    assert [r["reward"] for r in score(client, items, mode=mode)] == rewards


def metric_value(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" ([0-9.e+-]+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def test_cache_and_metrics(client):
    item = {"response": "cached? \\boxed{2}", "label": MATH_2}
    before = client.get("/metrics").text
    first = score(client, [item])[0]
    second = score(client, [item])[0]
    assert not first["cached"] and second["cached"]
    assert second["verdict"] == first["verdict"] == "correct"
    after = client.get("/metrics").text
    assert metric_value(after, "reward_cache_hits_total") >= metric_value(before, "reward_cache_hits_total") + 1
    correct = 'domain="math",verdict="correct"'
    assert metric_value(after, "reward_items_total", correct) >= metric_value(before, "reward_items_total", correct) + 2
    assert "reward_item_seconds_bucket" in after and "reward_queue_depth" in after
    assert 'reward_http_requests_total{route="/v1/score",status="200"}' in after


def test_concurrent_single_sample_requests(service_url):
    def one(i):
        body = {"query": [f"Q{i} Assistant: \\boxed{{{i % 3}}}"], "prompts": [f"Q{i} Assistant:"], "labels": [{"domain": "math", "answer": str(i % 3)}]}
        return httpx.post(f"{service_url}/reward", json=body, timeout=120).json()["rewards"][0]

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        rewards = list(pool.map(one, range(128)))
    assert rewards == [1.0] * 128


@pytest.fixture(scope="module")
def guarded_service(tmp_path_factory):
    running = start_service(
        tmp_path_factory.mktemp("guarded"),
        {"REWARD_API_KEY": "s3cret", "REWARD_MAX_REQUEST_BYTES": "4096", "REWARD_POOL_WORKERS": "1"},
    )
    yield running
    stop_service(running)


def test_api_key_is_required_when_set(guarded_service):
    body = {"items": [{"response": "\\boxed{2}", "label": MATH_2}]}
    url = f"{guarded_service.url}/v1/score"
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = httpx.post(url, json=body, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and ok.json()["results"][0]["verdict"] == "correct"
    assert httpx.get(f"{guarded_service.url}/healthz").status_code == 200


def test_request_size_limit(guarded_service):
    body = {"items": [{"response": "x" * 10_000, "label": MATH_2}]}
    response = httpx.post(f"{guarded_service.url}/v1/score", json=body, headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 413
    assert "4096" in response.json()["detail"]


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        kids += [int(c) for c in children]
    return kids


def test_a_verifier_process_killed_under_an_item_costs_the_item_nothing(service, client):
    slow = "\\boxed{" + "+".join(["1"] * 20_000) + "}"  # a few seconds of parsing
    label = {"domain": "math", "answer": "20000"}
    undisturbed = score(client, [{"response": slow, "label": label, "options": {"max_boxed": 3}}])[0]

    outcome = {}
    sender = threading.Thread(
        target=lambda: outcome.update(r=score(client, [{"response": slow, "label": label, "options": {"max_boxed": 4}}]))
    )
    sender.start()
    time.sleep(1.0)
    # The verifier processes are children of the pool's fork server, a child of the service.
    killed = 0
    for child in _children(service.process.pid):
        if b"multiprocessing.forkserver" not in Path(f"/proc/{child}/cmdline").read_bytes():
            continue
        for verifier in _children(child):
            os.kill(verifier, signal.SIGKILL)
            killed += 1
    sender.join(timeout=60)
    assert killed >= 1
    result = outcome["r"][0]
    assert result["verdict"] == undisturbed["verdict"], result
    assert "died" not in result["details"].get("reason", "")
    metrics = client.get("/metrics").text
    restarts = sum(metric_value(metrics, "reward_worker_restarts_total", f'reason="{r}"') for r in ("crash", "pool"))
    assert restarts >= 1
    # Still ready, and still scoring.
    assert client.get("/readyz").status_code == 200
    assert score(client, [{"response": "\\boxed{5}", "label": {"domain": "math", "answer": "5"}}])[0]["verdict"] == "correct"
