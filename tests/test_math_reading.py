"""Math answers as real models write them: percents with decimals, blank and code-block
boxes, sentences about an answer, chains of equalities, congruences (issue 22)."""

from __future__ import annotations

import pytest

from services.scoring import score_item


def math(answer, **reward):
    return {"domain": "math", "answer": answer, **({"reward": reward} if reward else {})}


def verdict(response, gold, **reward):
    return score_item(response, math(gold, **reward))["verdict"]


# --------------------------------------------------------------------------- percents


@pytest.mark.parametrize(
    "answer", ["\\boxed{62.0\\%}", "\\boxed{62\\%}", "\\boxed{62.00 \\%}", "\\boxed{62}"]
)
def test_a_percent_with_a_decimal_point_is_its_number(answer):
    assert verdict(f"The share is {answer}.", "62") == "correct"


@pytest.mark.parametrize(
    "answer", ["\\boxed{62.1\\%}", "\\boxed{61.9\\%}", "\\boxed{0.62}", "\\boxed{6.2\\%}"]
)
def test_a_different_percent_is_wrong(answer):
    assert verdict(f"The share is {answer}.", "62") == "wrong"


def test_a_fraction_for_a_percent_gold_is_right_only_when_the_gold_says_percent():
    assert verdict("\\boxed{0.08}", "8\\%") == "correct"
    assert verdict("\\boxed{0.08}", "8") == "wrong"
    assert verdict("\\boxed{8.0\\%}", "8\\%") == "correct"


# --------------------------------------------------------------------------- boxes that are no answer


def test_a_blank_box_copied_from_the_problem_is_not_hedging():
    response = "We fill the blank in \\[9 = \\boxed{\\phantom{00}} + 2.\\] So the missing number is \\(\\boxed{7}\\)."
    assert verdict(response, "7") == "correct"
    for blank in (
        "\\boxed{}",
        "\\boxed{\\quad}",
        "\\boxed{?}",
        "\\boxed{\\hspace{1cm}}",
        "\\boxed{\\underline{\\quad}}",
    ):
        assert verdict(f"Fill in {blank}. The missing number is \\boxed{{7}}.", "7") == "correct", blank


def test_a_wrong_box_after_a_blank_box_is_wrong():
    response = "We fill the blank in \\[9 = \\boxed{\\phantom{00}} + 2.\\] So the missing number is \\(\\boxed{6}\\)."
    assert verdict(response, "7") == "wrong"
    assert score_item("Fill in \\boxed{\\phantom{0}}.", math("7"))["verdict"] == "format_error"


def test_boxes_built_in_code_and_program_output_are_not_hedging():
    response = (
        "Let me compute it.\n```python\nangle = 180 - 50 - 10\nprint(f'\\\\boxed{{{angle}}}')\n```\n"
        "```output\n\\boxed{120}\n```\nThe first try was off; the angle is in fact \\boxed{125^\\circ}."
    )
    assert verdict(response, "125") == "correct"
    assert verdict(response, "120") == "wrong"


def test_a_box_only_in_a_program_output_is_still_read():
    assert verdict("```python\nprint(6 * 7)\n```\n```output\n\\boxed{42}\n```", "42") == "correct"


def test_two_real_boxes_that_disagree_are_still_hedging():
    assert verdict("Either \\boxed{5} or \\boxed{7}.", "7") == "wrong"


# --------------------------------------------------------------------------- sentences about an answer


@pytest.mark.parametrize(
    "tail",
    [
        "This confirms that our answer is correct.",
        "So, our answer is indeed right.",
        "We checked it: the answer is consistent with both conditions.",
        "The answer is verified by substitution.",
    ],
)
def test_a_sentence_about_the_answer_is_not_the_answer(tail):
    response = f"Therefore the total is \\( \\boxed{{13}} \\). {tail}"
    result = score_item(response, math("13"))
    assert result["verdict"] == "correct", result
    assert result["details"]["extracted"] == "13"
    assert verdict(response.replace("{13}", "{14}"), "13") == "wrong"


def test_a_judgement_with_no_answer_extracts_no_word():
    result = score_item("We tried several things. So, our answer is correct.", math("13"))
    assert result["verdict"] != "correct"
    assert "correct" not in str(result["details"].get("extracted", ""))
    assert (
        score_item("After checking, the total is 13. So, our answer is correct.", math("13"))["verdict"]
        == "correct"
    )


# --------------------------------------------------------------------------- chains of equalities


@pytest.mark.parametrize(
    "response",
    [
        "p + q + r = 14 + 5 + 3 = 22",
        "Adding them, p + q + r = 14 + 5 + 3 = 22.",
        "The answer is p + q + r = 14 + 5 + 3 = 22.",
        "\\boxed{p + q + r = 14 + 5 + 3 = 22}",
        "So $p + q + r = 14 + 5 + 3 = 22$",
    ],
)
def test_a_chain_of_equalities_gives_its_last_value(response):
    assert verdict(response, "22") == "correct"
    assert verdict(response, "3") == "wrong"
    assert verdict(response, "14") == "wrong"


