"""The wire contract of the HTTP API: request and response models, shared by the service and its clients."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.rewards import RewardOptions


class ScoreItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    response: str = Field(description="the model's response (prompt not included)")
    label: Any = Field(description="a label object, or a string holding one (see the label schema)")
    prompt: str | None = Field(default=None, description="the prompt; its tail is read by format checks")
    options: dict[str, Any] | None = Field(
        default=None, description="reward options for this item (checked per item: a bad one is an item error)"
    )


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[ScoreItem] = Field(min_length=1)
    options: RewardOptions | None = Field(default=None, description="reward options for every item")


class ItemResult(BaseModel):
    reward: float
    score: float = Field(description="fraction correct in [0, 1], whatever the mode")
    verdict: str = Field(description="correct, partial, wrong, format_error, timeout or error")
    format_ok: bool
    details: dict[str, Any]
    latency_ms: float
    cached: bool = False


class ScoreResponse(BaseModel):
    results: list[ItemResult]


class RewardRequest(BaseModel):
    """OpenRLHF's remote reward model request: one or more (query, prompt, label)."""

    model_config = ConfigDict(extra="allow")

    query: list[str] = Field(min_length=1, description="prompt + response as decoded by the trainer")
    prompts: list[str] | None = Field(default=None, description="the prompts, one per query")
    labels: list[Any] = Field(description="one label per query")
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
