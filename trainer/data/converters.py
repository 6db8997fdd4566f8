"""Converters from the public dataset formats into :class:`Task` rows.

Each converter takes one source row (a dict, as read from parquet or JSONL) and returns a
:class:`Task`, or raises :class:`SkipRow` with the reason when the row cannot be used
(the conversion counts the reasons and goes on). Formats:

- ``deepscaler``  DeepScaleR-Preview: ``problem``, ``answer`` (``solution`` ignored); or the
                  study's veRL form (R1 ``prompt``, ``reward_model.ground_truth``).
- ``countdown``   Countdown-Tasks-3to4: ``nums``, ``target``.
- ``coder1``      CodeR1-12k (veRL style): ``prompt`` (chat messages or text),
                  ``reward_model.ground_truth`` a JSON string of ``{"functional": test code}``
                  (LeetCode) or ``{"inputs": [...], "outputs": [...]}`` (TACO stdin/stdout,
                  optional ``fn_name``); ``extra_info.dataset`` names the sub-source.
- ``kk``          Logic-RL's Knights-and-Knaves parquet: ``quiz``, ``names``, ``solution``
                  (booleans, true = knight), ``solution_text_format``, ``knight_knave``
                  (role words); or its veRL form with ``reward_model.ground_truth``
                  ``{"solution_text_format": ...}`` and the quiz in ``prompt``.
- ``zebralogic``  ZebraLogic grid mode: ``puzzle``, ``size`` ("3*4"), ``solution``
                  ``{"header": ["House", ...], "rows": [["1", ...], ...]}``.
- ``lpb``         Logic Puzzle Baron grids: the puzzle text in ``puzzle`` / ``question`` /
                  ``problem`` (plus optional ``clues``), the answer grid in ``solution`` /
                  ``answer`` as ``{"header", "rows"}``, a list of row objects, or columns
                  ``{"Name": [...], "Pet": [...]}``. Rows keep their order (the first column
                  identifies a row) and the prompt states that order. Or the study's veRL
                  form: the puzzle in the R1 ``prompt``, ``reward_model.ground_truth``
                  ``{"House 1": {category: value}}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from trainer.data.tasks import Task


class SkipRow(ValueError):
    """A source row that cannot become a training task; the message says why."""


def _text(row: dict[str, Any], *keys: str) -> str:
    for key in keys:
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    raise SkipRow(f"no text in {' / '.join(keys)}")


def _json_field(value: Any, what: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise SkipRow(f"{what} is not JSON: {exc.msg}") from None
    return value


_CHAT_USER = re.compile(r"<\|im_start\|>user\s*(?P<text>.*?)<\|im_end\|>", re.DOTALL)


def _question_from_prompt(prompt: Any) -> str:
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


def _ground_truth(row: dict[str, Any]) -> Any:
    reward_model = _json_field(row.get("reward_model"), "reward_model")
    if isinstance(reward_model, dict) and "ground_truth" in reward_model:
        return _json_field(reward_model["ground_truth"], "reward_model.ground_truth")
    if "ground_truth" in row:
        return _json_field(row["ground_truth"], "ground_truth")
    raise SkipRow("no reward_model.ground_truth")


def _r1_question(prompt: Any) -> str:
    """The question inside an R1-template prompt as the study's veRL files hold it: the
    user's text between ``User:`` and the closing ``Assistant: <think>``, else all of it."""
    text = _question_from_prompt(prompt)
    head, sep, tail = text.rpartition("Assistant:")
    if sep and tail.strip() in ("", "<think>"):
        text = head
    _, sep, question = text.partition("\nUser:")
    return (question if sep else text).strip()


# --------------------------------------------------------------------------- math


