"""Knights-and-Knaves and Zebra items scored by the real service over HTTP."""

from __future__ import annotations

import json

import pytest

from generators.kk import kk_puzzle
from generators.zebra import zebra_puzzle


def respond(answer: str) -> str:
    return f"<think>worked it out</think>\n<answer>\n{answer}\n</answer><|im_end|>"


@pytest.fixture(scope="module")
def puzzles():
    kk = kk_puzzle(0, people=3, seed=0)
    zebra = zebra_puzzle(0, houses=3, attributes=3, seed=0)
    kk_right = "\n".join(f"({i}) {n} is a {r}" for i, (n, r) in enumerate(kk.label()["solution"].items(), 1))
    first, *rest = kk.label()["solution"].items()
    flipped_role = kk.roles[1] if first[1] == kk.roles[0] else kk.roles[0]
    kk_one_wrong = "\n".join([f"{first[0]} is a {flipped_role}", *(f"{n} is a {r}" for n, r in rest)])
    grid = zebra.grid()
    half = {house: dict(cells) for house, cells in grid.items()}
    half["House 1"] = {attribute: "nobody" for attribute in half["House 1"]}
    return {
        "kk": kk,
        "zebra": zebra,
        "kk_right": kk_right,
        "kk_one_wrong": kk_one_wrong,
        "zebra_right": "```json\n" + json.dumps(grid, indent=2) + "\n```",
        "zebra_two_thirds": json.dumps({"solution": half}),
    }


def test_puzzles_through_v1_score(client, puzzles):
    kk, zebra = puzzles["kk"], puzzles["zebra"]
    items = [
        {"response": respond(puzzles["kk_right"]), "label": kk.label(), "prompt": kk.prompt()},
        {"response": respond(puzzles["kk_one_wrong"]), "label": kk.label(), "prompt": kk.prompt()},
        {"response": respond("no idea"), "label": kk.label(), "prompt": kk.prompt()},
        {"response": respond(puzzles["zebra_right"]), "label": zebra.label(), "prompt": zebra.prompt()},
        {"response": respond(puzzles["zebra_two_thirds"]), "label": zebra.label(), "prompt": zebra.prompt()},
        {"response": respond('{"House 1": {"Name": '), "label": zebra.label(), "prompt": zebra.prompt()},
    ]
    response = client.post("/v1/score", json={"items": items, "options": {"mode": "partial"}})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["verdict"] for r in results] == ["correct", "partial", "format_error"] * 2
    assert [r["score"] for r in results] == pytest.approx([1, 2 / 3, 0, 1, 2 / 3, 0])
    assert [r["reward"] for r in results] == pytest.approx([1, 2 / 3, 0, 1, 2 / 3, 0])
    assert results[1]["details"]["people_right"] == 2 and results[1]["details"]["people_total"] == 3
    assert results[4]["details"]["cells_right"] == 6 and results[4]["details"]["cells_total"] == 9
    assert "broken JSON" in results[5]["details"]["reason"]


def test_puzzles_through_openrlhf_reward(client, puzzles):
    kk, zebra = puzzles["kk"], puzzles["zebra"]
    kk_label = json.dumps({**kk.label(), "reward": {"mode": "logic-rl"}})  # OpenRLHF passes labels as strings
    zebra_label = json.dumps(zebra.label())
    body = {
        "query": [
            kk.prompt() + respond(puzzles["kk_right"]),
            kk.prompt() + respond(puzzles["kk_one_wrong"]),
            kk.prompt() + "<think>only thinking, no answer",
            zebra.prompt() + respond(puzzles["zebra_right"]),
            zebra.prompt() + respond(puzzles["zebra_two_thirds"]),
        ],
        "prompts": [kk.prompt()] * 3 + [zebra.prompt()] * 2,
        "labels": [kk_label] * 3 + [zebra_label] * 2,
        "options": {"mode": "binary"},
    }
    response = client.post("/reward", json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    # KK under its label's logic-rl mode: +1 +2, +1 -1.5, -1 -2; Zebra under the request's binary mode
    assert data["rewards"] == pytest.approx([3.0, -0.5, -3.0, 1.0, 0.0])
    assert data["scores"] == pytest.approx([1, 2 / 3, 0, 1, 2 / 3])
    assert data["extra_logs"]["correct"] == [1.0, 0.0, 0.0, 1.0, 0.0]
    assert data["extra_logs"]["format_ok"] == [1.0, 1.0, 0.0, 1.0, 1.0]
