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
    ["6/(1-3/4)", "6 / (1 - 3 / 4) = 24", "24 = 6/(1-3/4)", "\\boxed{6 \\div (1 - 3 \\div 4)}", "(6 × 4) × (3 − 3 + 1) / 1"],
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
    assert score_item("t</think><answer>6/(1-3/4)</answer>", label, "...<answer>...Assistant: <think>")["reward"] == 3.0
