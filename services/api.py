"""The wire contract of the HTTP API: request and response models, shared by the service and its clients."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.rewards import RewardOptions

LABEL_EXAMPLES = {
    "math": {"domain": "math", "answer": "\\frac{1}{2}"},
    "code with a checker": {
        "domain": "code",
        "tests": {"inputs": ["3\n"], "outputs": ["2 3 1\n"]},
        "checker": {
            "language": "python",
            "source": "def check(input, expected, output):\n"
            "    n = int(input)\n"
            "    p = [int(t) for t in output.split()]\n"
            "    return sorted(p) == list(range(1, n + 1)) and all(x != i + 1 for i, x in enumerate(p))\n",
        },
    },
    "code within an absolute or relative error": {
        "domain": "code",
        "tests": {"inputs": ["2\n"], "outputs": ["1.414213562\n"]},
        "float_tolerance": 1e-6,
        "float_rule": "abs_or_rel",
    },
}
"""Label examples shown in the OpenAPI document (one label each)."""


class ScoreItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    response: str = Field(description="the model's response (prompt not included)")
    label: Any = Field(
        description="a label object, or a string holding one (see the label schema); a code label's "
        "stdin/stdout tests may carry a `checker` ({language: python | cpp, source, time_limit_s?, memory_mb?}) "
        "that judges each output, and `float_tolerance` with `float_rule` (isclose | abs_or_rel)",
        json_schema_extra={"examples": list(LABEL_EXAMPLES.values())},
    )
    prompt: str | None = Field(default=None, description="the prompt; its tail is read by format checks")
    options: dict[str, Any] | None = Field(
        default=None,
        description="reward options for this item (checked per item: a bad one is an item error)",
    )
    finish_reason: str | None = Field(
        default=None,
        description="why generation stopped, as the inference server says (OpenAI's, vLLM's): 'length' is a "
        "response the token limit cut off, verdict truncated unless the options say score_truncated",
    )


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    items: list[ScoreItem] = Field(min_length=1)
    options: RewardOptions | None = Field(default=None, description="reward options for every item")


class ItemResult(BaseModel):
    reward: float
    score: float = Field(description="fraction correct in [0, 1], whatever the mode")
    verdict: str = Field(
        description="correct, partial, wrong, format_error, truncated, timeout, error or unscored"
    )
    format_ok: bool
    details: dict[str, Any]
    latency_ms: float
    cached: bool = False


class ScoreResponse(BaseModel):
    results: list[ItemResult]


class RewardRequest(BaseModel):
    """OpenRLHF's remote reward model request: one or more (query, prompt, label)."""

    model_config = ConfigDict(extra="allow", strict=True)

    query: list[str] = Field(
        min_length=1,
        description="prompt + response as decoded by the trainer; `labels` (and `prompts` when given) must have "
        "as many entries, else the request is refused (422)",
    )
    prompts: list[str] | None = Field(default=None, description="the prompts, one per query (as many as `query`)")
    labels: list[Any] = Field(
        description="one label per query, as many as `query` (as /v1/score's items' label: code labels may carry "
        "a `checker`)",
        json_schema_extra={"examples": [list(LABEL_EXAMPLES.values())[1:]]},
    )
    options: RewardOptions | None = None

    @model_validator(mode="after")
    def _same_lengths(self) -> RewardRequest:
        n = len(self.query)
        if len(self.labels) != n:
            raise ValueError(f"labels has {len(self.labels)} entries but query has {n}")
        if self.prompts is not None and len(self.prompts) != n:
            raise ValueError(f"prompts has {len(self.prompts)} entries but query has {n}")
        return self


class RewardResponse(BaseModel):
    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]]
