"""The CountDown verifier: exact evaluation, each number once, no code execution."""

from __future__ import annotations

from fractions import Fraction

import pytest

from services.domains.countdown import EquationError, evaluate_equation
from services.scoring import score_item

LABEL = {"domain": "countdown", "target": 24, "numbers": [3, 4, 6, 1]}


def score(answer):
    return score_item(f"<think>t</think><answer>{answer}</answer>", LABEL)


@pytest.mark.parametrize(
    "answer",
    [
        "6/(1-3/4)",
        "6 / (1 - 3 / 4) = 24",
        "24 = 6/(1-3/4)",
        "\\boxed{6 \\div (1 - 3 \\div 4)}",
        "(6 × 4) × (3 − 3 + 1) / 1",
    ],
)
def test_correct_equations(answer):
    result = score(answer)
    if answer.startswith("(6 ×"):  # uses 3 twice and misses nothing else: the count check catches it
        assert result["verdict"] == "wrong" and "exactly once" in result["details"]["reason"]
    else:
        assert result["verdict"] == "correct", result


@pytest.mark.parametrize(
    "answer, reason",
    [
        ("6*4", "exactly once"),
        ("6*4*1*3", "not 24"),
        ("(6-4)*(3+1)*1*1", "exactly once"),
        ("6/(4-4)*3*1", "division by zero"),
    ],
)
def test_wrong_equations(answer, reason):
    result = score(answer)
    assert result["verdict"] == "wrong"
    assert reason in result["details"]["reason"]


@pytest.mark.parametrize(
    "answer",
    ["6**4", "24//1", "__import__('os').system('true')", "max(6,4)", "6.0*4*1*3", "lambda: 1", "x*4*1*3", ""],
)
def test_forbidden_constructs_are_unparseable(answer):
    result = score(answer)
    assert result["verdict"] == "format_error", result
    assert result["reward"] == 0.0


def test_evaluation_is_exact():
    assert evaluate_equation("1/3+1/3+1/3") == (Fraction(1), [1, 3, 1, 3, 1, 3])


def test_size_is_bounded():
    with pytest.raises(EquationError):
        evaluate_equation("+".join(["1"] * 300))
    with pytest.raises(EquationError):
        evaluate_equation("(" * 300 + "1" + ")" * 300)
    with pytest.raises(EquationError):
        evaluate_equation("(" * 195 + "1" + ")" * 195)  # short, but nested too deeply


def test_logic_rl_mode_on_countdown():
    label = {**LABEL, "reward": {"mode": "logic-rl"}}
    assert (
        score_item("t</think><answer>6/(1-3/4)</answer>", label, "...<answer>...Assistant: <think>")["reward"]
        == 3.0
    )


# --------------------------------------------------------------------------- chains of steps

CHAIN_LABEL = {"domain": "countdown", "target": 36, "numbers": [2, 7, 3, 9]}


def score_chain(answer, label=CHAIN_LABEL):
    return score_item(f"<think>t</think><answer>{answer}</answer>", label)


@pytest.mark.parametrize(
    "answer",
    [
        "9 * 3 = 27\n27 + 7 = 34\n34 + 2 = 36",
        "7 + 2 = 9\n9 * 3 = 27\n27 + 9 = 36",  # a result equal to a given number: both count
        "7 + 2 = 9 (left: 3 9 9)\n9 * 3 = 27 (left: 9 27)\n27 + 9 = 36 (left: 36)",
        "Step 1: 9 × 3 = 27\nStep 2: 27 + 7 = 34\nStep 3: 34 + 2 = 36.",
        "1. 9 * 3 = 27\n2. 7 + 2 = 9\n3. 27 + 9 = 36",
        "Let me work it out.\n\n9 * 3 = 27\n27 + 7 = 34\n34 + 2 = 36",
        "36 = 34 + 2".join(["9 * 3 = 27\n27 + 7 = 34\n", ""]),
    ],
)
def test_a_chain_of_steps_is_an_answer(answer):
    result = score_chain(answer)
    assert result["verdict"] == "correct", result
    assert result["details"]["value"] == "36"


