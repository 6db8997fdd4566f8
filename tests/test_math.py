"""The math verifier on its own (no time limits here: see test_service for those)."""

from __future__ import annotations

import pytest

from services.domains import math_screen
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
    # A reply that only repeats itself to the end ran into the length limit: not paid.
    assert score_item(filler, math("17"))["verdict"] in ("wrong", "format_error", "truncated")


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


# --------------------------------------------------------------------------- answers as models write them

TAGS_PROMPT = "... <answer> answer here </answer> ...\nUser: q\nAssistant: <think>"


def in_tags(answer_text: str) -> str:
    return f"reasoning</think> <answer>{answer_text}</answer>"


@pytest.mark.parametrize("gold", ["3\\sqrt{13}", "\\left( 3, \\frac{\\pi}{2} \\right)", "6 - 5i", "\\text{Evelyn}",
                                  "1 \\pm \\sqrt{19}", "\\cot x", "\\frac{14}{3}", "[-2, 7]", "2005!",
                                  "-\\frac{5}{3}."])
@pytest.mark.parametrize("form", ["{g}", "${g}$", "\\({g}\\)", "\\[{g}\\]", "\\boxed{{{g}}}",
                                  "The final answer is {g}.", "The final answer is ${g}$."])
def test_gold_answers_in_every_form_models_write(gold, form):
    result = score_item(in_tags(form.format(g=gold)), math(gold), prompt=TAGS_PROMPT)
    assert result["verdict"] == "correct", result


def test_a_factorial_is_not_its_argument():
    """DeepScaleR's gold ``2005!``: a plain ``2005`` is another number."""
    assert score_item(in_tags("2005"), math("2005!"), prompt=TAGS_PROMPT)["verdict"] == "wrong"
    assert score_item(in_tags("5!"), math("120"), prompt=TAGS_PROMPT)["verdict"] == "correct"
    assert score_item(in_tags("5!"), math("5"), prompt=TAGS_PROMPT)["verdict"] == "wrong"


def test_final_answer_sentence_after_intermediate_boxes():
    text = "so $\\boxed{200}$ then $\\boxed{255}$, total $10,455. Final Answer: The final answer is $10,455$. I hope it is correct."
    assert score_item(text, math("10455"))["verdict"] == "correct"


@pytest.mark.parametrize(
    "gold, response",
    [
        ("(2, 2), (6, 2)", "\\boxed{(2, 2)} and \\boxed{(6, 2)}"),
        ("\\{1,2,3\\}", "\\boxed{1}, \\boxed{2}, \\boxed{3}"),
        ("k = 45, n = 2", "\\boxed{k = 45} \\quad \\text{and} \\quad \\boxed{n = 2}"),
        ("1 \\pm \\sqrt{19}", "\\boxed{1 + \\sqrt{19}} or \\boxed{1 - \\sqrt{19}}"),
    ],
)
def test_boxes_that_together_make_up_a_multi_part_gold_count(gold, response):
    assert score_item(response, math(gold))["verdict"] == "correct"


@pytest.mark.parametrize(
    "gold, response",
    [
        ("(2, 2), (6, 2)", "\\boxed{(2, 2)} and \\boxed{(7, 2)}"),  # one part wrong
        ("(2, 2), (6, 2)", "\\boxed{(2, 2)}, \\boxed{(6, 2)}, \\boxed{(1, 1)}"),  # an extra candidate
        ("5", "\\boxed{5} or \\boxed{7}"),  # candidates for one value: hedging
    ],
)
def test_extra_or_wrong_parts_and_single_value_hedges_score_zero(gold, response):
    result = score_item(response, math(gold))
    assert result["verdict"] == "wrong" and "hedging" in result["details"]["reason"], result


def test_delimited_candidates_inside_the_answer_tags_must_agree():
    hedge = in_tags("$5$ or maybe $7$")
    assert score_item(hedge, math("7"), prompt=TAGS_PROMPT)["verdict"] == "wrong"
    agree = in_tags("$x = 7$, so the answer is $7$")
    assert score_item(agree, math("7"), prompt=TAGS_PROMPT)["verdict"] == "correct"


def test_numeric_approximations_need_float_digits_places():
    assert score_item("\\boxed{0.333333}", math("\\frac{1}{3}"))["verdict"] == "correct"
    assert score_item("\\boxed{0.33}", math("\\frac{1}{3}"))["verdict"] == "wrong"
    loose = score_item("\\boxed{0.33}", math("\\frac{1}{3}"), layers=({"float_digits": 2},))
    assert loose["verdict"] == "correct"
    label_option = {"domain": "math", "answer": "\\frac{1}{3}", "reward": {"float_digits": 2}}
    assert score_item("\\boxed{0.33}", label_option)["verdict"] == "correct"


def test_another_problems_answer_scores_zero_in_every_form():
    for form in ("{g}", "${g}$", "\\boxed{{{g}}}", "The final answer is {g}."):
        result = score_item(in_tags(form.format(g="3\\sqrt{12}")), math("3\\sqrt{13}"), prompt=TAGS_PROMPT)
        assert result["verdict"] == "wrong", (form, result)


