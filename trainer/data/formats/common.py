"""What every source format shares: the skip signal, JSON fields, veRL's prompt and ground truth."""

from __future__ import annotations

import json
import re
from typing import Any


class SkipRow(ValueError):
    """A source row that cannot become a training task; the message says why."""


def text_field(row: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise SkipRow(f"no text in {' / '.join(keys)}")


def json_field(value: Any, what: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise SkipRow(f"{what} is not JSON: {exc.msg}") from None
    return value


_CHAT_USER = re.compile(r"<\|im_start\|>user\s*(?P<text>.*?)<\|im_end\|>", re.DOTALL)


def question_from_prompt(prompt: Any) -> str:
    """The user's question in a veRL-style ``prompt``: chat messages, or a rendered chat string."""
    if isinstance(prompt, list):
        users = [m.get("content") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        if users and isinstance(users[-1], str) and users[-1].strip():
            return users[-1].strip()
        raise SkipRow("prompt has no user message")
    if isinstance(prompt, str) and prompt.strip():
        match = _CHAT_USER.search(prompt)
        return (match.group("text") if match else prompt).strip()
    raise SkipRow("no prompt")


def ground_truth(row: dict[str, Any]) -> Any:
    reward_model = json_field(row.get("reward_model"), "reward_model")
    if isinstance(reward_model, dict) and "ground_truth" in reward_model:
        return json_field(reward_model["ground_truth"], "reward_model.ground_truth")
    if "ground_truth" in row:
        return json_field(row["ground_truth"], "ground_truth")
    raise SkipRow("no reward_model.ground_truth")
