"""Responses that did not finish (the length limit cut them off) and reasoning models'
thought / solution markers (issue 22)."""

from __future__ import annotations

import pytest

from services.extraction import extract, finished
from services.rewards import RewardOptions, compute_reward
from services.scoring import score_item

CHAT_PROMPT = (
    "<|im_start|>system\nReason step by step.<|im_end|>\n<|im_start|>user\n"
    "A train covers 56 km in 4/5 of an hour. How many km per hour?<|im_end|>\n<|im_start|>assistant\n"
)
# Cut off in the middle of the reasoning: the tail holds the gold (70) and a stray sentence.
CUT = "Let me think. The answer is 70 if the rate holds, so speed = 56 * (5/4) ="
DONE = "Speed = 56 / (4/5) = 70 km/h, so the answer is \\boxed{70}."
GOLD = {"domain": "math", "answer": "70"}


def test_finished_reads_the_end_token_where_the_query_holds_special_tokens():
    assert finished(CHAT_PROMPT + DONE + "<|im_end|>", DONE + "<|im_end|>") is True
    assert finished(CHAT_PROMPT + DONE + "<|im_end|><|endoftext|><|endoftext|>", DONE + "<|im_end|>") is True
    assert finished(CHAT_PROMPT + CUT, CUT) is False
    llama = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nq<|eot_id|>"
    assert finished(llama + CUT, CUT) is False
    assert finished(llama + DONE + "<|eot_id|>", DONE + "<|eot_id|>") is True
    # Decoded without special tokens: nothing tells whether it finished.
    assert finished("Question: q\nAnswer: " + CUT, CUT) is None


def test_a_cut_off_query_gets_the_truncated_verdict_and_no_pay(client):
    queries = [CHAT_PROMPT + CUT, CHAT_PROMPT + DONE + "<|im_end|>", CHAT_PROMPT + "\\boxed{70}"]
    body = {"query": queries, "prompts": [CHAT_PROMPT] * 3, "labels": [GOLD] * 3}
    data = client.post("/reward", json=body).json()
    assert data["rewards"] == [0.0, 1.0, 0.0]  # a bare \boxed{70} that never ended is cut off too
    assert data["scores"] == [0.0, 1.0, 0.0]
    assert data["extra_logs"]["truncated"] == [1.0, 0.0, 1.0]
    assert data["extra_logs"]["correct"] == [0.0, 1.0, 0.0]


def test_score_truncated_scores_a_cut_off_response_anyway(client):
    body = {"query": [CHAT_PROMPT + "\\boxed{70}"], "prompts": [CHAT_PROMPT], "labels": [GOLD]}
    data = client.post("/reward", json={**body, "options": {"score_truncated": True}}).json()
    assert data["rewards"] == [1.0] and data["extra_logs"]["truncated"] == [0.0]
    data = client.post("/reward", json={**body, "options": {"failure_reward": -0.5}}).json()
    assert data["rewards"] == [-0.5]


def test_finish_reason_length_on_v1_score(client):
    items = [
        {"response": DONE, "label": GOLD, "finish_reason": "length"},
        {"response": DONE, "label": GOLD, "finish_reason": "stop"},
        {"response": DONE, "label": GOLD},
        {"response": DONE, "label": GOLD, "finish_reason": "length", "options": {"score_truncated": True}},
    ]
    results = client.post("/v1/score", json={"items": items}).json()["results"]
    assert [r["verdict"] for r in results] == ["truncated", "correct", "correct", "correct"]
    assert [r["reward"] for r in results] == [0.0, 1.0, 1.0, 1.0]
    assert "length limit" in results[0]["details"]["reason"]
    assert results[3]["details"]["truncated"] is True


@pytest.mark.parametrize(
    "mode, reward",
    [("binary", 0.0), ("partial", 0.0), ("rescaled", -1.0), ("format", -1.0), ("logic-rl", -3.0)],
)
def test_a_truncated_verdict_earns_what_a_wrong_answer_earns(mode, reward):
    # An unclosed think block: the format is wrong as well, as it is for most cut-off outputs.
    result = score_item("<think>" + CUT, GOLD, layers=({"mode": mode},), truncated=True)
    assert result["verdict"] == "truncated" and result["score"] == 0.0
    assert result["reward"] == reward
    assert (
        compute_reward("truncated", 1.0, True, True, RewardOptions(mode=mode, failure_reward=-0.25)) == -0.25
    )


def test_the_same_text_finished_is_scored():
    assert score_item(DONE, GOLD)["verdict"] == "correct"
    assert score_item(DONE, GOLD, truncated=True)["verdict"] == "truncated"


# --------------------------------------------------------------------------- reasoning markers

THOUGHT = "<|begin_of_thought|>\nFirst try: maybe \\boxed{60}.\n<|end_of_thought|>\n\n"


def test_thought_markers_are_a_think_block_and_the_solution_the_answer_region():
    response = THOUGHT + "<|begin_of_solution|>\nThe speed is \\boxed{70}.\n<|end_of_solution|>"
    ex = extract(response, None, RewardOptions())
    assert ex.think is not None and "\\boxed{60}" in ex.think
    assert ex.answer_region == "The speed is \\boxed{70}."
    assert ex.format_ok
    assert score_item(response, GOLD)["verdict"] == "correct"
    assert score_item(response.replace("{70}", "{71}"), GOLD)["verdict"] == "wrong"


def test_an_answer_only_in_the_thoughts_never_counts():
    result = score_item("<|begin_of_thought|>\nso it is \\boxed{70}\n", GOLD)
    assert result["verdict"] == "format_error" and result["reward"] == 0.0
    prompt = "Solve it. Put the answer in \\boxed{}.\n<|begin_of_thought|>"
    assert (
        score_item(
            "so \\boxed{70}<|end_of_thought|>\n<|begin_of_solution|>\\boxed{70}<|end_of_solution|>",
            GOLD,
            prompt,
        )["verdict"]
        == "correct"
    )


def test_a_solution_block_that_never_closes_runs_to_the_end():
    response = THOUGHT + "<|begin_of_solution|>\nThe speed is \\boxed{70}."
    assert extract(response, None, RewardOptions()).answer_region == "The speed is \\boxed{70}."


# --------------------------------------------------------------------------- decisions


def test_end_think_in_latex_does_not_close_the_think_block():
    # R1 prompts open the block; "\end{think}" is not its tag, so no answer follows it.
    prompt = "Solve it. Assistant: <think>"
    result = score_item("reasoning \\end{think} \\boxed{70}", GOLD, prompt)
    assert result["verdict"] == "format_error" and result["reward"] == 0.0
    assert score_item("reasoning </think> \\boxed{70}", GOLD, prompt)["verdict"] == "correct"


def test_an_answer_tag_opened_and_never_closed_is_read_but_the_format_is_wrong():
    prompt = "Answer in <answer></answer>. Assistant: <think>"
    result = score_item("work</think> <answer>\\boxed{70}", GOLD, prompt)
    assert result["verdict"] == "correct" and result["format_ok"] is False
    assert result["reward"] == 1.0
    assert (
        score_item("work</think> <answer>\\boxed{70}", GOLD, prompt, layers=({"mode": "format"},))["reward"]
        == -1.0
    )
    assert score_item("work</think> <answer>\\boxed{71}", GOLD, prompt)["verdict"] == "wrong"