# --------------------------------------------------------------------------- values too large to build
# Each answer is checked to be screened before it is scored: math-verify itself would
# never finish these, so a screen that missed one would hang the test, not fail it.

TOWERS = ["5^{5^{5^{5^5}}}", "9**9**9", "(10!)!!", "(10^{10^{10}})!", "2^{2^{2^{100}}}", "9^{9^{9}}",
          "100000000!", "{10^{100}}!", "-9^{9^{9}}", "2 \\cdot 10^{10^{10}}", "\\binom{10^{9}}{10^{6}}",
          "x = 9^{9^{9}}", "\\frac{9^{9^{9}}}{2}"]  # fmt: skip


def screened(response: str, gold: str, **kwargs):
    assert math_screen.read(boxed_answers(response)[-1] if "\\boxed" in response else response).costliest or \
        math_screen.read(gold).costliest, "not screened: scoring it would never finish"
    result = score_item(response, math(gold), **kwargs)
    assert result["details"].get("screen") == "huge", result
    return result


@pytest.mark.parametrize("tower", TOWERS)
@pytest.mark.parametrize("gold", ["2", "\\frac{1}{2}", "x^2+1", "(1, 2)", "2005!", "\\text{Evelyn}"])
def test_a_value_too_large_to_build_is_wrong_against_a_modest_gold(tower, gold):
    result = screened(f"\\boxed{{{tower}}}", gold)
    assert result["verdict"] == "wrong" and result["reward"] == 0.0, result
    assert "digits" in result["details"]["reason"]


def test_towers_are_screened_wherever_the_answer_is_read():
    assert screened("\\boxed{10!!!!}", "2")["verdict"] == "wrong"  # 120 or nested factorials: never 2
    assert screened("The final answer is $9**9**9$.", "2")["verdict"] == "wrong"
    assert screened(in_tags("$5^{5^{5^{5^5}}}$"), "2", prompt=TAGS_PROMPT)["verdict"] == "wrong"
    # Hedging with a tower among the answers is still no way to be paid.
    assert screened("\\boxed{2} or \\boxed{9^{9^{9}}}", "2")["verdict"] == "wrong"


@pytest.mark.parametrize(
    "response, gold",
    [
        ("\\boxed{10!!!!}", "120"),  # nested factorials to math-verify, 10*6*2 as a multifactorial
        ("\\boxed{9^{9^{9}} \\bmod 7}", "1"),  # a tower inside an expression this screen does not read
        ("\\boxed{1^{10^{10^{10}}}}", "1"),
        ("\\boxed{10^{10^{10}} - 10^{10^{10}}}", "0"),
        ("9**9**9 is my answer", "2"),
    ],
)
def test_a_value_too_large_to_build_that_might_match_is_a_timeout(response, gold):
    result = screened(response, gold)
    assert result["verdict"] == "timeout" and result["reward"] == 0.0, result
    assert "not evaluated" in result["details"]["reason"]


def test_a_gold_answer_too_large_to_build_is_compared_by_its_shape():
    gold = "9^{9^{9}}"
    assert screened("\\boxed{9^{9^{9}}}", gold)["verdict"] == "correct"
    assert screened("\\boxed{9**9**9}", gold)["verdict"] == "correct"  # the same shape, spelled another way
    assert screened("\\boxed{9^{9^{8}}}", gold)["verdict"] == "wrong"  # another size
    assert screened("\\boxed{387420489}", gold)["verdict"] == "wrong"
    unsure = screened("\\boxed{3^{2 \\cdot 9^{9}}}", gold)  # equal, but not recognisable without building it
    assert unsure["verdict"] == "error" and "gold answer" in unsure["details"]["reason"], unsure
    assert unsure["reward"] == 0.0


@pytest.mark.parametrize(
    "answer, gold",
    [("2^{10}", "1024"), ("10^{-3}", "0.001"), ("e^{i\\pi}", "e^{\\pi i}"), ("x^{2}+1", "1+x^2"), ("3!", "6"),
     ("10!", "3628800"), ("\\binom{10}{3}", "120"), ("2005!", "2005!"), ("2^{100}", "1267650600228229401496703205376"),
     ("(2^3)^2", "64"), ("9^9^9", "9^{81}"), ("\\frac{2^{10}}{4}", "256")],
)
def test_normal_answers_with_powers_and_factorials_are_left_to_the_verifier(answer, gold):
    assert math_screen.judge(gold, [answer]) is None
    result = score_item(f"\\boxed{{{answer}}}", math(gold))
    assert result["verdict"] == "correct" and "screen" not in result["details"], result


def test_no_answer_of_math_verifys_own_cases_is_screened():
    import json
    from pathlib import Path

    cases = json.loads((Path(__file__).parent / "data" / "math_verify" / "cases.json").read_text())["cases"]
    assert not [c for c in cases if math_screen.judge(c["gold"], [c["pred"]]) is not None]


def test_the_screen_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("REWARD_MATH_SCREEN", "0")
    assert math_screen.judge("2", ["9^{9^{9}}"]) is None
    monkeypatch.setenv("REWARD_MATH_SCREEN", "1")
    assert math_screen.judge("2", ["9^{9^{9}}"]).details == {"screen": "huge"}
