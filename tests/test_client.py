"""The Python client against a real running service: typed results, batching, retries, deadline, API key.

Retries are shown by stopping the service and starting it again on the same port while
calls are waiting; 5xx and 429 by putting a real HTTP proxy in front of the service that
answers the first requests with 503 / 429 (what a load balancer does during a rollout).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from reward_client import (
    AsyncRewardClient,
    ItemResult,
    RetryPolicy,
    RewardClient,
    RewardRequestError,
    RewardResponse,
    RewardServiceUnavailable,
)
from reward_client.local import RunningService, free_port, start_service, stop_service

API_KEY = "client-test-key"
FAST_RETRY = RetryPolicy(max_retries=30, base_delay_s=0.05, max_delay_s=0.4)


def requests_counted(url: str, route: str, status: str) -> float:
    """The service's reward_http_requests_total{route, status} now."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    pattern = re.compile(
        r'^reward_http_requests_total\{(?=[^}]*route="' + re.escape(route) + r'")(?=[^}]*status="' + status + r'")[^}]*\}\s+(\S+)$',
        re.M,
    )
    match = pattern.search(text)
    return float(match.group(1)) if match else 0.0


def math_item(n: int, right: bool) -> dict:
    answer = n if right else n + 1
    return {
        "response": f"<think>adding up</think> The answer is \\boxed{{{answer}}}.",
        "label": {"domain": "math", "answer": str(n)},
    }


def countdown_item(right: bool) -> dict:
    equation = "(6 - 3) * 4 * 2" if right else "6 + 3 + 4 + 2"
    return {
        "response": f"<think>search</think> <answer>{equation}</answer>",
        "label": {"domain": "countdown", "target": 24, "numbers": [6, 3, 4, 2]},
        "prompt": "Use the numbers once each. Show your answer in <answer> </answer> tags. Assistant: <think>",
    }


