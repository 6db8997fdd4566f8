"""Zebra (Einstein) grid verifier: the model's whole grid against the gold grid, cell by cell.

Gold and answer are read by the same normaliser, :func:`read_grid`, from either form:

- ZebraLogic's answer form ``{"House 1": {"Name": "Arnold", "Pet": "cat"}, "House 2": ...}``
  (house keys may be "House 1", "house_1", "1", ...; a ``{"solution": {...}}`` wrapper, as
  in ZebraLogic's ``{"reasoning": ..., "solution": ...}`` output, is unwrapped);
- ZebraLogic's gold form ``{"header": ["House", "Name", ...], "rows": [["1", "Arnold", ...], ...]}``;
- by columns, each attribute's values listed by house: ``{"Name": ["Arnold", "Eric"], "Pet":
  ["cat", "dog"]}`` (the form GRPO zebra prompts ask for; a ``House`` column numbers them).

An object written as a Python literal (single quotes) is read as well.

The answer is the last complete JSON object in the answer region that has the grid's shape
(```json fences and text around it are fine; trailing commas are forgiven). Cells compare
case- and white-space-insensitively; a missing cell is wrong; houses and attributes the
gold grid does not have earn nothing. score = right cells / gold cells.

Rows are read one of two ways, as the label says (``row_order``):

- ``fixed`` (ZebraLogic): a row is a position, House 1 is the first house; the answer's
  House 1 is compared with the gold's House 1.
- ``any`` (Logic Puzzle Baron): a row is an association of values, "House 1" only a row
  label. The answer's rows are matched one-to-one to the gold rows by content: the
  assignment that gets the most cells right (the Hungarian method), so a right grid in
  any row order scores 1 and one wrong cell scores (cells - 1) / cells. An answer with
  more rows than the puzzle scores 0: extra rows would let it offer every combination.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import PrivateAttr, model_validator

from services.core import DomainLabel, VerifierOutcome
from services.rewards import RewardOptions

MAX_ANSWER_CHARS = 100_000
"""Only the last this-many characters of the answer region are searched for JSON."""
MAX_DECODE_ATTEMPTS = 2_000
"""At most this many '{' positions are tried as the start of a JSON object."""
MAX_LITERAL_ATTEMPTS = 200
MAX_LITERAL_CHARS = 20_000
"""A grid written as a Python literal is small: the brace scan stops this far on."""

Grid = dict[int, dict[str, list[str]]]
"""house number -> normalised attribute -> the normalised values given for that cell."""


class ZebraGridError(ValueError):
    """A grid (gold or answer) that is not in a form this verifier reads."""


def normalise(value: Any) -> str:
    """Case- and white-space-insensitive form of a cell value or attribute name."""
    return " ".join(str(value).split()).casefold()


_HOUSE_NUMBER = re.compile(r"\d+")


def _house_number(key: Any) -> int | None:
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return key
    match = _HOUSE_NUMBER.search(str(key))
    return int(match.group()) if match else None


def _cell_text(value: Any) -> str | None:
    """A cell as text; None for values that are not one plain answer (null, lists, objects)."""
    if value is None or isinstance(value, dict | list):
        return None
    return normalise(value)


def _unwrap(obj: Any) -> Any:
    """Take the grid out of a {"solution": {...}} wrapper (any key case)."""
    for _ in range(3):
        if not isinstance(obj, dict):
            return obj
        inner = next((v for k, v in obj.items() if normalise(k) == "solution"), None)
        if isinstance(inner, dict):
            obj = inner
        else:
            return obj
    return obj


def read_grid(obj: Any) -> tuple[Grid, dict[str, str]]:
    """Read a grid in either form; return it with the attribute display names.

    Raises :class:`ZebraGridError` when the object has no houses at all.
    """
    obj = _unwrap(obj)
    if not isinstance(obj, dict):
        raise ZebraGridError(f"expected a JSON object of houses, got {type(obj).__name__}")
    display: dict[str, str] = {}
    grid: Grid = {}

    def put(house: int, attribute: Any, value: Any) -> None:
        key = normalise(attribute)
        display.setdefault(key, " ".join(str(attribute).split()))
        cell = grid.setdefault(house, {}).setdefault(key, [])
        text = _cell_text(value)
        cell.append(text if text is not None else "\x00unreadable")

    if "header" in obj and "rows" in obj:
        header, rows = obj["header"], obj["rows"]
        if not isinstance(header, list) or not isinstance(rows, list) or not header:
            raise ZebraGridError("'header' and 'rows' must be lists")
        house_column = next((i for i, h in enumerate(header) if normalise(h) == "house"), None)
        for index, row in enumerate(rows):
            if not isinstance(row, list):
                raise ZebraGridError(f"row {index + 1} is not a list")
            house = index + 1
            if house_column is not None and house_column < len(row):
                number = _house_number(row[house_column])
                house = number if number is not None else house
            for column, attribute in enumerate(header):
                if column == house_column:
                    continue
                put(house, attribute, row[column] if column < len(row) else None)
        if not grid:
            raise ZebraGridError("the grid has no rows")
        return grid, display

    for key, attributes in obj.items():
        house = _house_number(key)
        if house is None or not isinstance(attributes, dict):
            continue
        grid.setdefault(house, {})
        for attribute, value in attributes.items():
            put(house, attribute, value)
    if not grid:
        _read_columns(obj, put)
    if not grid:
        raise ZebraGridError(
            'no houses: expected {"House 1": {"Name": ...}, ...} or {"Name": [...], ...} by house'
        )
    return grid, display


def _read_columns(obj: dict[str, Any], put: Callable[[int, Any, Any], None]) -> None:
    """The grid by columns: each attribute's values listed by house, ``{"Food": ["corn",
    "kale"], "Pet": ["cat", "dog"]}``; a ``House`` column, when there is one, numbers them."""
    columns = {k: v for k, v in obj.items() if isinstance(v, list)}
    if (
        not columns
        or len(columns) != len(obj)
        or any(not v or any(isinstance(x, dict | list) for x in v) for v in columns.values())
    ):
        return
    numbers: list[int] | None = None
    house_key = next(
        (k for k in columns if normalise(k) in ("house", "houses", "house number", "position")), None
    )
    if house_key is not None:
        numbers = [n for n in (_house_number(v) for v in columns.pop(house_key)) if n is not None]
    for attribute, values in columns.items():
        for index, value in enumerate(values):
            house = numbers[index] if numbers is not None and index < len(numbers) else index + 1
            put(house, attribute, value)


def gold_grid(solution: Any) -> tuple[dict[int, dict[str, str]], dict[str, str]]:
    """The gold grid of a label's solution: house -> attribute -> value, one value per cell."""
    try:
        grid, display = read_grid(solution)
    except ZebraGridError as exc:
        raise ZebraGridError(f"zebra solution: {exc}") from None
    gold: dict[int, dict[str, str]] = {}
    for house, cells in grid.items():
        for attribute, values in cells.items():
            if len(values) != 1 or values[0].startswith("\x00"):
                raise ZebraGridError(
                    f"zebra solution: house {house} {display[attribute]!r} must be one text or number"
                )
            gold.setdefault(house, {})[attribute] = values[0]
    if not any(gold.values()):
        raise ZebraGridError("zebra solution has no cells")
    return gold, display