@pytest.mark.parametrize(
    "answer, reason",
    [
        ("9 * 3 = 28\n28 + 7 = 35\n35 + 1 = 36", "step 1: 9 * 3 is 27, not 28"),  # a wrong step
        ("9 * 3 = 27\n27 + 7 = 34\n34 + 3 = 37\n37 - 1 = 36", "step 3 uses 3"),  # 3 used twice
        ("9 * 3 = 27\n27 + 9 = 36", "step 2 uses 9"),  # 9 given once, used twice
        ("9 * 3 = 27\n27 + 7 = 34\n34 + 2 = 36\n36 * 1 = 36", "step 4 uses 1"),  # never given
        ("9 * 3 = 27\n27 + 7 = 34\n34 + 34 = 68", "step 3 uses 34"),  # a result used twice
        ("7 + 2 = 9\n9 * 3 = 27\n27 * 9 = 243", "the last step gives 243"),
        ("9 - 7 = 2\n2 * 3 = 6\n6 * 2 = 12", "the last step gives 12"),
        ("9 * 3 = 27\n27 + 7 = 34\n34 + 2 = 36\n7 + 2 = 9", "step 4 uses 7"),  # a step after the target
    ],
)
def test_a_broken_chain_scores_zero(answer, reason):
    result = score_chain(answer)
    assert result["verdict"] == "wrong", result
    assert result["reward"] == 0.0
    assert reason in result["details"]["reason"]


def test_a_chain_that_leaves_a_number_unused_scores_zero():
    result = score_chain("9 * 2 = 18\n18 * 2 = 36", {**CHAIN_LABEL, "numbers": [2, 7, 2, 9, 5]})
    assert result["verdict"] == "wrong" and "never used: 5, 7" in result["details"]["reason"]
    result = score_chain("9 - 7 = 2\n2 * 3 = 6\n6 * 6 = 36")  # 6 is no given number, nor a second result
    assert result["verdict"] == "wrong" and "step 3 uses 6" in result["details"]["reason"]


def test_steps_false_keeps_one_expression_only():
    strict = {**CHAIN_LABEL, "steps": False}
    result = score_chain("9 * 3 = 27\n27 + 7 = 34\n34 + 2 = 36", strict)
    assert result["verdict"] == "wrong" and "exactly once" in result["details"]["reason"]
    assert score_chain("9 * 3 + 7 + 2 = 36", strict)["verdict"] == "correct"


@pytest.mark.parametrize(
    "answer",
    [
        "Answer: 9 * 3 + 7 + 2 = 36",
        "**Answer:** (9 * 3) + (7 + 2) = 36",
        "Final answer: 36 = 9 * 3 + 7 + 2",
        "9 * 3 = 27\n27 + 7 = 34\n34 + 2 = 36\nAnswer: 9 * 3 + 7 + 2 = 36",
        "So the equation is $9 \\times 3 + 7 + 2 = 36$.",
        "We try things.\n9 * 3 + 7 + 2",
    ],
)
def test_the_final_equation_is_found_in_a_labelled_or_last_line(answer):
    result = score_chain(answer)
    assert result["verdict"] == "correct", result


def test_a_labelled_answer_without_tags_is_read():
    label = {"domain": "countdown", "target": 21, "numbers": [5, 9, 2, 7]}
    result = score_item("Answer: (5 * 9 - 2) - 7 * 2 - 8 = 21", label)
    assert result["verdict"] == "wrong"  # 8 never given, and 2 twice
    result = score_item("Answer: (9 * 7) / (5 - 2) = 21", label)
    assert result["verdict"] == "correct", result
    assert result["format_ok"] is True
    result = score_item("Answer: (9 * 7) / (5 - 2) = 21", {**label, "numbers": [5, 9, 3, 7]})
    assert result["verdict"] == "wrong" and "exactly once" in result["details"]["reason"]


def test_the_labelled_answer_wins_over_a_later_line():
    result = score_chain("Answer: 9 * 3 + 7 + 2 = 36\nCheck: 27 + 9 = 36")
    assert result["verdict"] == "correct", result
    result = score_chain("Answer: 9 * 3 + 7 = 34\nso 9 * 3 + 7 + 2 = 36")
    assert result["verdict"] == "wrong"


def test_a_line_restating_the_target_is_not_the_final_equation():
    assert score_chain("9 * 3 + 7 + 2 = 36\nThe answer is 36.")["verdict"] == "correct"
    assert score_chain("9 * 3 = 27\n27 + 7 = 34\n34 + 2 = 36\nFinal answer: 36")["verdict"] == "correct"
    assert score_chain("9 * 3 + 7 + 3 = 37\nThe answer is 36.")["verdict"] == "wrong"