class RestartableService:
    """A service of our own on a fixed port, with an API key, that tests stop and start again."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.running: RunningService | None = None

    def start(self) -> None:
        env = {"REWARD_API_KEY": API_KEY, "REWARD_POOL_WORKERS": "2"}
        self.running = start_service(self.log_dir, env_overrides=env, port=self.port)
        assert self.running.url == self.url

    def stop(self) -> None:
        if self.running is not None:
            stop_service(self.running)
            self.running = None


@pytest.fixture(scope="module")
def own_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableService]:
    service = RestartableService(tmp_path_factory.mktemp("client-service"))
    service.start()
    yield service
    service.stop()


def test_score_returns_typed_results_in_order(service_url):
    items = [math_item(12, True), math_item(12, False), countdown_item(True), countdown_item(False)]
    with RewardClient(service_url) as client:
        results = client.score(items)
    assert all(isinstance(r, ItemResult) for r in results)
    assert [r.reward for r in results] == [1.0, 0.0, 1.0, 0.0]
    assert [r.verdict for r in results] == ["correct", "wrong", "correct", "wrong"]


def test_request_options_apply_to_every_item(service_url):
    # format mode: a response whose think block never closes gets the format penalty.
    items = [math_item(5, True), {"response": "<think>5", "label": {"domain": "math", "answer": "5"}}]
    with RewardClient(service_url) as client:
        binary = client.score(items)
        shaped = client.score(items, {"mode": "format", "format_penalty": -0.5})
    assert [r.reward for r in binary] == [1.0, 0.0]
    assert [r.reward for r in shaped] == [1.0, -0.5]


def test_250_items_with_batch_size_100_go_as_3_requests_in_order(service_url):
    items = [math_item(i, right=i % 3 != 0) for i in range(250)]
    before = requests_counted(service_url, "/v1/score", "200")
    with RewardClient(service_url, batch_size=100, concurrency=3) as client:
        results = client.score(items)
    after = requests_counted(service_url, "/v1/score", "200")
    assert after - before == 3
    assert len(results) == 250
    assert [r.reward for r in results] == [0.0 if i % 3 == 0 else 1.0 for i in range(250)]


def test_reward_batches_and_joins_extra_logs(service_url):
    prompt = "Put the answer in <answer> </answer> tags.\nAssistant: <think>"
    queries, labels, expected = [], [], []
    for i in range(7):
        right = i % 2 == 0
        queries.append(prompt + f" work</think> <answer>\\boxed{{{i if right else i + 10}}}</answer><|im_end|>")
        labels.append(json.dumps({"domain": "math", "answer": str(i)}))
        expected.append(1.0 if right else 0.0)
    before = requests_counted(service_url, "/reward", "200")
    with RewardClient(service_url, batch_size=3) as client:
        merged = client.reward(queries, [prompt] * 7, labels)
    with RewardClient(service_url, batch_size=100) as client:
        whole = client.reward(queries, [prompt] * 7, labels, deadline_s=60)
    assert requests_counted(service_url, "/reward", "200") - before == 3 + 1
    assert isinstance(merged, RewardResponse)
    assert merged.rewards == expected
    assert merged.extra_logs["correct"] == expected
    assert all(len(v) == 7 for v in merged.extra_logs.values())
    assert (merged.rewards, merged.scores) == (whole.rewards, whole.scores)
    assert {k: v for k, v in merged.extra_logs.items() if k != "cached"} == {
        k: v for k, v in whole.extra_logs.items() if k != "cached"
    }


def test_async_client_scores_and_rewards(service_url):
    async def run():
        async with AsyncRewardClient(service_url, batch_size=4, concurrency=2) as client:
            results = await client.score([math_item(i, right=i % 2 == 0) for i in range(10)])
            reward = await client.reward(["Q: 3+4? A: \\boxed{7}"], ["Q: 3+4? A:"], [{"domain": "math", "answer": "7"}])
        return results, reward

    results, reward = asyncio.run(run())
    assert [r.reward for r in results] == [1.0 if i % 2 == 0 else 0.0 for i in range(10)]
    assert reward.rewards == [1.0] and reward.scores == [1.0]


def test_4xx_is_not_retried_and_carries_the_servers_message(service_url):
    before = requests_counted(service_url, "/v1/score", "422")
    with RewardClient(service_url, retry=FAST_RETRY) as client:
        with pytest.raises(RewardRequestError) as excinfo:
            client.score([math_item(1, True)], {"no_such_option": 1})
    assert excinfo.value.status_code == 422
    assert "no_such_option" in str(excinfo.value)
    assert service_url in str(excinfo.value)
    assert requests_counted(service_url, "/v1/score", "422") - before == 1


def test_mismatched_lengths_are_refused_before_sending(service_url):
    with RewardClient(service_url) as client, pytest.raises(ValueError, match="labels has 1 entries but queries has 2"):
        client.reward(["a", "b"], ["", ""], [{"domain": "math", "answer": "1"}])


def test_url_from_env_with_a_pasted_route(service_url, monkeypatch):
    monkeypatch.setenv("REWARD_URL", f"{service_url}/reward")
    with RewardClient() as client:
        assert client.base_url == service_url
        assert client.score([math_item(3, True)])[0].verdict == "correct"


def test_api_key_from_argument_and_env_and_a_missing_key_is_a_401(own_service, monkeypatch):
    monkeypatch.delenv("REWARD_API_KEY", raising=False)
    with RewardClient(own_service.url, api_key=API_KEY) as client:
        assert client.score([math_item(2, True)])[0].reward == 1.0
    before = requests_counted(own_service.url, "/v1/score", "401")
    with RewardClient(own_service.url, retry=FAST_RETRY) as client, pytest.raises(RewardRequestError) as excinfo:
        client.score([math_item(2, True)])
    assert excinfo.value.status_code == 401 and "API key" in str(excinfo.value)
    assert requests_counted(own_service.url, "/v1/score", "401") - before == 1  # not retried
    monkeypatch.setenv("REWARD_API_KEY", API_KEY)
    with RewardClient(own_service.url) as client:
        assert client.reward(["\\boxed{2}"], None, [{"domain": "math", "answer": "2"}]).rewards == [1.0]


def test_service_down_past_the_retries_raises_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with RewardClient(url, retry=RetryPolicy(max_retries=2, base_delay_s=0.01, max_delay_s=0.02)) as client:
        with pytest.raises(RewardServiceUnavailable) as excinfo:
            client.score([math_item(1, True)])
    assert excinfo.value.attempts == 3
    assert f"{url}/v1/score" in str(excinfo.value)
    assert "ConnectError" in str(excinfo.value)


def test_the_call_deadline_bounds_the_retries():
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with RewardClient(url, retry=RetryPolicy(max_retries=1000, base_delay_s=0.05, max_delay_s=0.2)) as client:
        with pytest.raises(RewardServiceUnavailable, match="deadline") as excinfo:
            client.reward(["x"], None, [{"domain": "math", "answer": "1"}], deadline_s=1.0)
    assert time.monotonic() - started < 10
    assert excinfo.value.attempts > 1
    assert url in str(excinfo.value)


def test_async_client_down_raises_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}"

    async def run():
        async with AsyncRewardClient(url, retry=RetryPolicy(max_retries=1, base_delay_s=0.01)) as client:
            await client.score([math_item(1, True)])

    with pytest.raises(RewardServiceUnavailable, match=re.escape(url)):
        asyncio.run(run())


def test_calls_made_while_the_service_is_down_succeed_once_it_is_back(own_service, caplog):
    """Stop the service, start a sync and an async call, restart the service on the same port."""
    caplog.set_level(logging.WARNING, logger="reward_client")
    items = [math_item(i, right=i % 2 == 1) for i in range(20)]
    outcome: dict[str, object] = {}

    def sync_call() -> None:
        with RewardClient(own_service.url, api_key=API_KEY, batch_size=8, retry=FAST_RETRY) as client:
            try:
                outcome["sync"] = client.score(items, deadline_s=60)
            except Exception as exc:  # reported below
                outcome["sync"] = exc

    def async_call() -> None:
        async def run():
            async with AsyncRewardClient(own_service.url, api_key=API_KEY, retry=FAST_RETRY) as client:
                return await client.reward(["\\boxed{9}"], None, [{"domain": "math", "answer": "9"}], deadline_s=60)

        try:
            outcome["async"] = asyncio.run(run())
        except Exception as exc:
            outcome["async"] = exc

    own_service.stop()
    threads = [threading.Thread(target=sync_call), threading.Thread(target=async_call)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    assert all(t.is_alive() for t in threads), "the calls should still be retrying while the service is down"
    own_service.start()
    for t in threads:
        t.join(timeout=60)
    assert not isinstance(outcome["sync"], Exception), outcome["sync"]
    assert not isinstance(outcome["async"], Exception), outcome["async"]
    assert [r.reward for r in outcome["sync"]] == [1.0 if i % 2 == 1 else 0.0 for i in range(20)]
    assert outcome["async"].rewards == [1.0]
    retries = [r for r in caplog.records if r.name == "reward_client" and "retry" in r.getMessage()]
    assert any("/v1/score" in r.getMessage() for r in retries)
    assert any("/reward" in r.getMessage() for r in retries)


class FlakyGateway:
    """A real HTTP proxy to the service that answers the first requests with the given statuses."""

    def __init__(self, upstream: str, failures: list[int]) -> None:
        self.failures = list(failures)
        self.seen: list[int] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if gateway.failures:
                    status = gateway.failures.pop(0)
                    payload = json.dumps({"detail": f"gateway says {status}"}).encode()
                    self.send_response(status)
                    self.send_header("retry-after", "0")
                else:
                    upstream_response = httpx.post(
                        f"{upstream}{self.path}", content=body, headers={"content-type": "application/json"}, timeout=60
                    )
                    status, payload = upstream_response.status_code, upstream_response.content
                    self.send_response(status)
                gateway.seen.append(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FlakyGateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_5xx_and_429_are_retried(service_url):
    with FlakyGateway(service_url, [503, 429, 502, 500]) as gateway:
        with RewardClient(gateway.url, retry=FAST_RETRY) as client:
            results = client.score([math_item(4, True), math_item(4, False)])
    assert [r.reward for r in results] == [1.0, 0.0]
    assert gateway.seen == [503, 429, 502, 500, 200]


def test_persistent_5xx_raises_unavailable_with_the_servers_message(service_url):
    with FlakyGateway(service_url, [503] * 10) as gateway:
        with RewardClient(gateway.url, retry=RetryPolicy(max_retries=3, base_delay_s=0.01)) as client:
            with pytest.raises(RewardServiceUnavailable) as excinfo:
                client.score([math_item(4, True)])
    assert gateway.seen == [503] * 4
    assert "HTTP 503: gateway says 503" in str(excinfo.value)
    assert gateway.url in str(excinfo.value)