def test_a_list_of_equations_is_not_read_as_a_chain():
    assert verdict("\\boxed{x = 3, y = 4}", "(3, 4)") == "correct"
    assert verdict("\\boxed{x = 3, y = 4}", "4") == "wrong"


# --------------------------------------------------------------------------- decisions


def test_a_congruence_gives_its_residue():
    assert verdict("Hence \\boxed{n \\equiv 9 \\pmod{13}}.", "9") == "correct"
    assert (
        verdict("Hence \\boxed{n \\equiv 9 \\pmod{13}}.", "22") == "wrong"
    )  # 22 is 9 mod 13, not the asked value
    assert verdict("Hence \\boxed{n \\equiv 8 \\pmod{13}}.", "9") == "wrong"


def test_intermediate_boxes_before_a_final_box_are_hedging_unless_max_boxed_allows_them():
    response = "First \\boxed{12} apples, then \\boxed{30} in all."
    assert verdict(response, "30") == "wrong"
    assert verdict(response, "30", max_boxed=2) == "correct"
    assert verdict(response, "12", max_boxed=2) == "wrong"  # the last box is the answer


# --------------------------------------------------------------------------- a JSON answer object


@pytest.mark.parametrize(
    "tail",
    [
        '{\n  "reasoning": "So the answer is 5 + 8 = 13, hence \\\\boxed{13}.",\n  "answer": "%s"\n}',
        '```json\n{"reasoning": "the answer is 13", "answer": "%s"}\n```',
        '{"reasoning": "thirteen", "answer": %s}',
    ],
)
def test_the_answer_field_of_a_json_object_is_the_answer(tail):
    assert verdict("Let me reason.\n" + tail % "27", "27") == "correct"
    assert verdict("Let me reason.\n" + tail % "13", "27") == "wrong"


def test_latex_in_a_json_answer_is_read_as_written():
    assert verdict('{"reasoning": "...", "answer": "\\frac{3}{4}"}', "\\frac{3}{4}") == "correct"
    assert verdict('{"reasoning": "...", "answer": "\\\\frac{3}{4}"}', "\\frac{3}{4}") == "correct"


def test_a_json_object_in_the_middle_is_no_answer_object():
    response = 'The tool returned {"answer": "13"}; checking again, the total is \\boxed{27}.'
    assert verdict(response, "27") == "correct"


# --------------------------------------------------------------------------- replies without a set phrase

WORKING = "We expand the cube term by term.\n\nIt seems \\(q = 0\\), \\(p = 14\\) and \\(r = 8\\) from the expansion.\n\n"


@pytest.mark.parametrize(
    "closing",
    [
        "Therefore, the sum \\(p + q + r = 14 + 0 + 8 = 22\\).",
        "Thus, the value of the sum is 22.",
        "This matches the check above, so I'm confident that 22 is the correct answer.",
    ],
)
def test_a_concluding_last_paragraph_gives_the_answer(closing):
    assert verdict(WORKING + closing, "22") == "correct"
    assert verdict(WORKING + closing.replace("22", "23"), "22") == "wrong"
    assert verdict(WORKING + closing, "0") == "wrong"


def test_a_remark_about_the_box_after_it_is_no_answer():
    response = "So the result is \\[\\boxed{9}\\]\n\nThis layout ensures that the final answer is clearly highlighted."
    assert verdict(response, "9") == "correct"
    assert verdict(response.replace("{9}", "{8}"), "9") == "wrong"


@pytest.mark.parametrize(
    "box", ["\\boxed{11^{\\text{th}}\\text{ grade}}", "\\boxed{11^{\\mathrm{th}}}", "\\boxed{11^{th}}"]
)
def test_an_ordinal_is_its_number(box):
    assert verdict(f"The grade is {box}.", "11") == "correct"
    assert verdict(f"The grade is {box.replace('11', '12')}.", "11") == "wrong"


def test_unicode_roots_and_pi_are_read_as_latex():
    assert verdict('{"reasoning": "...", "answer": "(3 + √5) / 2"}', "\\frac{3+\\sqrt{5}}{2}") == "correct"
    assert verdict('{"reasoning": "...", "answer": "(3 + √6) / 2"}', "\\frac{3+\\sqrt{5}}{2}") == "wrong"
    assert verdict("\\boxed{2π}", "2\\pi") == "correct"


def test_a_tower_in_the_working_does_not_hide_the_concluding_paragraph():
    working = "We need $1^{(3^{98765432})}$. Any power of one is one, however tall.\n\n"
    result = score_item(working + "Therefore, the value is 1.", math("1"))
    assert result["verdict"] == "correct" and result["details"]["read"] == "paragraph"
    assert verdict(working + "Therefore, the value is 2.", "1") == "wrong"
