"""Puzzle sources: Logic-RL's Knights-and-Knaves, ZebraLogic grids and Logic Puzzle Baron grids."""

from __future__ import annotations

import json
import re
from typing import Any

from trainer.data.formats.common import SkipRow, ground_truth, json_field, question_from_prompt, text_field
from trainer.data.tasks import Task
from trainer.templates import with_article

_KK_LINE = re.compile(r"(?P<name>[A-Z][\w'-]*(?: [A-Z][\w'-]*)*) is (?:an? |the )?(?P<role>[A-Za-z-]+)")


def _kk_roles(row: dict[str, Any]) -> tuple[str, str]:
    mapping = json_field(row.get("knight_knave"), "knight_knave")
    if (
        isinstance(mapping, dict)
        and isinstance(mapping.get("knight"), str)
        and isinstance(mapping.get("knave"), str)
    ):
        return mapping["knight"].strip().lower(), mapping["knave"].strip().lower()
    return "knight", "knave"


def convert_kk(row: dict[str, Any]) -> Task:
    truth_word, liar_word = _kk_roles(row)
    solution: dict[str, str] = {}
    names, flags = row.get("names"), row.get("solution")
    if isinstance(names, list) and isinstance(flags, list) and len(names) == len(flags) and names:
        if not all(isinstance(f, bool) for f in flags):
            raise SkipRow("solution must be booleans (true = truth-teller)")
        solution = {str(n): truth_word if f else liar_word for n, f in zip(names, flags, strict=True)}
        question = text_field(row, "quiz", "question")
    else:
        text = row.get("solution_text_format")
        if not isinstance(text, str):
            truth = ground_truth(row)
            text = truth.get("solution_text_format") if isinstance(truth, dict) else None
        if not isinstance(text, str):
            raise SkipRow("no names + solution and no solution_text_format")
        for match in _KK_LINE.finditer(text):
            solution[match.group("name")] = match.group("role").lower()
        if not solution:
            raise SkipRow(f"cannot read solution_text_format {text[:80]!r}")
        quiz = row.get("quiz")
        question = (
            quiz.strip()
            if isinstance(quiz, str) and quiz.strip()
            else question_from_prompt(row.get("prompt"))
        )
    label: dict[str, Any] = {"domain": "kk", "solution": solution}
    if (truth_word, liar_word) != ("knight", "knave"):
        label["roles"] = [truth_word, liar_word]
    return Task(
        domain="kk",
        question=question,
        label=label,
        source="kk",
        answer_style="kk",
        style_fields={"truth": truth_word, "liar": liar_word},
        difficulty=float(len(solution)),
        original_prompt=row.get("prompt") if isinstance(row.get("prompt"), list | str) else None,
        reference="\n".join(
            f"({i}) {name} is {with_article(role)}" for i, (name, role) in enumerate(solution.items(), start=1)
        ),
    )


def _grid_size(solution: dict[str, Any]) -> float:
    rows = solution.get("rows") or []
    width = max((len(r) for r in rows if isinstance(r, list)), default=0)
    return float(len(rows) * max(width - 1, 1))


def convert_zebralogic(row: dict[str, Any]) -> Task:
    question = text_field(row, "puzzle", "question")
    solution = json_field(row.get("solution"), "solution")
    if (
        not isinstance(solution, dict)
        or not isinstance(solution.get("header"), list)
        or not isinstance(solution.get("rows"), list)
    ):
        raise SkipRow('solution must be {"header": [...], "rows": [[...], ...]}')
    solution = {
        "header": [str(h) for h in solution["header"]],
        "rows": [[str(c) for c in r] for r in solution["rows"]],
    }
    difficulty = _grid_size(solution)
    size = row.get("size")
    if isinstance(size, str) and re.fullmatch(r"\d+\*\d+", size.strip()):
        houses, attributes = (int(x) for x in size.strip().split("*"))
        difficulty = float(houses * attributes)
    return Task(
        domain="zebra",
        question=question,
        label={"domain": "zebra", "solution": solution},
        source="zebralogic",
        answer_style="zebra",
        difficulty=difficulty,
        reference=json.dumps(solution, ensure_ascii=False),
    )


def _lpb_table(solution: Any) -> dict[str, list[Any]]:
    """{"header", "rows"} from the grid forms Logic Puzzle Baron exports come in."""
    if (
        isinstance(solution, dict)
        and isinstance(solution.get("header"), list)
        and isinstance(solution.get("rows"), list)
    ):
        header, rows = solution["header"], solution["rows"]
    elif isinstance(solution, list) and solution and all(isinstance(r, dict) for r in solution):
        header = list(solution[0].keys())
        rows = [[r.get(h) for h in header] for r in solution]
    elif isinstance(solution, dict) and solution and all(isinstance(v, list) for v in solution.values()):
        header = list(solution.keys())
        lengths = {len(v) for v in solution.values()}
        if len(lengths) != 1:
            raise SkipRow("solution columns have different lengths")
        rows = [list(cells) for cells in zip(*solution.values(), strict=True)]
    else:
        raise SkipRow("solution must be a {header, rows} table, a list of row objects, or columns")
    if not header or not rows or any(not isinstance(r, list) or len(r) != len(header) for r in rows):
        raise SkipRow("every solution row must have one cell per header column")
    if any(c is None for r in rows for c in r):
        raise SkipRow("the solution grid has empty cells")
    return {"header": [str(h) for h in header], "rows": [[str(c) for c in r] for r in rows]}


def convert_lpb(row: dict[str, Any]) -> Task:
    question = text_field(row, "puzzle", "question", "problem", "story")
    clues = row.get("clues")
    if isinstance(clues, list) and clues:
        question += "\n\nClues:\n" + "\n".join(f"{i}. {c}" for i, c in enumerate(clues, start=1))
    elif isinstance(clues, str) and clues.strip():
        question += "\n\nClues:\n" + clues.strip()
    table = _lpb_table(json_field(row.get("solution", row.get("answer")), "solution"))
    first = table["header"][0]
    order = ", ".join(r[0] for r in table["rows"])
    question += (
        f"\n\nFill in the table with the columns {', '.join(table['header'])}: one row per {first}, "
        f"in this order: {order}."
    )
    return Task(
        domain="zebra",
        question=question,
        label={"domain": "zebra", "solution": table, "row_order": "any"},
        source="lpb",
        answer_style="zebra_table",
        style_fields={"header": json.dumps(table["header"], ensure_ascii=False)},
        difficulty=_grid_size(table),
        reference=json.dumps(table, ensure_ascii=False),
    )
