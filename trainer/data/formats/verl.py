"""veRL-style files: ``prompt`` (chat messages), ``reward_model.ground_truth``, ``data_source``,
``extra_info``. The study's own training and test files are in this form.

The domain is read from the ground truth's shape, with ``data_source`` as the tie-break:

==========  ===========================================================================
countdown   ``{"numbers", "target"}`` (or the ``nums`` / ``target`` columns)
kk          ``{"solution_text_format": ...}`` (with Logic-RL's ``names`` / ``solution``)
code        a JSON object with ``functional`` or ``inputs`` / ``outputs``
zebra       a JSON grid: ``{"House 1": {...}}`` (Logic Puzzle Baron: rows are
            associations, matched by content) or ``{"header", "rows"}`` (ZebraLogic:
            rows are positions)
math        any other text or number: a LaTeX answer
==========  ===========================================================================

Every row keeps its prompt (``original_prompt``), so a converted dataset can use the
study's exact prompt or re-template the question.
"""

from __future__ import annotations

import json
import re
from typing import Any

from trainer.data.formats.code import convert_coder1
from trainer.data.formats.common import SkipRow, json_field
from trainer.data.formats.math import bare_answer, convert_countdown
from trainer.data.formats.puzzles import convert_kk
from trainer.data.tasks import Task

_R1_USER = re.compile(r"\nUser:\s*(?P<question>.*?)\s*\nAssistant:\s*(?:<think>)?\s*\Z", re.DOTALL)
_R1_TAIL = re.compile(r"\s*(?:\nAssistant:\s*(?:<think>)?\s*)\Z")
_R1_PREAMBLE_END = re.compile(r"<answer>\s*</answer>\.?[^\n]*\n")
_LPB_INSTRUCTION = re.compile(r"\n#+\s*Instruction\b.*\Z", re.DOTALL)
_HOUSE_KEY = re.compile(r"^\s*house\s*\d+\s*$", re.IGNORECASE)


def _user_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        users = [m.get("content") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        if users and isinstance(users[-1], str):
            return users[-1]
    raise SkipRow("prompt has no user message")


def r1_question(prompt: Any) -> str:
    """The question inside an R1-style prompt: after ``User:`` up to ``Assistant:``, or,
    without a ``User:`` line, what follows the preamble's ``<answer> </answer>`` example."""
    text = _user_text(prompt)
    match = _R1_USER.search(text)
    if match:
        return match.group("question").strip()
    body = _R1_TAIL.sub("", text)
    preamble = _R1_PREAMBLE_END.search(body)
    if preamble:
        body = body[preamble.end() :]
    body = body.strip()
    if not body:
        raise SkipRow("no question in the prompt")
    return body


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def detect_domain(row: dict[str, Any], truth: Any) -> str:
    source = str(row.get("data_source") or "").lower()
    if isinstance(truth, dict):
        if "target" in truth and ("numbers" in truth or "nums" in truth):
            return "countdown"
        if "solution_text_format" in truth or "solution_text" in truth:
            return "kk"
        if "functional" in truth or ("inputs" in truth and "outputs" in truth):
            return "code"
        if ("header" in truth and "rows" in truth) or (truth and all(_HOUSE_KEY.match(str(k)) for k in truth)):
            return "zebra"
        raise SkipRow(f"ground_truth object of unknown shape (keys: {sorted(truth)[:8]}, data_source {source!r})")
    if isinstance(truth, str | int | float) and not isinstance(truth, bool):
        return "math"
    raise SkipRow(f"ground_truth of unknown type {type(truth).__name__} (data_source {source!r})")


def _math(row: dict[str, Any], truth: Any) -> Task:
    answer = bare_answer(str(truth))
    if not answer:
        raise SkipRow("empty math answer")
    return Task(
        domain="math",
        question=r1_question(row.get("prompt")),
        label={"domain": "math", "answer": answer},
        source="math",
        answer_style="math",
        reference=answer,
    )


def _zebra(row: dict[str, Any], truth: Any) -> Task:
    grid = _json(truth)
    positions = isinstance(grid, dict) and "header" in grid and "rows" in grid
    label: dict[str, Any] = {"domain": "zebra", "solution": grid}
    if not positions:
        label["row_order"] = "any"  # Logic Puzzle Baron: "House 1" is only a row label
    question = _LPB_INSTRUCTION.sub("", r1_question(row.get("prompt"))).strip()
    cells = sum(len(v) for v in grid.values() if isinstance(v, dict)) if not positions else len(grid["rows"])
    return Task(
        domain="zebra",
        question=question,
        label=label,
        source="zebra",
        answer_style="zebra",
        difficulty=float(cells),
        reference=json.dumps({"solution": grid}, ensure_ascii=False),
    )


def _raw_truth(row: dict[str, Any]) -> Any:
    """The ground truth as stored: an object, or text that holds JSON only when it is an
    object (a math answer such as ``[0, 1)`` or ``1,2`` stays text)."""
    reward_model = json_field(row.get("reward_model"), "reward_model")
    if isinstance(reward_model, dict) and "ground_truth" in reward_model:
        truth = reward_model["ground_truth"]
    elif "ground_truth" in row:
        truth = row["ground_truth"]
    else:
        raise SkipRow("no reward_model.ground_truth")
    if isinstance(truth, str) and truth.lstrip().startswith("{"):
        decoded = _json(truth)
        if isinstance(decoded, dict):
            return decoded
    return truth


def convert_verl(row: dict[str, Any]) -> Task:
    truth = _raw_truth(row)
    domain = detect_domain(row, truth)
    if domain == "countdown":
        numbers = truth.get("numbers", truth.get("nums"))
        task = convert_countdown({"nums": row.get("nums", numbers), "target": row.get("target", truth["target"])})
    elif domain == "kk":
        task = convert_kk(row)
    elif domain == "code":
        task = convert_coder1(row)
    elif domain == "zebra":
        task = _zebra(row, truth)
    else:
        task = _math(row, truth)
    source = row.get("data_source")
    if isinstance(source, str) and source.strip():
        task.source = f"{task.domain}/{source.strip()}" if domain != "code" else task.source
    if task.original_prompt is None and isinstance(row.get("prompt"), list | str):
        task.original_prompt = row["prompt"]
    return task
