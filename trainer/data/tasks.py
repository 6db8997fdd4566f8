"""A training task before rendering: the question, its label and what the answer should look like."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from services.labels import parse_label
from trainer.templates import answer_instruction, render

GROUPS: dict[str, tuple[str, ...]] = {
    "math": ("math", "countdown"),
    "code": ("code",),
    "puzzle": ("kk", "zebra"),
}
"""The study's three domains and the label domains in each."""


def group_of(domain: str) -> str:
    """The study domain (math, code, puzzle) a label domain belongs to."""
    for group, members in GROUPS.items():
        if domain in members:
            return group
    raise ValueError(f"unknown label domain {domain!r}")


@dataclass
class Task:
    domain: str
    """The label domain (math, countdown, code, kk, zebra)."""
    question: str
    """The problem statement, without answer-format instructions."""
    label: dict[str, Any]
    """The label (README, "Labels"; each domain module's label model, read by :func:`services.labels.parse_label`)."""
    source: str
    """Where it came from, e.g. ``deepscaler`` or ``gen:kk``."""
    answer_style: str
    """Key of :data:`trainer.templates.ANSWER_INSTRUCTIONS`."""
    style_fields: dict[str, str] = field(default_factory=dict)
    difficulty: float = 0.0
    """Curriculum key within a domain: more is harder (people in KK, cells in Zebra, ...)."""
    original_prompt: str | list[dict[str, str]] | None = None
    """The source's own prompt (a base-model string or chat messages), kept when asked."""
    reference: str | None = None
    """A known right answer as a model would write it inside the answer tags (a reference
    solution's code, the gold answer), when the source has one: for checks and evaluation."""

    def __post_init__(self) -> None:
        # Every task leaves the converters with a label the service will accept.
        parse_label(self.label)

    def dedup_key(self) -> str:
        """Identity for deduplication: the domain and the question up to case and white space."""
        text = " ".join(self.question.split()).casefold()
        return hashlib.sha1(f"{self.domain}\x00{text}".encode()).hexdigest()

    def to_row(self, reward: dict[str, Any] | None = None, keep_prompt: bool = False) -> dict[str, Any]:
        """The OpenRLHF dataset row: both prompt renderings, the label as a JSON string, and
        ``datasource`` (OpenRLHF reports eval pass@k per datasource). With ``keep_prompt``
        the source's own prompt is kept as it was (when it has one): a base-model prompt
        as ``prompt``, chat messages as ``messages``."""
        label = dict(self.label)
        if reward:
            label["reward"] = {**label.get("reward", {}), **reward}
        instruction = answer_instruction(self.answer_style, **self.style_fields)
        prompts = render(self.question, instruction)
        if keep_prompt and self.original_prompt:
            prompts.update(kept_prompt(self.original_prompt))
        return {
            **prompts,
            "label": json.dumps(label, ensure_ascii=False),
            "datasource": self.domain,
            "source": self.source,
            "difficulty": self.difficulty,
            # Code rows keep their reference: `python -m trainer.data calibrate` times it.
            **({"reference": self.reference} if self.domain == "code" and self.reference else {}),
        }


def kept_prompt(original: str | list[dict[str, str]]) -> dict[str, Any]:
    """A source's own prompt as dataset columns: a string (or one user message ending
    inside the think block, the R1 base form) is the base ``prompt``; chat messages are
    ``messages``."""
    if isinstance(original, str):
        return {"prompt": original, "messages": [{"role": "user", "content": original}]}
    kept: dict[str, Any] = {"messages": [dict(m) for m in original]}
    users = [m for m in original if m.get("role") == "user"]
    if len(original) == 1 and users and users[0].get("content", "").rstrip().endswith("<think>"):
        kept["prompt"] = users[0]["content"]
    return kept
