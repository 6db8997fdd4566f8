"""Real model generations through the real service: a sample of the real-generations corpus
(tests/data/realgens, with its sources and licences) scored over HTTP must pay exactly the
generations that are right after adjudication. The whole corpus runs in ``make realgens``.

Rows of a class the service still gets wrong (``known_wrong``, each naming its class: a reply
cut off at the token limit whose source recorded no finish reason, the text fallback paying a
step of a reply that never answers, a text read that runs out of time) are kept apart and
expected to fail, so the sample says plainly what is not yet right and notices when it is.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SAMPLE = Path(__file__).parent / "data" / "realgens" / "sample.jsonl"
ROWS = [json.loads(line) for line in SAMPLE.open()]


def score(client, rows: list[dict]) -> list[dict]:
    results = []
    for start in range(0, len(rows), 32):
        items = [
            {"response": r["response"], "label": r["label"], "prompt": r["prompt"]}
            for r in rows[start : start + 32]
        ]
        response = client.post("/v1/score", json={"items": items})
        assert response.status_code == 200, response.text
        results.extend(response.json()["results"])
    return results


def test_sample_covers_every_domain_and_source():
    assert {r["domain"] for r in ROWS} == {"math", "code", "countdown"}
    assert len({r["source"] for r in ROWS}) >= 12
    # Rows where the adjudication overturned the source's own verdict are part of the sample.
    assert any(r["truth"] != r["expected"] for r in ROWS)


@pytest.mark.parametrize("domain", ["countdown", "math", "code"])
def test_rewards_match_the_adjudicated_truth(client, domain):
    rows = [r for r in ROWS if r["domain"] == domain and not r["known_wrong"]]
    results = score(client, rows)
    wrong = [
        (r["id"], r["class"], r["truth"], res["verdict"], res["details"].get("reason"))
        for r, res in zip(rows, results, strict=True)
        if (res["verdict"] == "correct") != r["truth"]
    ]
    assert wrong == []
    assert not any(res["verdict"] in ("error", "unscored") for res in results)
    # A timeout is a wrong program's own time limit, never a right one's.
    assert not any(res["verdict"] == "timeout" and r["truth"] for r, res in zip(rows, results, strict=True))


@pytest.mark.xfail(reason="classes the service still gets wrong (see each row's class)", strict=False)
def test_known_wrong_classes(client):
    rows = [r for r in ROWS if r["known_wrong"]]
    results = score(client, rows)
    assert [res["verdict"] == "correct" for res in results] == [r["truth"] for r in rows]
