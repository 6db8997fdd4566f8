"""Responses whose tail shows the length limit cut them off, with no finish signal sent:
not paid for a value of their unfinished working, and finished ones read as before."""

from __future__ import annotations

import pytest

from services.cutoff import cut_off
from services.scoring import score_item

MATH = {"domain": "math", "answer": "35"}
WORKING = "We convert the units step by step.\n\nFirst, 5 widgets = 7 gadgets.\n\n"


@pytest.mark.parametrize(
    ("tail", "why"),
    [
        ("so widgets = 49 * (5/7) =", "'='"),
        ("and the total is 30 +", "'+'"),
        ("The answer is \\boxed{35} but let me check \\boxed{?} \\boxed", "inside a \\boxed{}"),
        ("we get \\boxed{3", "inside a \\boxed{}"),
        ("the difference of squares is (a - b)(a + b", "never closed"),
        ("and we already know the total is 35.\n\nAlternatively", "mid-sentence"),
        ("which leaves 35 for the", "mid-sentence"),
        ("The count is 35" + "0" * 400, "loop"),
        ("We find 35. " + "\\boxed{?} " * 40, "loop"),
    ],
)
def test_a_tail_that_shows_the_cut_is_truncated_and_not_paid(tail, why):
    reason = cut_off(WORKING + tail)
    assert reason is not None and why in reason
    result = score_item(WORKING + tail, MATH)
    assert (result["verdict"], result["reward"]) == ("truncated", 0.0)
    assert result["details"]["cut_off"] == reason


def test_an_unclosed_json_reply_is_truncated():
    reply = '{\n  "reasoning": "The widgets convert to 35 gadgets, so the count of gadgets equals 35'
    assert "JSON" in cut_off(reply)
    assert score_item(reply, MATH)["verdict"] == "truncated"
    closed = '{\n  "reasoning": "The widgets convert to 35 gadgets.",\n  "answer": "35"\n}\nHope this helps.'
    assert cut_off(closed) is None
    assert score_item(closed, MATH)["verdict"] == "correct"


@pytest.mark.parametrize(
    "reply",
    [
        "Therefore the answer is \\boxed{35}.",
        "So 49 * (5/7) = 35",
        "The total is 35",
        "The number is 1" + "0" * 30,  # a long number is no loop
        "The interval is $[35, \\infty)$.",
        "Final answer: 35 widgets",
        "$$x = 35$$",
    ],
)
def test_finished_replies_are_read_as_before(reply):
    assert cut_off(WORKING + reply) is None
    assert (
        score_item(WORKING + reply, {"domain": "math", "answer": reply_gold(reply)})["verdict"] == "correct"
    )


def reply_gold(reply: str) -> str:
    if "\\infty" in reply:
        return "[35, \\infty)"
    return "1" + "0" * 30 if "000" in reply else "35"


def test_score_truncated_scores_a_visibly_cut_reply_anyway():
    reply = WORKING + "and the widgets come to \\boxed{35} gadgets, which is"
    assert score_item(reply, MATH)["verdict"] == "truncated"
    assert score_item(reply, MATH, layers=({"score_truncated": True},))["verdict"] == "correct"


def test_a_cut_countdown_chain_and_a_cut_program_are_truncated():
    chain = "10 - 4 = 6\n6 * 5 = 30\n30 - 6 ="
    result = score_item(chain, {"domain": "countdown", "numbers": [4, 5, 6, 10], "target": 24})
    assert result["verdict"] == "truncated"
    finished_chain = "10 - 4 = 6\n6 * 5 = 30\n30 - 6 = 24"
    result = score_item(finished_chain, {"domain": "countdown", "numbers": [4, 5, 6, 10], "target": 24})
    assert result["verdict"] == "correct"