class ZebraLabel(DomainLabel):
    """``solution`` {"House 1": {"Name": ...}, ...} or {"header": [...], "rows": [...]}
    (ZebraLogic's top-level ``header`` / ``rows`` are taken as the solution too). The gold
    grid is normalised once, when the label is read."""

    domain: Literal["zebra"]
    solution: dict[str, Any]
    row_order: Literal["fixed", "any"] = "fixed"
    """``fixed``: rows are positions; ``any``: rows are associations matched by content."""
    _gold: tuple[dict[int, dict[str, str]], dict[str, str]] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _top_level_grid(cls, data: Any) -> Any:
        if isinstance(data, dict) and "solution" not in data and "header" in data and "rows" in data:
            data = {**data, "solution": {"header": data["header"], "rows": data["rows"]}}
            data.pop("header")
            data.pop("rows")
        return data

    @model_validator(mode="after")
    def _normalise_gold(self) -> ZebraLabel:
        self._gold = gold_grid(self.solution)
        return self

    @property
    def gold(self) -> tuple[dict[int, dict[str, str]], dict[str, str]]:
        """house -> attribute -> value, and the attributes' display names."""
        assert self._gold is not None
        return self._gold


Label = ZebraLabel


# --------------------------------------------------------------------------- JSON in text

_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_OBJECT_START = re.compile(r"\{\s*[\"'}]")


