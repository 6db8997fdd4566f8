"""Each reward mode's value for each kind of outcome, through the scoring entry point."""

from __future__ import annotations

import pytest

from services.rewards import RewardOptions, compute_reward
from services.scoring import score_item

PROMPT = "Answer in <think> </think> <answer> </answer> tags.\nAssistant: <think>"
LABEL = {"domain": "math", "answer": "2"}
GOOD = "t</think><answer>\\boxed{2}</answer>"
WRONG = "t</think><answer>\\boxed{3}</answer>"
BAD_FORMAT_RIGHT = "t</think> \\boxed{2} <answer>\\boxed{2}</answer> trailing"
NO_ANSWER = "thinking forever"

# (response, mode) -> reward
TABLE = [
    (GOOD, "binary", 1.0), (WRONG, "binary", 0.0), (NO_ANSWER, "binary", 0.0),
    (GOOD, "partial", 1.0), (WRONG, "partial", 0.0),
    (GOOD, "format", 1.0), (WRONG, "format", 0.0), (BAD_FORMAT_RIGHT, "format", -1.0), (NO_ANSWER, "format", -1.0),
    (GOOD, "rescaled", 1.0), (WRONG, "rescaled", -1.0), (NO_ANSWER, "rescaled", -1.0),
    (GOOD, "logic-rl", 3.0), (WRONG, "logic-rl", -0.5), (BAD_FORMAT_RIGHT, "logic-rl", -3.0), (NO_ANSWER, "logic-rl", -3.0),
]


@pytest.mark.parametrize("response, mode, expected", TABLE)
def test_mode_table(response, mode, expected):
    result = score_item(response, LABEL, PROMPT, layers=({"mode": mode},))
    assert result["reward"] == expected, result


def test_partial_score_values():
    opts = RewardOptions(mode="partial")
    assert compute_reward("partial", 0.25, True, True, opts) == 0.25
    assert compute_reward("partial", 0.25, True, True, opts.layered({"mode": "rescaled"})) == -0.5
    assert compute_reward("partial", 0.25, True, True, opts.layered({"mode": "binary"})) == 0.0
    assert compute_reward("partial", 0.25, True, True, opts.layered({"mode": "format", "format_base": "partial"})) == 0.25
    assert compute_reward("partial", 0.25, False, True, opts.layered({"mode": "format", "format_penalty": -0.5})) == -0.5


def test_failure_reward_for_timeouts_and_errors():
    opts = RewardOptions(mode="rescaled")
    assert compute_reward("timeout", 0.0, True, True, opts) == -1.0
    assert compute_reward("error", 0.0, True, True, opts.layered({"failure_reward": -0.25})) == -0.25


def test_label_options_override_request_options():
    label = {**LABEL, "reward": {"mode": "logic-rl"}}
    assert score_item(GOOD, label, PROMPT, layers=({"mode": "binary"},))["reward"] == 3.0


def test_score_is_the_fraction_correct_whatever_the_mode():
    for mode in ("binary", "format", "rescaled", "logic-rl"):
        assert score_item(GOOD, LABEL, PROMPT, layers=({"mode": mode},))["score"] == 1.0
        assert score_item(WRONG, LABEL, PROMPT, layers=({"mode": mode},))["score"] == 0.0


def test_unknown_option_is_an_item_error_naming_it():
    result = score_item(GOOD, LABEL, PROMPT, layers=({"mdoe": "binary"},))
    assert result["verdict"] == "error"
    assert "mdoe" in result["details"]["reason"]


def test_configurable_logic_rl_values():
    result = score_item(GOOD, LABEL, PROMPT, layers=({"mode": "logic-rl", "logic_rl_correct": 5},))
    assert result["reward"] == 6.0
