"""Math sources: DeepScaleR (``problem``, ``answer``) and Countdown-Tasks-3to4 (``nums``, ``target``)."""

from __future__ import annotations

import re
from typing import Any

from trainer.data.formats.common import SkipRow, text_field
from trainer.data.tasks import Task

_WRAPPED = re.compile(r"\A\s*(?:\\\[(?P<a>.*)\\\]|\\\((?P<b>.*)\\\)|\$\$(?P<c>.*)\$\$|\$(?P<d>.*)\$)\s*\Z", re.DOTALL)
_DELIMITERS = ("\\[", "\\]", "\\(", "\\)", "$")


def bare_answer(answer: str) -> str:
    """A gold answer without the display-math delimiters some datasets wrap it in
    (``\\[ k = 86 \\]``): a model writes the answer itself, boxed or not."""
    match = _WRAPPED.match(answer)
    if match is None:
        return answer.strip()
    inner = next(g for g in match.groups() if g is not None)
    if any(d in inner.replace("\\$", "") for d in _DELIMITERS) or not inner.strip():
        return answer.strip()  # several delimited pieces, not one wrapped answer
    return inner.strip()


def convert_deepscaler(row: dict[str, Any]) -> Task:
    question = text_field(row, "problem", "question")
    answer = row.get("answer")
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise SkipRow("no answer")
    return Task(
        domain="math",
        question=question,
        label={"domain": "math", "answer": bare_answer(answer)},
        source="deepscaler",
        answer_style="math",
        difficulty=float(row.get("difficulty") or 0.0),
        reference=bare_answer(answer),
    )


def countdown_question(numbers: list[int], target: int) -> str:
    return (
        f"Using the numbers {numbers}, create an equation that equals {target}. You can use basic "
        "arithmetic operations (+, -, *, /) and each number must be used exactly once."
    )


def convert_countdown(row: dict[str, Any]) -> Task:
    numbers, target = row.get("nums", row.get("numbers")), row.get("target")
    try:
        numbers = [int(n) for n in numbers]  # type: ignore[union-attr]
        target = int(target)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SkipRow("nums must be a list of integers and target an integer") from None
    if not numbers:
        raise SkipRow("empty nums")
    return Task(
        domain="countdown",
        question=countdown_question(numbers, target),
        label={"domain": "countdown", "target": target, "numbers": numbers},
        source="countdown",
        answer_style="countdown",
        difficulty=float(len(numbers)),
    )
