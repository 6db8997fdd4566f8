"""Real data through the real service: samples of the study's released files, LeetCodeDataset
and MBPP (tests/data/realdata, with their source and licence) are converted with the
project's converters, answered in the forms models write, and scored over HTTP. Gold
answers and reference solutions score 1; altered answers score less, or exactly their
partial credit. The whole files run in ``make realdata``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.realdata.cases import Case, cases_for
from trainer.data.build import SourceSpec, load_tasks

DATA = Path(__file__).parent / "data"
FIXTURES = [
    ("verl", "deepscaler_test.jsonl", 30),
    ("verl", "countdown_test.jsonl", 10),
    ("verl", "kk_test.jsonl", 12),
    ("verl", "zebra_test.jsonl", 10),
    ("verl", "coder1_test.jsonl", 18),
    ("leetcode", "leetcode_v1_test.jsonl", 8),
    ("leetcode", "leetcode_v2_test.jsonl", 8),
    ("mbpp", "mbpp_sanitized.jsonl", 15),
]


def score_all(client, cases: list[Case]) -> list[dict]:
    results = []
    for start in range(0, len(cases), 64):
        response = client.post("/v1/score", json={"items": [c.item for c in cases[start : start + 64]]})
        assert response.status_code == 200, response.text
        results.extend(response.json()["results"])
    return results


@pytest.mark.parametrize("fmt, name, rows", FIXTURES, ids=[f[1] for f in FIXTURES])
def test_real_rows_convert_and_right_answers_score_one(client, fmt, name, rows):
    tasks, report = load_tasks(SourceSpec.parse(f"{fmt}={DATA / 'realdata' / name}"), progress=False)
    assert (report.converted, dict(report.skipped)) == (rows, {})
    cases = cases_for(tasks)
    assert {c.expect for c in cases} & {"zero", "below", "exact"}, "every file has altered answers too"
    results = score_all(client, cases)
    misses = [
        (c.source, c.form, c.item["response"][-200:], r["verdict"], r["score"], r["details"].get("reason"))
        for c, r in zip(cases, results, strict=True)
        if c.expect != "report" and not c.holds(r["score"])
    ]
    assert misses == []
    assert not any(r["verdict"] in ("timeout", "error", "unscored") for r in results)


def test_math_forms_models_write_all_score_one(client):
    # The answers that went wrong when written as plain LaTeX inside the answer tags.
    tasks, _ = load_tasks(SourceSpec.parse(f"verl={DATA / 'realdata' / 'deepscaler_test.jsonl'}"), progress=False)
    named = [t for t in tasks if t.label["answer"] in ("3\\sqrt{13}", "6 - 5i", "\\text{Evelyn}", "\\cot x")]
    assert len(named) == 4
    forms = {c.form for c in cases_for(named) if c.expect == "one"}
    assert forms == {"boxed", "dollars", "plain", "parens", "sentence", "sentence $"}


def test_leetcode_problems_with_linked_lists_pass_with_their_prelude(client):
    tasks, _ = load_tasks(SourceSpec.parse(f"leetcode={DATA / 'realdata' / 'leetcode_v1_test.jsonl'}"), progress=False)
    linked = [t for t in tasks if "list_node" in t.label["tests"]["functional"]]
    assert len(linked) == 2
    cases = [c for c in cases_for(linked) if c.form == "reference solution"]
    assert [r["score"] for r in score_all(client, cases)] == [1.0, 1.0]
    # Without the prelude the same references fail: the label's prelude is what runs them.
    for case in cases:
        case.item["label"] = {k: v for k, v in case.item["label"].items() if k != "prelude"}
    assert [r["score"] for r in score_all(client, cases)] == [0.0, 0.0]


def test_agreement_with_math_verify_own_test_cases(client):
    data = json.loads((DATA / "math_verify" / "cases.json").read_text())
    items = []
    for case in data["cases"]:
        options = {"float_digits": case["config"]["precision"]} if "precision" in case["config"] else None
        items.append({"response": case["pred"], "label": {"domain": "math", "answer": case["gold"]}, "options": options})
    results = []
    for start in range(0, len(items), 64):
        results.extend(client.post("/v1/score", json={"items": items[start : start + 64]}).json()["results"])
    agree = sum(int(r["verdict"] == "correct") == c["expected"] for r, c in zip(results, data["cases"], strict=True))
    assert len(data["cases"]) == 264
    assert agree / len(data["cases"]) >= 0.95, agree
