"""Math answers checked symbolically with math-verify, read the way models write them.

Where the answer is (in the answer region; the think block never counts):

0. the ``answer`` field of a JSON object that ends the region;
1. a "final answer is ..." sentence after the last ``\\boxed{}`` (or with no box at all):
   what the sentence says, boxed, delimited or plain, unless it only judges or points at
   an answer ("our answer is correct");
2. else the ``\\boxed{}`` / ``\\fbox{}`` answers, blank boxes aside (boxes built in code or
   a program's output count only when there is no other box);
3. else the math in ``$..$``, ``$$..$$``, ``\\(..\\)`` or ``\\[..\\]``;
4. else a concluding last paragraph ("Therefore, the sum is 20."), else the region itself
   as plain LaTeX (``3\\sqrt{13}``, ``\\text{Evelyn}``, ``6 - 5i``), or, when it reads as
   prose, the number or expression at its end.

What tells an answer from what only looks like one, and which part of a candidate is the
answer (a chain of equalities, a congruence, an ordinal, a percent): see
:mod:`services.domains.math_reading`.

Several candidates (boxes; with answer tags, delimited pieces too) must agree: different
candidates for one value are hedging and score 0. They count together only when the gold
answer has that many parts (a set or list of solutions, a tuple of values) and the
candidates are exactly those parts: ``\\boxed{(2, 2)} and \\boxed{(6, 2)}`` for gold
``(2, 2), (6, 2)``.

A decimal answer equals an exact gold value when the two agree to ``float_digits`` decimal
places (default 6, math-verify's own): ``0.333333`` is ``1/3``, ``0.33`` is not unless a
label or request lowers it. Six places keep a policy from being paid for a rough
approximation where the problem asks for the exact value, and still accept an exact
answer written as a long decimal.

Answers whose value is too large to build (``9^{9^{9}}``, ``10!!!!``: more than a million
digits), on the gold's side or a candidate's, are answered before any parsing by
:mod:`services.domains.math_screen` (details ``"screen": "huge"``); every other answer
is left to math-verify.

The gold answer is parsed once per process. math-verify's own SIGALRM timeouts are off:
they fail off the main thread and cannot stop big-integer arithmetic; the execution
backend kills the worker instead.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any, Literal

from pydantic import field_validator

from services.core import DomainLabel, VerifierOutcome
from services.domains import math_screen
from services.domains.math_reading import (
    answer_part,
    is_blank,
    is_commentary,
    is_prose,
    json_answer,
    last_paragraph,
    masked,
    percent_number,
)
from services.extraction import Extracted, closing_brace
from services.rewards import RewardOptions


class MathLabel(DomainLabel):
    domain: Literal["math"]
    answer: str

    @field_validator("answer", mode="before")
    @classmethod
    def _answer_as_text(cls, value: Any) -> Any:
        # Datasets store answers as numbers as often as strings.
        if isinstance(value, bool):
            raise ValueError("answer must be a string or a number")
        if isinstance(value, int | float):
            return str(value)
        return value


Label = MathLabel

_BOX_COMMANDS = ("\\boxed", "\\fbox")
# Beyond this many distinct candidates the response is spam: no need to compare them.
_MAX_COMPARED = 8
# Only the tail of a long answer region is handed to the parser.
_TAIL_CHARS = 4000
_DELIMITED = re.compile(r"\$\$(.+?)\$\$|(?<!\\)\$(.+?)(?<!\\)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
"""Delimited math; an escaped ``\\$`` (a currency sign in the answer) is not a delimiter."""
_FINAL_PHRASE = re.compile(
    r"(?:final\s+answer|the\s+answer|answer)\s*(?:is|:|=)\s*(?:\\[:,;!]\s*)?(?:[:=]\s*)?", re.IGNORECASE
)
# Where a final-answer sentence ends: a blank line, or a full stop not inside a number.
_SENTENCE_END = re.compile(r"\n\s*\n|\.(?!\d)(?=\s|$)")
_LATEX_SIGNS = re.compile(r"[\\^_{}=+*/()\[\]|<>:!-]|, |(?<![A-Za-z])[A-Za-z](?![A-Za-z])")
"""A plain answer with one of these (an operator, a list ``3, 5, 7``, a ratio ``3 : 5``, a
one-letter variable ``2k``) and no word is read as LaTeX first (``3\\sqrt{13}``,
``6 - 5i``); one with a word (``2 apples``, ``1,000.99m²`` in a sentence) or none of them
(``1 000``, ``2,74``) is read as text first, as math-verify reads numbers."""
_SENTENCE_END_MARKS = " .;,"
"""What closes a sentence after an answer (``-\\frac{5}{3}.``); no part of the value."""
_WORD_OF_TWO = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_COMMAND_ARGUMENT = re.compile(r"\\[A-Za-z]+\*?\s*\{[^{}]*\}")
"""A LaTeX command with its first argument (``\\text{Evelyn}``, ``\\begin{pmatrix}``): no
word of the answer's prose."""