def convert_deepscaler(row: dict[str, Any]) -> Task:
    if "problem" not in row and "question" not in row and "prompt" in row:
        # The study's veRL form: the R1 prompt and reward_model.ground_truth.
        reward_model = _json_field(row.get("reward_model"), "reward_model")
        answer = reward_model.get("ground_truth") if isinstance(reward_model, dict) else None
        question = _r1_question(row["prompt"])  # a LaTeX answer is text, never JSON-decoded
    else:
        question, answer = _text(row, "problem", "question"), row.get("answer")
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise SkipRow("no answer")
    return Task(
        domain="math",
        question=question,
        label={"domain": "math", "answer": answer.strip()},
        source="deepscaler",
        answer_style="math",
        difficulty=float(row.get("difficulty") or 0.0),
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


# --------------------------------------------------------------------------- code


def convert_coder1(row: dict[str, Any]) -> Task:
    question = _question_from_prompt(row.get("prompt") if "prompt" in row else row.get("question"))
    truth = _ground_truth(row)
    if not isinstance(truth, dict):
        raise SkipRow("ground_truth is not an object")
    if isinstance(truth.get("functional"), str) and truth["functional"].strip():
        tests: dict[str, Any] = {"functional": truth["functional"]}
        count = truth["functional"].count("assert")
    elif isinstance(truth.get("inputs"), list) and isinstance(truth.get("outputs"), list):
        if len(truth["inputs"]) != len(truth["outputs"]) or not truth["inputs"]:
            raise SkipRow("inputs and outputs must be non-empty lists of the same length")
        tests = {"inputs": truth["inputs"], "outputs": truth["outputs"]}
        if truth.get("fn_name"):
            tests["fn_name"] = str(truth["fn_name"])
        count = len(truth["inputs"])
    elif "pytest" in truth:
        raise SkipRow("pytest-style ground truth is not in the label schema")
    else:
        raise SkipRow(f"ground_truth has none of functional, inputs/outputs (keys: {sorted(truth)})")
    extra = _json_field(row.get("extra_info"), "extra_info")
    sub = extra.get("dataset") if isinstance(extra, dict) else None
    return Task(
        domain="code",
        question=question,
        label={"domain": "code", "tests": tests},
        source=f"coder1/{sub}" if sub else "coder1",
        answer_style="code",
        difficulty=float(count),
    )


# --------------------------------------------------------------------------- puzzles

_KK_LINE = re.compile(r"(?P<name>[A-Z][\w'-]*(?: [A-Z][\w'-]*)*) is (?:an? |the )?(?P<role>[A-Za-z-]+)")


def _kk_roles(row: dict[str, Any]) -> tuple[str, str]:
    mapping = _json_field(row.get("knight_knave"), "knight_knave")
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
        question = _text(row, "quiz", "question")
    else:
        text = row.get("solution_text_format")
        if not isinstance(text, str):
            truth = _ground_truth(row)
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
            else _question_from_prompt(row.get("prompt"))
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
    )


def _grid_size(solution: dict[str, Any]) -> float:
    rows = solution.get("rows") or []
    width = max((len(r) for r in rows if isinstance(r, list)), default=0)
    return float(len(rows) * max(width - 1, 1))


def convert_zebralogic(row: dict[str, Any]) -> Task:
    question = _text(row, "puzzle", "question")
    solution = _json_field(row.get("solution"), "solution")
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


def _lpb_from_verl(row: dict[str, Any]) -> Task:
    """The study's veRL form: the puzzle, clues and choices in the R1 prompt (its own answer
    format after ``# Instruction`` is replaced by the template's), and ground_truth
    ``{"House 1": {category: value}}``, a grid the zebra label takes as it is."""
    text = _r1_question(row["prompt"])
    puzzle = text.split("# Instruction")[0]
    start = puzzle.find("# Puzzle to Solve")
    question = (puzzle[start + len("# Puzzle to Solve") :] if start >= 0 else puzzle).strip()
    if not question:
        raise SkipRow("no puzzle text before '# Instruction'")
    solution = _ground_truth(row)
    if not isinstance(solution, dict) or not all(isinstance(v, dict) for v in solution.values()):
        raise SkipRow('ground_truth must be {"House 1": {category: value}, ...}')
    width = max((len(v) for v in solution.values()), default=0)
    return Task(
        domain="zebra",
        question=question,
        label={"domain": "zebra", "solution": solution},
        source="lpb",
        answer_style="zebra",
        difficulty=float(len(solution) * width),
    )


def convert_lpb(row: dict[str, Any]) -> Task:
    if (
        "reward_model" in row
        and "prompt" in row
        and not any(k in row for k in ("puzzle", "question", "problem"))
    ):
        return _lpb_from_verl(row)
    question = _text(row, "puzzle", "question", "problem", "story")
    clues = row.get("clues")
    if isinstance(clues, list) and clues:
        question += "\n\nClues:\n" + "\n".join(f"{i}. {c}" for i, c in enumerate(clues, start=1))
    elif isinstance(clues, str) and clues.strip():
        question += "\n\nClues:\n" + clues.strip()
    table = _lpb_table(_json_field(row.get("solution", row.get("answer")), "solution"))
    first = table["header"][0]
    order = ", ".join(r[0] for r in table["rows"])
    question += (
        f"\n\nFill in the table with the columns {', '.join(table['header'])}: one row per {first}, "
        f"in this order: {order}."
    )
    return Task(
        domain="zebra",
        question=question,
        label={"domain": "zebra", "solution": table},
        source="lpb",
        answer_style="zebra_table",
        style_fields={"header": json.dumps(table["header"], ensure_ascii=False)},
        difficulty=_grid_size(table),
    )


CONVERTERS: dict[str, Callable[[dict[str, Any]], Task]] = {
    "deepscaler": convert_deepscaler,
    "countdown": convert_countdown,
    "coder1": convert_coder1,
    "kk": convert_kk,
    "zebralogic": convert_zebralogic,
    "lpb": convert_lpb,
}
"""Source format name -> converter."""
