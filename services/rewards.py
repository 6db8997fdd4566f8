"""Reward modes: how a verifier's outcome becomes the training reward.

``score`` is always the fraction correct in [0, 1]; ``reward`` depends on the mode:

========  ===============================================================
binary    1 if fully correct, else 0
partial   fraction correct (tests passed, people right, cells right)
format    binary (or partial) and ``format_penalty`` when the tags are wrong
rescaled  partial mapped to [-1, 1]
logic-rl  format +1/-1 plus answer +2 / -1.5 / -2 (Logic-RL's KK shaping)
========  ===============================================================

Options are layered: server default < request ``options`` < item ``options`` < label
``reward``; a later layer overrides only the fields it sets.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.text import require_decodable
from services.verdicts import UNPAID_VERDICTS, Verdict

RewardMode = Literal["binary", "partial", "format", "rescaled", "logic-rl"]


class RewardOptions(BaseModel):
    """Options that shape extraction and reward; every field is optional in a layer."""

    # Strict: the OpenAPI document says integer, number or boolean, and a JSON `false` for a
    # number (or `1` for a boolean) is refused rather than read as 0 (or true).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    mode: RewardMode = "binary"
    format_base: Literal["binary", "partial"] = Field(
        default="binary", description="what the format mode pays when the format is right"
    )
    format_penalty: float = Field(default=-1.0, description="reward in format mode when the tags are wrong")
    failure_reward: float | None = Field(
        default=None,
        description="reward for verdicts timeout, error, unscored and truncated; default: what a wrong answer "
        "gets in the mode",
    )
    score_truncated: bool = Field(
        default=False,
        description="score a response the length limit cut off (finish_reason 'length', or no end token where "
        "the query holds special tokens) like any other; default: verdict truncated, the failure reward",
    )
    logic_rl_format_ok: float = 1.0
    logic_rl_format_bad: float = -1.0
    logic_rl_correct: float = 2.0
    logic_rl_wrong: float = -1.5
    logic_rl_unparseable: float = -2.0
    answer_tags: bool | None = Field(
        default=None,
        description="expect <answer> tags; default: when the prompt (or, without one, the response) mentions <answer>",
    )
    require_think: bool = Field(default=True, description="with answer tags, a <think> block must come first")
    end_tokens: list[str] | None = Field(default=None, description="end tokens stripped from the response")
    timeout_s: float | None = Field(default=None, gt=0, le=600, description="per-item time limit")
    max_boxed: int = Field(
        default=1,
        ge=1,
        description="math: more distinct \\boxed{} answers than this is hedging and wrong, unless the gold "
        "answer has that many parts (a set of solutions, a tuple) and the boxes together give them",
    )
    float_digits: int = Field(
        default=6,
        ge=0,
        le=15,
        description="math: a decimal answer equals an exact gold value when both agree to this many "
        "decimal places (0.333333 for 1/3 at 6; 0.33 needs 2)",
    )

    @field_validator("end_tokens")
    @classmethod
    def _end_tokens_are_text(cls, value: list[str] | None) -> list[str] | None:
        return require_decodable(value, "end_tokens")

    def layered(self, *layers: dict[str, Any] | BaseModel | None) -> RewardOptions:
        """These options with each layer's explicitly set fields applied in order."""
        merged = self.model_dump(exclude_unset=False)
        for layer in layers:
            if layer is None:
                continue
            if isinstance(layer, BaseModel):
                layer = layer.model_dump(exclude_unset=True)
            merged.update(layer)
        return RewardOptions.model_validate(merged)


def compute_reward(
    verdict: Verdict, score: float, format_ok: bool, parsed: bool, options: RewardOptions
) -> float:
    """The training reward for one outcome under ``options.mode``.

    An item that could not be scored (``timeout``, ``error``, ``unscored``) or was cut off
    (``truncated``) gets
    ``failure_reward`` when set, else what a wrong but readable answer gets in the mode:
    a service failure must never pay more than a wrong answer, and it must not be
    punished like a format error the policy did not make."""
    if verdict in UNPAID_VERDICTS:
        if options.failure_reward is not None:
            return float(options.failure_reward)
        score, parsed = 0.0, True
    correct = score >= 1.0
    mode = options.mode
    if mode == "binary":
        return 1.0 if correct else 0.0
    if mode == "partial":
        return float(score)
    if mode == "format":
        if not format_ok:
            return float(options.format_penalty)
        if options.format_base == "partial":
            return float(score)
        return 1.0 if correct else 0.0
    if mode == "rescaled":
        return 2.0 * float(score) - 1.0 if parsed else -1.0
    if mode == "logic-rl":
        fmt = options.logic_rl_format_ok if format_ok else options.logic_rl_format_bad
        if not format_ok or not parsed:
            answer = options.logic_rl_unparseable
        elif correct:
            answer = options.logic_rl_correct
        else:
            answer = options.logic_rl_wrong
        return float(fmt + answer)
    raise ValueError(f"unknown reward mode {mode!r}")
