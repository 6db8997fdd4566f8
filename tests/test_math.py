"""The math verifier on its own (no time limits here: see test_service for those)."""

from __future__ import annotations

import pytest

from services.domains.math import boxed_answers, parse_gold
from services.scoring import score_item


def math(answer):
    return {"domain": "math", "answer": answer}


@pytest.mark.parametrize(
    "response, gold",
    [
        ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("so it is \\boxed{0.5}", "\\frac{1}{2}"),
        ("\\boxed{\\dfrac12}", "1/2"),
        ("The final answer is $x = 3$", "3"),
        ("\\boxed{2\\sqrt{2}}", "\\sqrt{8}"),
        ("\\boxed{(1, 2)}", "(1,2)"),
        ("\\boxed{42}", 42),
        ("\\fbox{7}", "7"),
        ("\\boxed{\\{1,2\\}}", "\\{2, 1\\}"),
    ],
)
def test_equivalent_answers_are_correct(response, gold):
    assert score_item(response, math(gold))["verdict"] == "correct"


@pytest.mark.parametrize("response", ["\\boxed{3}", "\\boxed{\\frac{1}{3}}", "the answer is 7"])
def test_wrong_answers(response):
    result = score_item(response, math("\\frac{1}{2}"))
    assert result["verdict"] == "wrong" and result["reward"] == 0.0


def test_last_boxed_in_the_answer_region_wins():
    assert score_item("first \\boxed{1}... on reflection", math("1"))["verdict"] == "correct"


def test_answer_only_in_the_think_block_never_counts():
    result = score_item("<think>it is \\boxed{2}</think> I am not sure.", math("2"))
    assert result["verdict"] in ("wrong", "format_error")
    assert result["reward"] == 0.0
    result = score_item("<think>it is \\boxed{2}</think>", math("2"))
    assert result["verdict"] == "format_error"


def test_empty_answer_is_a_format_error():
    for response in ("", "   ", "<think></think>", "\\boxed{}"):
        assert score_item(response, math("2"))["verdict"] == "format_error", response


def test_boxed_spam_is_hedging():
    spam = " ".join(f"\\boxed{{{i}}}" for i in range(1, 200))
    result = score_item(spam, math("5"))
    assert result["verdict"] == "wrong"
    assert "hedging" in result["details"]["reason"]


def test_two_disagreeing_boxes_are_hedging_even_if_the_last_is_right():
    result = score_item("\\boxed{3} or maybe \\boxed{2}", math("2"))
    assert result["verdict"] == "wrong"
    assert "hedging" in result["details"]["reason"]


def test_boxes_that_agree_are_not_hedging():
    assert score_item("\\boxed{1/2}, that is \\boxed{0.5}", math("1/2"))["verdict"] == "correct"


def test_max_boxed_option_allows_more_answers():
    # With max_boxed=2 two different boxed answers are allowed; the last one counts.
    result = score_item("\\boxed{3} then \\boxed{2}", math("2"), layers=({"max_boxed": 2},))
    assert result["verdict"] == "correct"


def test_one_megabyte_response():
    filler = "blah " * (1_000_000 // 5)
    assert score_item(filler + " \\boxed{17}", math("17"))["verdict"] == "correct"
    assert score_item(filler, math("17"))["verdict"] in ("wrong", "format_error")


def test_boxed_braces_are_matched():
    assert boxed_answers("\\boxed{\\frac{a}{b}} and \\boxed {x^{2}}") == ["\\frac{a}{b}", "x^{2}"]
    assert boxed_answers("\\boxed{unbalanced") == []


def test_gold_is_parsed_once():
    parse_gold.cache_clear()
    for _ in range(5):
        score_item("\\boxed{4}", math("2+2"))
    info = parse_gold.cache_info()
    assert info.misses == 1 and info.hits == 4


def test_numeric_gold_and_string_label():
    assert score_item("\\boxed{12}", '{"domain": "math", "answer": 12}')["verdict"] == "correct"
