"""The real service over real HTTP: contracts, bad input, pathological math, metrics."""

from __future__ import annotations

import concurrent.futures
import json
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


def post_json_text(client, path, body):
    """Post ``body`` as JSON with every non-ASCII character escaped: a lone surrogate goes
    out as ``"\\ud800"``, as a JSON encoder in another language may send it."""
    return client.post(path, content=json.dumps(body).encode(), headers={"content-type": "application/json"})


CODE_ECHO = "```python\nprint(input())\n```"


def test_text_that_is_not_unicode_makes_its_item_an_error(client):
    bad_items = [
        ({"response": "\\boxed{2}\ud800", "label": MATH_2}, "response contains a lone surrogate (U+D800) at offset 9"),
        ({"response": "\\boxed{2}", "prompt": "What is 1+1?\udfff", "label": MATH_2}, "prompt contains"),
        ({"response": "\\boxed{2}", "label": {"domain": "math", "answer": "2\ud800"}}, "label.answer contains"),
        ({"response": "\\boxed{2}", "label": json_string({"domain": "math", "answer": "\ud800"})}, "label.answer contains"),
        ({"response": CODE_ECHO, "label": {"domain": "code", "tests": {"inputs": ["1", "\ud800"], "outputs": ["1", "x"]}}},
         "label.tests.inputs[1] contains"),
        ({"response": CODE_ECHO, "label": {"domain": "code", "prelude": "# \udc00", "tests": {"inputs": ["1"], "outputs": ["1"]}}},
         "label.prelude contains"),
        ({"response": "\\boxed{2}", "label": MATH_2, "options": {"end_tokens": ["\ud800"]}}, "options.end_tokens[0] contains"),
        ({"response": "\\boxed{2}", "label": MATH_2, "options": {"\ud800": 1}}, "options key"),
    ]
    body = {"items": [{"response": "\\boxed{2}", "label": MATH_2}, *(item for item, _ in bad_items)]}
    response = post_json_text(client, "/v1/score", body)
    assert response.status_code == 200, response.text
    good, *bad = response.json()["results"]
    assert good["verdict"] == "correct"
    for result, (_, reason) in zip(bad, bad_items, strict=True):
        assert result["verdict"] == "error" and result["reward"] == 0.0, result
        assert reason in result["details"]["reason"] and "lone surrogate" in result["details"]["reason"], result


def test_openrlhf_samples_with_text_that_is_not_unicode_are_errors(client):
    prompt = "User: What is 1+1?\nAssistant:"
    body = {
        "query": [prompt + " \\boxed{2}", prompt + " \\boxed{2}\ud800", "\udfff" + prompt + " \\boxed{2}", prompt + " \\boxed{2}"],
        "prompts": [prompt, prompt, "\udfff" + prompt, prompt],
        "labels": [MATH_2, MATH_2, MATH_2, json_string({"domain": "math", "answer": "\ud800"})],
    }
    response = post_json_text(client, "/reward", body)
    assert response.status_code == 200, response.text
    logs = response.json()["extra_logs"]
    assert logs["correct"] == [1.0, 0.0, 0.0, 0.0] and logs["error"] == [0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/reward", {"query": ["\\boxed{2}"], "labels": [MATH_2], "options": {"end_tokens": ["\ud800"]}}, "end_tokens"),
        ("/v1/score", {"items": [{"response": "2", "label": MATH_2}], "options": {"end_tokens": ["</s>\ud800"]}}, "end_tokens"),
        # Errors that echo the input back hold the surrogate too: still a 422.
        ("/reward", {"query": "\\boxed{2}\ud800", "labels": [MATH_2]}, "query"),
        ("/v1/score", {"items": [{"response": 3, "label": MATH_2, "\ud800": 1}]}, "items"),
    ],
)
def test_request_wide_text_that_is_not_unicode_is_a_422(client, path, body, field):
    response = post_json_text(client, path, body)
    assert response.status_code == 422, response.text
    assert field in response.text


@pytest.mark.parametrize("path", ["/v1/score", "/reward"])
def test_a_body_that_is_not_utf8_is_a_422(client, path):
    body = b'{"items": [{"response": "\\boxed{2}\xff", "label": {"domain": "math", "answer": "2"}}]}'
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["msg"] == "request body is not utf-8 text: byte 0xff at offset 34"


# Values too large to build that the math screen does not read (a product, a sum, a gamma
# function of big bounds): only the verifier process's hard limit stops them.
PATHOLOGICAL = [
    "\\boxed{\\prod_{k=1}^{10^{8}} k}",
    "\\boxed{\\sum_{k=1}^{10^{7}} k^k}",
    "The answer is $\\Gamma(10^{8})$.",
    "\\boxed{\\binom{10^{9}}{x}}",
]
TOWERS = ["\\boxed{5^{5^{5^{5^5}}}}", "\\boxed{9**9**9}", "\\boxed{10!!!!}", "\\boxed{(10^{10^{10}})!}",
          "The answer is $2^{2^{2^{100}}}$.", "\\boxed{100000000!}"]  # fmt: skip


def test_towers_are_answered_by_the_screen_and_a_correct_neighbour_is_scored(client):
    items = [{"response": r, "label": MATH_2} for r in TOWERS] + [{"response": "\\boxed{2}", "label": MATH_2}]
    results = score(client, items)
    assert [r["verdict"] for r in results] == ["wrong"] * len(TOWERS) + ["correct"], results
    assert all(r["details"]["screen"] == "huge" for r in results[:-1])


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
    # Filler repeated to the end is a loop the length limit stopped: never paid.
    assert results[1]["verdict"] in ("wrong", "format_error", "truncated")
    assert results[1]["reward"] == 0.0
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


@pytest.fixture(scope="module")
def one_core_service(tmp_path_factory):
    """One verifier process for fresh items, and (by default) one spare."""
    running = start_service(tmp_path_factory.mktemp("one-core"), {"REWARD_POOL_WORKERS": "1", "REWARD_CACHE_SIZE": "0"})
    yield running
    stop_service(running)


def test_a_slow_answer_moves_aside_and_a_correct_neighbour_is_scored_before_it_ends(one_core_service):
    slow = {"response": PATHOLOGICAL[0], "label": MATH_2, "options": {"timeout_s": 20}}  # the screen does not read it
    with httpx.Client(base_url=one_core_service.url, timeout=120) as c:
        assert c.get("/readyz").json()["backend"]["verifier_processes"] == 2
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(score, c, [slow])
            deadline = time.monotonic() + 30
            while metric_value(c.get("/metrics").text, "reward_items_in_flight") < 1:
                assert time.monotonic() < deadline, "the slow item never arrived"
                time.sleep(0.01)
            neighbour = score(c, [{"response": "\\boxed{2}", "label": MATH_2}])[0]
            # Answered while the slow item still holds its process: it did not wait for its limit.
            assert neighbour["verdict"] == "correct" and not pending.done()
            assert pending.result()[0]["verdict"] == "timeout"
