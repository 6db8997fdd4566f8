"""Reading a response: prompt removal, end tokens, think/answer regions and format."""

from __future__ import annotations

import pytest

from services.extraction import extract, response_from_query, strip_end_tokens
from services.rewards import RewardOptions

R1_PROMPT = (
    "A conversation between User and Assistant. The assistant first thinks about the reasoning process "
    "and then provides the answer, enclosed in <think> </think> and <answer> </answer> tags.\n"
    "User: What is 1+1?\nAssistant: <think>"
)
OPTS = RewardOptions()


def test_prompt_prefix_is_removed():
    assert response_from_query("PROMPT and the response", "PROMPT") == " and the response"


@pytest.mark.parametrize(
    "query, expected",
    [
        ("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nthe answer", "the answer"),
        ("<|start_header_id|>assistant<|end_header_id|>\n\nok", "ok"),
        ("User: q\nAssistant: first\nUser: again\nAssistant: second", " second"),
    ],
)
def test_last_assistant_marker_when_prompt_is_not_a_prefix(query, expected):
    assert response_from_query(query, "a different prompt") == expected


def test_end_tokens_are_stripped_repeatedly():
    assert strip_end_tokens("answer<|im_end|>\n<|endoftext|><|endoftext|>  ") == "answer"
    assert strip_end_tokens("keep <|im_end|> inside") == "keep <|im_end|> inside"


def test_r1_prompt_tail_opens_the_think_block():
    ex = extract("reasoning</think> <answer>2</answer><|im_end|>", R1_PROMPT, OPTS)
    assert ex.think == "reasoning"
    assert ex.answer_tags
    assert ex.answer_region == "2"
    assert ex.format_ok, ex.format_reason


def test_answer_inside_think_never_counts():
    ex = extract("<answer>2</answer> still thinking", R1_PROMPT, OPTS)
    assert ex.answer_region == ""
    assert not ex.format_ok


def test_missing_tags_when_the_template_asks_for_them():
    ex = extract("thinking</think> the answer is 2", R1_PROMPT, OPTS)
    assert ex.answer_region == ""
    assert not ex.format_ok


def test_last_answer_block_wins_and_two_blocks_break_the_format():
    ex = extract("t</think><answer>1</answer><answer>2</answer>", R1_PROMPT, OPTS)
    assert ex.answer_region == "2"
    assert not ex.format_ok


def test_text_after_the_answer_breaks_the_format():
    ex = extract("t</think><answer>2</answer> and more words", R1_PROMPT, OPTS)
    assert ex.answer_region == "2"
    assert not ex.format_ok


def test_without_tags_the_text_after_think_is_the_answer():
    ex = extract("<think>a long thought</think>\nSo the result is \\boxed{2}.", "Solve 1+1.", OPTS)
    assert not ex.answer_tags
    assert ex.answer_region == "So the result is \\boxed{2}."
    assert ex.format_ok


def test_no_think_block_means_the_whole_response():
    ex = extract("The answer is 2", None, OPTS)
    assert ex.think is None and ex.answer_region == "The answer is 2" and ex.format_ok


def test_unclosed_think_has_no_answer():
    ex = extract("<think>I never stop thinking \\boxed{2}", None, OPTS)
    assert ex.answer_region == "" and not ex.format_ok
    assert ex.format_reason == "unclosed <think> block"


def test_answer_tags_option_overrides_the_prompt():
    ex = extract("<think>t</think> 2", "no tags mentioned", OPTS.layered({"answer_tags": True}))
    assert ex.answer_tags and ex.answer_region == "" and not ex.format_ok
    ex = extract("t</think><answer>2</answer>", R1_PROMPT, OPTS.layered({"answer_tags": False}))
    assert ex.answer_region == "<answer>2</answer>"


def test_custom_end_tokens():
    ex = extract("2<END>", None, OPTS.layered({"end_tokens": ["<END>"]}))
    assert ex.answer_region == "2"