# The backend enforces time limits by killing the worker; the library's reminder of that
# would otherwise be logged on every call.
logging.getLogger("math_verify").setLevel(logging.ERROR)


@lru_cache(maxsize=1)
def _mv() -> Any:
    """math-verify, imported where math is scored (the API process only reads labels)."""
    import math_verify

    return math_verify


def warm_up() -> None:
    parse_gold("\\frac{1}{2}")


def _configs(latex_only: bool = False) -> tuple[Any, ...]:
    mv = _mv()
    latex = mv.LatexExtractionConfig(boxed_match_priority=0)
    return (latex,) if latex_only else (latex, mv.ExprExtractionConfig())


def _parse(text: str, latex_only: bool = False) -> list[Any]:
    return _mv().parse(
        text, extraction_config=_configs(latex_only), extraction_mode="first_match", parsing_timeout=None
    )


def boxed_answers(text: str) -> list[str]:
    """Contents of every ``\\boxed{...}`` / ``\\fbox{...}`` in order, braces matched."""
    return [content for _, _, content in _boxes(text)]


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every box, in order of position."""
    found: list[tuple[int, int, str]] = []
    for command in _BOX_COMMANDS:
        start = 0
        while True:
            at = text.find(command, start)
            if at < 0:
                break
            i = at + len(command)
            while i < len(text) and text[i] == " ":
                i += 1
            if i >= len(text) or text[i] != "{":
                start = at + len(command)
                continue
            j = closing_brace(text, i)
            if j is None:  # unbalanced: the rest of the text is not an answer
                break
            found.append((at, j + 1, text[i + 1 : j]))
            start = j + 1
    found.sort()
    return found


@lru_cache(maxsize=65536)
def parse_gold(answer: str) -> tuple[Any, ...]:
    """The gold answer parsed once per process (gold answers repeat across a GRPO group).
    Gold answers come as bare LaTeX, or already delimited or boxed."""
    text = answer.strip()
    delimited = text.startswith(("$", "\\(", "\\[")) or "\\boxed" in text
    if not delimited:
        text = text.rstrip(_SENTENCE_END_MARKS) or text
    parsed = _parse(text) if delimited else _parse(f"${text}$")
    if not parsed:
        parsed = _parse(f"\\boxed{{{text}}}")
    if not parsed:
        parsed = [text]
    if text != answer.strip():  # an answer that copies the gold with its full stop still matches it
        parsed = [*parsed, *_parse(f"${answer.strip()}$"), answer.strip()]
    return tuple(parsed)


def gold_parts(gold: tuple[Any, ...]) -> int:
    """How many parts the gold answer has: the members of a set or list of solutions, or
    the entries of a tuple; 1 for a single value."""
    import sympy

    value = gold[0]
    if isinstance(value, sympy.FiniteSet | sympy.Tuple | list | tuple):
        return max(len(value), 1)
    return 1


def _read_text(text: str) -> list[Any]:
    """One answer written as text: delimited math, plain LaTeX, or prose ending in one."""
    text = text.strip()
    if _DELIMITED.search(text) or "\\boxed" in text:
        return _parse(text)
    bare = text.rstrip(_SENTENCE_END_MARKS).strip()
    if not bare or is_prose(bare):
        return _parse(text)
    readings = (lambda: _parse(f"${bare}$", latex_only=True), lambda: _parse(text))
    if _WORD_OF_TWO.search(_COMMAND_ARGUMENT.sub(" ", bare)) or not _LATEX_SIGNS.search(bare):
        readings = readings[::-1]
    for read in readings:
        parsed = read()
        if parsed:
            return parsed
    return []


def _final_sentence(region: str, after: int) -> str | None:
    """What the last "the final answer is ..." after position ``after`` says, if any."""
    for match in reversed(list(_FINAL_PHRASE.finditer(region))):
        if match.start() < after:
            return None
        tail = region[match.end() :]
        end = _SENTENCE_END.search(tail)
        said = (tail[: end.start()] if end else tail).strip()
        if said and not is_commentary(said, after > 0):
            return said
    return None


def _candidates(region: str, answer_tags: bool) -> tuple[list[str], str]:
    """The answer's candidate texts (all must agree, or make up the gold's parts) and how
    they were found. Boxes in code blocks count only when there is no other box."""
    in_json = json_answer(region, _TAIL_CHARS)
    if in_json is not None:
        return [in_json], "json"
    visible = masked(region)
    boxes = _boxes(visible) or _boxes(region)
    sentence = _final_sentence(visible, boxes[-1][1] if boxes else 0)
    if sentence is not None:
        return [sentence], "sentence"
    contents = [c.strip() for _, _, c in boxes if not is_blank(c)]
    if contents:
        return contents, "boxed"
    if boxes:
        return [], "boxed"
    if answer_tags:
        pieces = [next(g for g in m.groups() if g is not None).strip() for m in _DELIMITED.finditer(region)]
        pieces = [p for p in pieces if p]
        if pieces:
            return pieces, "delimited"
    return [region[-_TAIL_CHARS:]], "text"


def _equal(gold: Any, pred: list[Any], options: RewardOptions) -> bool:
    return bool(_mv().verify(list(gold), pred, float_rounding=options.float_digits, timeout_seconds=None))


def _joined(pieces: list[str], gold: tuple[Any, ...]) -> list[list[Any]]:
    """The readings of several candidates taken together as one multi-part answer."""
    import sympy

    readings = [_parse(", ".join(f"\\boxed{{{p}}}" for p in pieces))]
    if isinstance(gold[0], sympy.Tuple | tuple):
        readings.append(_parse(f"$({', '.join(pieces)})$"))
    return [r for r in readings if r]


def _concluding(text: str, gold: str) -> str | None:
    """The concluding paragraph of a reply read as text, when it holds an answer: such a
    reply ends on its answer, while its whole tail holds every value it tried."""
    ending = last_paragraph(text)
    if ending is None:
        return None
    candidate = answer_part(ending, gold)
    # A value too large to build is left to the screen, unparsed.
    if math_screen.judge(gold, [candidate]) is not None or _read_text(candidate):
        return candidate
    return None


def verify(extracted: Extracted, label: MathLabel, options: RewardOptions) -> VerifierOutcome:
    region = extracted.answer_region
    if not region.strip():
        return VerifierOutcome(score=0.0, parsed=False, reason="no answer outside the think block")
    pieces, how = _candidates(region, extracted.answer_tags)
    details: dict[str, Any] = {"read": how, "boxed": how == "boxed"}
    if not pieces:
        return VerifierOutcome(score=0.0, parsed=False, reason="empty \\boxed{}", details=details)
    # A full stop closing a candidate (``\\boxed{-\\frac{5}{3}.}``) ends a sentence, as in gold answers.
    distinct = list(dict.fromkeys(p.rstrip(_SENTENCE_END_MARKS) or p for p in pieces))
    if how != "text" or not is_prose(distinct[-1]):
        distinct = list(dict.fromkeys(answer_part(p, label.answer) for p in distinct))
    ending = _concluding(distinct[-1], label.answer) if how == "text" else None
    if ending is not None:
        distinct, how = [ending], "paragraph"
        details["read"] = how
    if len(distinct) > _MAX_COMPARED:
        return VerifierOutcome(score=0.0, reason=f"hedging: {len(distinct)} different answers", details=details)
    screened = math_screen.judge(label.answer, distinct)
    if screened is not None:  # a value too large to build, on either side: decided without parsing
        screened.details = {**details, **screened.details, "extracted": distinct[-1].strip()[:200]}
        return screened
    gold = parse_gold(label.answer)
    if how == "boxed":
        pred = _parse(f"\\boxed{{{distinct[-1]}}}")
    elif how == "delimited":
        pred = _parse(f"${distinct[-1]}$")
    else:
        pred = _read_text(distinct[-1])
    if len(distinct) > options.max_boxed:
        readings = [_parse(f"${p}$") for p in distinct]
        agree = all(r and pred and _equal(pred, r, options) for r in readings[:-1])
        if not agree:
            parts = gold_parts(gold)
            if parts == len(distinct) and parts > 1:
                if any(_equal(gold, joined, options) for joined in _joined(distinct, gold)):
                    details.update({"parts": parts, "extracted": ", ".join(distinct)[:200]})
                    return VerifierOutcome(score=1.0, details=details)
            return VerifierOutcome(
                score=0.0,
                reason=f"hedging: {len(distinct)} {how} answers that disagree",
                details={**details, "answers": len(distinct)},
            )
    if not pred:
        return VerifierOutcome(score=0.0, parsed=False, reason="no parseable math answer", details=details)
    correct = _equal(gold, pred, options)
    percent = None if correct else percent_number(pred)
    if percent is not None and "%" not in label.answer:  # 35.0\% for a gold 35, as math-verify takes 35\%
        correct = _equal(gold, [percent], options)
    details["extracted"] = str(pred[-1])[:200]
    return VerifierOutcome(score=1.0 if correct else 0.0, details=details)
