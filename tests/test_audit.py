"""Auditing rewards while training: second opinions, canaries, their metrics and `reward audit`.

The main test makes the math verifier wrong on purpose for one form: a patched reader
turns a boxed fraction ``\\boxed{\\frac{a}{b}}`` upside down before the real verifier sees
it. The service runs with a backend that verifies in this process (so the patch reaches
the verifier; the embedded backend's pool processes would not see it), every item audited
(rate 1.0) and every label sending its canaries. The second opinion must find exactly the
fraction answers, the fraction labels' boxed canaries must fail, the metrics must say so
and ``reward audit`` must list them; with the reader right again nothing new is found and
the rate returns to zero. Rewards are the verifier's, patched or not: the audit never
changes one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

import services.domains.math as math_domain
from reward_server.app import create_app
from reward_server.audit_store import FileStore, RedisStore, read_file, read_redis
from reward_server.cli import main as reward_main
from reward_server.settings import Settings
from services.canaries import canaries_for, failed
from services.result import Opinion, OpinionVerdict, Result
from services.scoring import decode_item, score
from services.second_opinion import AUDIT_PREFIX, SECOND_OPINION_PREFIX, judge, run_item


class InProcessBackend:
    """Verifies on a thread of this process: a patched verifier is the one that runs."""

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def readiness(self) -> dict[str, Any]:
        return {"ok": True, "backend": "in-process"}

    async def execute(self, item) -> Result | Opinion:
        return await asyncio.to_thread(run_item, item)


_BOXED_FRACTION = re.compile(r"\\boxed\{\\frac\{(\w+)\}\{(\w+)\}\}")


def reader_wrong_for_boxed_fractions(monkeypatch: pytest.MonkeyPatch) -> None:
    real = math_domain.verify

    def misreading(extracted, label, options):
        region = _BOXED_FRACTION.sub(r"\\boxed{\\frac{\2}{\1}}", extracted.answer_region)
        return real(dataclasses.replace(extracted, answer_region=region), label, options)

    monkeypatch.setattr(math_domain, "verify", misreading)


SOURCE = "deepscaler"
GOLDS = ["\\frac{3}{4}", "\\frac{2}{5}", "7", "12"]


def math_items(prefix: str, source: str = SOURCE) -> list[dict[str, Any]]:
    """Six samples: the four golds answered right (two of them boxed fractions), two wrong."""
    answers = [*GOLDS, "9", "\\frac{1}{3}"]
    golds = [*GOLDS, "7", "\\frac{3}{4}"]
    return [
        {"response": f"<think>{prefix}</think> The answer is \\boxed{{{a}}}.",
         "label": {"domain": "math", "answer": g, "data_source": source}}
        for a, g in zip(answers, golds, strict=True)
    ]  # fmt: skip


PUZZLES = [
    {"response": "<think>x</think> Zoey is a knight.", "label": {"domain": "kk", "solution": {"Zoey": "knight", "Ann": "knave"}}},
    {"response": "<think>x</think> {}", "label": {"domain": "zebra", "solution": {
        "House 1": {"Name": "Arnold", "Pet": "cat"}, "House 2": {"Name": "Bob", "Pet": "dog"}}}},
    {"response": "<think>x</think> \\boxed{6/(1-3/4)}", "label": {"domain": "countdown", "target": 24,
        "numbers": [6, 1, 3, 4], "solution": "6/(1-3/4)"}},
]  # fmt: skip


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def audited_app(tmp_path: Path, **overrides: Any):
    chosen = {"audit_rate": 1.0, "canary_rate": 1.0, "audit_window": 6, "audit_max_concurrent": 1000,
              "cache_size": 0, "audit_path": tmp_path / "audit.jsonl", "pool_workers": 1, **overrides}  # fmt: skip
    settings = Settings(**chosen)
    return create_app(settings, backend=InProcessBackend())


def score_all(client: TestClient, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    answer = client.post("/v1/score", json={"items": items})
    assert answer.status_code == 200, answer.text
    client.portal.call(client.app.state.engine.auditor.drain)
    return answer.json()["results"]


def test_a_reader_made_wrong_is_found_by_the_second_opinion_and_the_canaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = audited_app(tmp_path)
    with TestClient(app) as client:
        reader_wrong_for_boxed_fractions(monkeypatch)
        results = score_all(client, math_items("wrong reader") + PUZZLES)
        # The rewards are the (patched) verifier's: the two right fractions are paid 0.
        assert [r["reward"] for r in results[:6]] == [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
        text = client.get("/metrics").text
        assert metric(text, "reward_audit_items_total", domain="math", data_source=SOURCE) == 6
        assert metric(text, "reward_audit_disagreements_total", domain="math", data_source=SOURCE) == 2
        assert metric(
            text, "reward_audit_disagreement_rate", domain="math", data_source=SOURCE
        ) == pytest.approx(2 / 6)
        # Four math labels (3 canaries each) and the puzzles' and CountDown's canaries all ran;
        # only the fraction labels' boxed canaries failed.
        assert metric(text, "reward_canary_runs_total", domain="math") == 12
        assert metric(text, "reward_canary_failures_total", domain="math", data_source=SOURCE) == 2
        assert metric(text, "reward_canary_runs_total", domain="kk") == 3
        assert metric(text, "reward_canary_runs_total", domain="zebra") == 2
        assert metric(text, "reward_canary_runs_total", domain="countdown") == 2
        assert metric(text, "reward_canary_failures_total") == 2
        assert metric(text, "reward_source_items_total", data_source=SOURCE, verdict="wrong") == 4

        records = read_file(tmp_path / "audit.jsonl")
        assert sorted(r["kind"] for r in records) == ["canary", "canary", "disagreement", "disagreement"]
        disagreeing = [r for r in records if r["kind"] == "disagreement"]
        assert {json.loads(r["label"])["answer"] for r in disagreeing} == {"\\frac{3}{4}", "\\frac{2}{5}"}
        assert all(
            r["primary"]["verdict"] == "wrong" and r["second"]["verdict"] == "correct" for r in disagreeing
        )
        assert all(r["data_source"] == SOURCE for r in records)

        exported, plotted = tmp_path / "review.jsonl", tmp_path / "audit.png"
        assert reward_main(["audit", "--path", str(tmp_path / "audit.jsonl"), "--export", str(exported),
                            "--plot", str(plotted)]) == 0  # fmt: skip
        listing = capsys.readouterr().out
        assert "4 records: 2 disagreements, 2 failed canaries" in listing
        assert (
            "math: wrong vs correct" in listing
            and "math: canary boxed expected correct, got wrong" in listing
        )
        assert len(exported.read_text().splitlines()) == 4
        assert plotted.read_bytes()[:4] == b"\x89PNG"

        # The reader right again: new samples and new labels (another source) find nothing.
        monkeypatch.undo()
        results = score_all(client, math_items("right reader") + math_items("other labels", "math_v2"))
        assert [r["reward"] for r in results[:6]] == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
        text = client.get("/metrics").text
        assert metric(text, "reward_audit_items_total", domain="math") == 18
        assert metric(text, "reward_audit_disagreements_total", domain="math") == 2
        assert metric(text, "reward_audit_disagreement_rate", domain="math", data_source=SOURCE) == 0
        assert metric(text, "reward_audit_disagreement_rate", domain="math", data_source="math_v2") == 0
        assert metric(text, "reward_canary_runs_total", domain="math", data_source="math_v2") == 12
        assert metric(text, "reward_canary_failures_total") == 2
        assert len(read_file(tmp_path / "audit.jsonl")) == 4


def test_audit_off_does_nothing_and_cached_results_are_not_judged_again(tmp_path: Path) -> None:
    app = audited_app(tmp_path, audit_rate=0.0, canary_rate=0.0)
    with TestClient(app) as client:
        score_all(client, math_items("off"))
        text = client.get("/metrics").text
        assert metric(text, "reward_audit_items_total") == 0
        assert metric(text, "reward_canary_runs_total") == 0
        assert metric(text, "reward_source_items_total", data_source=SOURCE) == 6
    app = audited_app(tmp_path, cache_size=100, canary_rate=0.0)
    with TestClient(app) as client:
        score_all(client, math_items("cached"))
        score_all(client, math_items("cached"))  # the same six again: answered from the cache
        assert metric(client.get("/metrics").text, "reward_audit_items_total") == 6


def as_second_opinion(response: str, label: dict[str, Any]):
    item = decode_item(response, label)
    return dataclasses.replace(item, key=SECOND_OPINION_PREFIX + item.key)


@pytest.mark.parametrize(
    ("response", "label", "verdict"),
    [
        (
            "<think>\\boxed{5}</think> so it is \\boxed{\\frac{6}{8}}",
            {"domain": "math", "answer": "0.75"},
            "correct",
        ),
        ("The answer is 0.75", {"domain": "math", "answer": "\\frac{3}{4}"}, "correct"),
        ("The answer is \\boxed{2}", {"domain": "math", "answer": "\\frac{3}{4}"}, "wrong"),
        ("I cannot tell.", {"domain": "math", "answer": "\\frac{3}{4}"}, "abstain"),
        # Math-Verify reads 35.0% as 0.35, the other reader drops the sign: no decision, no false alarm.
        ("The percentage is $\\boxed{35.0\\%}$.", {"domain": "math", "answer": "35"}, "abstain"),
        (
            "<answer>6/(1-3/4) = 24</answer>",
            {"domain": "countdown", "target": 24, "numbers": [1, 3, 4, 6]},
            "correct",
        ),
        (
            "<answer>\\boxed{6 \\times 4 + 1 - 3}</answer>",
            {"domain": "countdown", "target": 24, "numbers": [1, 3, 4, 6]},
            "wrong",
        ),
        (
            "<answer>6 * 4 = 24</answer>",
            {"domain": "countdown", "target": 24, "numbers": [1, 3, 4, 6]},
            "abstain",
        ),
        ("Zoey is a knight", {"domain": "kk", "solution": {"Zoey": "knight"}}, "abstain"),
    ],
)
def test_second_opinions(response: str, label: dict[str, Any], verdict: str) -> None:
    item = as_second_opinion(response, label)
    assert run_item(item)["verdict"] == verdict


def test_the_lenient_code_rerun_accepts_a_float_printed_short() -> None:
    label = {"domain": "code", "tests": {"inputs": ["1 3\n"], "outputs": ["0.3333333333\n"]}}
    response = "```python\na, b = map(int, input().split())\nprint(round(a / b, 7))\n```"
    assert score(decode_item(response, label))["verdict"] == "wrong"
    opinion = judge(as_second_opinion(response, label))
    assert opinion["verdict"] == "correct", opinion


@pytest.mark.parametrize(
    "label",
    [
        {"domain": "math", "answer": "\\frac{1}{2}"},
        {"domain": "math", "answer": "(2, 3)"},
        {"domain": "math", "answer": "x^2 + 1"},
        {"domain": "math", "answer": "\\text{Evelyn}"},
        {"domain": "countdown", "target": 24, "numbers": [6, 1, 3, 4], "solution": "6/(1-3/4)"},
        {"domain": "kk", "solution": {"Zoey": "knight", "Oliver": "knave", "Ann": "knave"}},
        {"domain": "kk", "solution": {"Zoey": "hero", "Oliver": "villain"}, "roles": ["hero", "villain"]},
        {"domain": "zebra", "row_order": "any",
         "solution": {"House 1": {"Name": "Arnold", "Pet": "cat"}, "House 2": {"Name": "Bob", "Pet": "dog"}}},
        {"domain": "zebra", "solution": {"header": ["House", "Name", "Pet"], "rows": [["1", "Arnold", "cat"], ["2", "Bob", "dog"]]}},
    ],
)  # fmt: skip
def test_canaries_of_a_right_verifier_pass(label: dict[str, Any]) -> None:
    item = decode_item("", label)
    found = canaries_for(item.domain, item.label)
    assert any(c.right for c in found)
    for canary in found:
        verdict = score(decode_item(canary.response, label))["verdict"]
        assert not failed(canary, verdict), (canary, verdict)


def test_countdown_without_a_solution_and_code_have_no_canaries() -> None:
    for label in ({"domain": "countdown", "target": 24, "numbers": [6, 1, 3, 4]},
                  {"domain": "code", "tests": {"inputs": ["1"], "outputs": ["1"]}}):  # fmt: skip
        item = decode_item("", label)
        assert canaries_for(item.domain, item.label) == []


def test_the_file_store_stays_bounded_and_reads_newest_first(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "a.jsonl", max_bytes=4096)
    for i in range(200):
        store.append({"kind": "disagreement", "n": i, "pad": "x" * 40})
    records = read_file(tmp_path / "a.jsonl")
    assert records[0]["n"] == 199
    assert [r["n"] for r in records] == sorted((r["n"] for r in records), reverse=True)
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 2 * 4096


def test_the_redis_store_is_bounded_and_newest_first() -> None:
    import uuid

    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    key = f"reward:test-audit:{uuid.uuid4().hex}"

    async def write() -> None:
        store = RedisStore(url, max_records=5, key=key)
        for i in range(8):
            await store.add({"kind": "canary", "n": i})
        await store.close()

    try:
        asyncio.run(write())
        assert [r["n"] for r in read_redis(url, key=key)] == [7, 6, 5, 4, 3]
    finally:
        redis.Redis.from_url(url).delete(key)


class AuditNeverEnds(InProcessBackend):
    """Scores items at once; audit work (second opinions, canaries) never finishes."""

    async def execute(self, item) -> Result | Opinion:
        if item.key.startswith(AUDIT_PREFIX):
            await asyncio.Event().wait()
        return await super().execute(item)


def test_audit_work_never_holds_a_request_and_is_dropped_past_its_bound(tmp_path: Path) -> None:
    settings = Settings(
        audit_rate=1.0, canary_rate=0.0, audit_max_concurrent=1, audit_path=tmp_path / "a.jsonl"
    )
    with TestClient(create_app(settings, backend=AuditNeverEnds())) as client:
        answer = client.post("/v1/score", json={"items": math_items("never ends")})
        assert answer.status_code == 200
        assert [r["reward"] for r in answer.json()["results"]] == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
        text = client.get("/metrics").text
        # One audit holds the only place; the other five were dropped, not queued.
        assert metric(text, "reward_audit_skipped_total", reason="busy") == 5
        assert metric(text, "reward_audit_items_total") == 0


def test_in_rq_mode_the_workers_judge_and_redis_keeps_the_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    import httpx
    import redis

    from reward_client.local import start_service, stop_service
    from tests.test_rq_scaleout import kill_group, start_worker, wait_for_workers

    url = "redis://127.0.0.1:6379/12"  # a database of its own (test_rq_scaleout flushes 13)
    connection = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    connection.flushdb()
    settings = {"REWARD_BACKEND": "rq", "REDIS_URL": url, "REWARD_AUDIT_RATE": "1", "REWARD_CANARY_RATE": "1"}
    api = start_service(tmp_path, settings, ["--no-sandbox"])
    worker = start_worker(tmp_path, "worker", REDIS_URL=url)
    try:
        wait_for_workers(api.url, 1)
        # A float printed to 7 places where the test expects 10: wrong to the verifier (no
        # tolerance in the label), right to the lenient re-run. And a math answer both agree on.
        items = [
            {"response": "```python\nprint(round(1 / 3, 7))\n```",
             "label": {"domain": "code", "data_source": "taco", "tests": {"inputs": [""], "outputs": ["0.3333333333"]}}},
            {"response": "<think>x</think> \\boxed{\\frac{3}{4}}", "label": {"domain": "math", "answer": "0.75"}},
        ]  # fmt: skip
        results = httpx.post(f"{api.url}/v1/score", json={"items": items}, timeout=120).json()["results"]
        assert [r["verdict"] for r in results] == ["wrong", "correct"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the audit finishes after the answer, on the worker
            text = httpx.get(f"{api.url}/metrics", timeout=10).text
            if (
                metric(text, "reward_audit_items_total") >= 2
                and metric(text, "reward_canary_runs_total") >= 3
            ):
                break
            time.sleep(0.5)
        assert metric(text, "reward_audit_disagreements_total", domain="code", data_source="taco") == 1
        assert metric(text, "reward_audit_disagreements_total", domain="math") == 0
        assert metric(text, "reward_canary_failures_total") == 0
        # Audit results are never cached: only the two scored items are.
        assert len(connection.keys("reward:cache:*")) == 2
        assert reward_main(["audit", "--redis", url, "--kind", "disagreement"]) == 0
        listing = capsys.readouterr().out
        assert "1 records: 1 disagreements" in listing and "code: wrong vs correct" in listing
    finally:
        kill_group(worker)
        stop_service(api)
        connection.flushdb()


def test_answers_too_large_to_build_are_not_judged_again(tmp_path: Path) -> None:
    """The math screen decided them; Math-Verify would only spend its time limit on them."""

    class Recording(InProcessBackend):
        audits: list[str] = []

        async def execute(self, item) -> Result | Opinion:
            if item.key.startswith(AUDIT_PREFIX):
                self.audits.append(item.response)
                return Opinion(OpinionVerdict.ABSTAIN, "not run here", "none")
            return await super().execute(item)

    backend = Recording()
    settings = Settings(audit_rate=1.0, canary_rate=0.0, audit_path=tmp_path / "a.jsonl")
    with TestClient(create_app(settings, backend=backend)) as client:
        items = [{"response": "\\boxed{9^{9^{9^{9}}}}", "label": {"domain": "math", "answer": "5"}},
                 {"response": "\\boxed{4}", "label": {"domain": "math", "answer": "5"}}]  # fmt: skip
        results = score_all(client, items)
        assert results[0]["verdict"] == "wrong" and results[0]["details"].get("screen") == "huge"
        assert backend.audits == ["\\boxed{4}"]