def json_objects(text: str) -> tuple[list[Any], str | None]:
    """Every outermost JSON object in ``text``, in order, and the last decode error seen."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    error: str | None = None
    position = 0
    attempts = 0
    while attempts < MAX_DECODE_ATTEMPTS:
        match = _OBJECT_START.search(text, position)
        if match is None:
            break
        start = match.start()
        attempts += 1
        try:
            obj, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            error = f"{exc.msg} at position {exc.pos}"
            position = start + 1
            continue
        except RecursionError:
            error = "JSON nested too deeply"
            position = start + 1
            continue
        found.append(obj)
        position = end
    return found, error


def python_objects(text: str) -> list[Any]:
    """Every outermost ``{...}`` in ``text`` that reads as a Python literal (a dict written
    with single quotes, as models print one), in order."""
    found: list[Any] = []
    position = attempts = 0
    while attempts < MAX_LITERAL_ATTEMPTS:
        start = text.find("{", position)
        if start < 0:
            break
        attempts += 1
        end = _closing_brace(text, start)
        if end is None:
            position = start + 1
            continue
        try:
            obj = ast.literal_eval(text[start : end + 1])
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            position = start + 1
            continue
        if isinstance(obj, dict):
            found.append(obj)
        position = end + 1
    return found


def _closing_brace(text: str, start: int) -> int | None:
    """Where the brace opened at ``start`` closes, quotes respected; None when it does not."""
    depth, quote, i = 0, "", start
    stop = min(len(text), start + MAX_LITERAL_CHARS)
    while i < stop:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "{[":
            depth += 1
            if depth > 20:
                return None
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i if ch == "}" else None
        i += 1
    return None


def find_answer_grid(answer: str) -> tuple[Grid | None, dict[str, str], str | None]:
    """The last JSON object in the answer that is a grid, or None and why there is none."""
    text = answer[-MAX_ANSWER_CHARS:]
    if "{" not in text:
        return None, {}, "no JSON object in the answer"
    objects, error = json_objects(text)
    grid, display, shape_error = _last_grid(objects)
    if grid is None and "'" in text:
        literal_objects = python_objects(text)
        grid, display, _ = _last_grid(literal_objects)
        objects = objects or literal_objects
    if grid is None:
        repaired = _TRAILING_COMMA.sub(r"\1", text)
        if repaired != text:
            repaired_objects, _ = json_objects(repaired)
            grid, display, _ = _last_grid(repaired_objects)
            objects = objects or repaired_objects
    if grid is not None:
        return grid, display, None
    if not objects:
        return None, {}, f"broken JSON: {error or 'no complete object'}"
    return None, {}, f"JSON is not a grid: {shape_error}"


def _last_grid(objects: list[Any]) -> tuple[Grid | None, dict[str, str], str | None]:
    shape_error = None
    for obj in reversed(objects):
        try:
            grid, display = read_grid(obj)
        except ZebraGridError as exc:
            shape_error = shape_error or str(exc)
            continue
        return grid, display, None
    return None, {}, shape_error


# --------------------------------------------------------------------------- verify


def _cell_status(given: list[str] | None, expected: str) -> str | None:
    """None when the cell is right, else what is wrong with it."""
    if given is None:
        return "missing"
    if len(set(given)) > 1:
        return "given more than one value"
    if given[0] != expected:
        shown = "unreadable value" if given[0].startswith("\x00") else repr(given[0])
        return f"{shown}, expected {expected!r}"
    return None


def _row_right(gold_row: dict[str, str], answer_row: dict[str, list[str]]) -> int:
    return sum(
        1
        for attribute, expected in gold_row.items()
        if _cell_status(answer_row.get(attribute), expected) is None
    )


def match_rows(gold: dict[int, dict[str, str]], grid: Grid) -> dict[int, int | None]:
    """Gold row -> answer row under the one-to-one assignment with the most cells right."""
    from scipy.optimize import linear_sum_assignment

    gold_rows, answer_rows = sorted(gold), sorted(grid)
    if not answer_rows:
        return dict.fromkeys(gold_rows)
    right = [[_row_right(gold[g], grid[a]) for a in answer_rows] for g in gold_rows]
    rows, columns = linear_sum_assignment(right, maximize=True)
    matched: dict[int, int | None] = dict.fromkeys(gold_rows)
    for r, c in zip(rows, columns, strict=True):
        matched[gold_rows[r]] = answer_rows[c]
    return matched


def verify(extracted: Any, label: ZebraLabel, options: RewardOptions) -> VerifierOutcome:
    """Score a Zebra grid answer: the fraction of the gold grid's cells given right."""
    gold, display = label.gold
    total = sum(len(cells) for cells in gold.values())
    base_details: dict[str, Any] = {
        "cell_accuracy": 0.0,
        "puzzle_accuracy": 0,
        "cells_right": 0,
        "cells_total": total,
        "row_order": label.row_order,
    }
    answer = extracted.answer_region
    if not answer.strip():
        return VerifierOutcome(
            score=0.0, parsed=False, reason="empty answer region: no grid to read", details=base_details
        )
    grid, answer_display, why = find_answer_grid(answer)
    if grid is None:
        return VerifierOutcome(score=0.0, parsed=False, reason=why, details=base_details)

    if label.row_order == "any":
        if len(grid) > len(gold):
            reason = f"the answer has {len(grid)} rows, the puzzle {len(gold)}: extra rows are not an answer"
            return VerifierOutcome(score=0.0, reason=reason, details=base_details)
        matched = match_rows(gold, grid)
    else:
        matched = {house: house for house in gold}
    right = 0
    mistakes: list[str] = []
    for house in sorted(gold):
        row = matched[house]
        answer_row = grid.get(row, {}) if row is not None else {}
        for attribute, expected in gold[house].items():
            status = _cell_status(answer_row.get(attribute), expected)
            if status is None:
                right += 1
            else:
                mistakes.append(f"House {house} {display[attribute]}: {status}")
    used = {r for r in matched.values() if r is not None}
    extra_houses = sorted(h for h in grid if h not in used)
    gold_attributes = {a for cells in gold.values() for a in cells}
    extra_attributes = sorted(
        {answer_display.get(a, a) for cells in grid.values() for a in cells if a not in gold_attributes}
    )
    score = right / total
    details: dict[str, Any] = {
        **base_details,
        "cell_accuracy": score,
        "puzzle_accuracy": 1 if right == total else 0,
        "cells_right": right,
    }
    if mistakes:
        details["wrong_cells"] = mistakes[:20]
    if extra_houses:
        details["extra_houses"] = extra_houses[:20]
    if extra_attributes:
        details["extra_attributes"] = extra_attributes[:20]
    reason = None
    if mistakes:
        reason = f"{right} of {total} cells right; " + "; ".join(mistakes[:5])
    return VerifierOutcome(score=score, parsed=True, reason=reason, details=details)
