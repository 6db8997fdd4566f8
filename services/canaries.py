"""Canaries: responses whose right verdict is known, built from a label's own gold answer.

The gold dressed the ways models write it must score ``correct``; the gold perturbed must
not. Scored through the same verifiers as live traffic (:mod:`reward_server.audit` injects
them off the request's path), a canary that comes out otherwise is a verifier fault, not a
guess: an alarm.

Per domain:

- math: ``The answer is \\boxed{G}.``, ``The final answer is $G$.``; wrong: ``\\boxed{G + 1}``
  (left out for a gold holding an infinity, where adding one changes nothing);
- countdown: only when the label carries a solution expression (``"solution": "(6-2)*6"``,
  an optional field; the public data sets have none, and solving a puzzle is search, not
  the API's work): the boxed expression, and the expression with its first number changed;
- kk: one numbered line per person, one sentence; wrong: the first person's role flipped;
- zebra: the gold grid as JSON; wrong: one attribute's values swapped between two rows;
- code: none (a label's tests carry no reference program).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from services.verdicts import Verdict

THINK = "<think>Let me work this out step by step.</think>\n"


@dataclass(frozen=True, slots=True)
class Canary:
    form: str
    """How the gold is dressed or altered (``boxed``, ``sentence``, ``perturbed``)."""
    response: str
    right: bool
    """True: it must score ``correct``; False: it must not."""


def canaries_for(domain: str, label: Any) -> list[Canary]:
    """The canaries of one parsed label (its domain's model); [] where none can be built."""
    build = {"math": _math, "countdown": _countdown, "kk": _kk, "zebra": _zebra}.get(domain)
    if build is None or label is None:
        return []
    try:
        return build(label)
    except (AttributeError, KeyError, TypeError, ValueError):
        return []  # a label form this builder does not know: no canary rather than a false alarm


def failed(canary: Canary, verdict: Verdict) -> bool:
    """Whether a canary's verdict contradicts what it is known to be."""
    return (verdict == Verdict.CORRECT) != canary.right


def _answer(text: str) -> str:
    return f"{THINK}<answer>{text}</answer>"


def _math(label: Any) -> list[Canary]:
    gold = str(label.answer).strip()
    if not gold:
        return []
    found = [
        Canary("boxed", _answer(f"The answer is \\boxed{{{gold}}}."), True),
        Canary("sentence", _answer(f"The final answer is ${gold}$."), True),
    ]
    if "infty" not in gold and "\\text" not in gold:
        found.append(Canary("perturbed", _answer(f"The answer is \\boxed{{{gold} + 1}}."), False))
    return found


def _countdown(label: Any) -> list[Canary]:
    solution = getattr(label, "solution", None)
    if not isinstance(solution, str) or not re.search(r"\d", solution):
        return []
    first = re.search(r"\d+", solution)
    assert first is not None
    changed = solution[: first.start()] + str(int(first.group()) + 1) + solution[first.end() :]
    return [
        Canary("boxed", _answer(f"\\boxed{{{solution}}}"), True),
        Canary("perturbed", _answer(f"\\boxed{{{changed}}}"), False),
    ]


def _kk(label: Any) -> list[Canary]:
    gold = label.gold
    people = list(gold.people.items())
    if not people:
        return []
    lines = "\n".join(f"({i}) {name} is a {gold.role_word(t)}" for i, (name, t) in enumerate(people, start=1))
    sentence = ", ".join(f"{name} is a {gold.role_word(t)}" for name, t in people) + "."
    flipped = [(name, not t) if i == 0 else (name, t) for i, (name, t) in enumerate(people)]
    wrong = "\n".join(
        f"({i}) {name} is a {gold.role_word(t)}" for i, (name, t) in enumerate(flipped, start=1)
    )
    return [Canary("numbered lines", _answer(lines), True), Canary("sentence", _answer(sentence), True),
            Canary("perturbed", _answer(wrong), False)]  # fmt: skip


def _zebra(label: Any) -> list[Canary]:
    grid, display = label.gold
    houses = sorted(grid)
    rows = [{display.get(a, a): v for a, v in grid[h].items()} for h in houses]
    found = [Canary("json grid", _answer(_grid(houses, rows)), True)]
    if (
        len(rows) > 1 and len(rows[0]) > 1
    ):  # one attribute only: a swap is a row order, right under row_order any
        attribute = next((a for a in rows[0] if rows[0][a] != rows[1].get(a)), None)
        if attribute is not None:
            wrong = [dict(r) for r in rows]
            wrong[0][attribute], wrong[1][attribute] = rows[1][attribute], rows[0][attribute]
            found.append(Canary("perturbed", _answer(_grid(houses, wrong)), False))
    return found


def _grid(houses: list[int], rows: list[dict[str, str]]) -> str:
    solution = {f"House {h}": row for h, row in zip(houses, rows, strict=True)}
    return json.dumps({"reasoning": "Worked through the clues.", "solution": solution}, ensure_ascii=False)
