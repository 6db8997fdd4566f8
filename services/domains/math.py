"""Math answers checked symbolically with math-verify, read the way models write them.

Where the answer is (in the answer region; the think block never counts):

1. a "final answer is ..." sentence after the last ``\\boxed{}`` (or with no box at all):
   what the sentence says, boxed, delimited or plain;
2. else the ``\\boxed{}`` / ``\\fbox{}`` answers;
3. else the math in ``$..$``, ``$$..$$``, ``\\(..\\)`` or ``\\[..\\]``;
4. else the region itself as plain LaTeX (``3\\sqrt{13}``, ``\\text{Evelyn}``, ``6 - 5i``),
   or, when it reads as prose, the number or expression at its end.

A box left blank (``\\boxed{\\phantom{2}}``, the problem's own blank copied) is no answer,
and boxes built in a fenced block (code, a program's output) count only when there is no
other box. A sentence that judges an answer ("our answer is correct") is no final-answer
sentence. Of a chain of equalities (``a + b = 11 + 9 = 20``) the last value is the answer;
of a congruence ``n \\equiv 5 \\pmod{17}`` the residue, unless the gold is a congruence;
the ``answer`` field of a JSON object that ends the region is the answer;
a percent with a decimal point (``35.0\\%``) is its number for a gold without one, as
math-verify takes ``35\\%``.

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

from services.core import DomainLabel, Outcome
from services.domains import math_screen
from services.extraction import Extracted
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
_STYLE_COMMAND = re.compile(r"\\(?:text|textbf|mathrm|mathbf|operatorname|mbox)\s*\{[^{}]*\}")
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
_PROSE_WORDS = 3
"""A plain answer with this many words outside LaTeX commands is prose, not an expression."""
_LATEX_SIGNS = re.compile(r"[\\^_{}=+*/()\[\]|<>:!-]|, |(?<![A-Za-z])[A-Za-z](?![A-Za-z])")
"""A plain answer with one of these (an operator, a list ``3, 5, 7``, a ratio ``3 : 5``, a
one-letter variable ``2k``) and no word is read as LaTeX first (``3\\sqrt{13}``,
``6 - 5i``); one with a word (``2 apples``, ``1,000.99m²`` in a sentence) or none of them
(``1 000``, ``2,74``) is read as text first, as math-verify reads numbers."""
_SENTENCE_END_MARKS = " .;,"
"""What closes a sentence after an answer (``-\\frac{5}{3}.``); no part of the value."""
_WORD_OF_TWO = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_COMMAND_ARGUMENT = re.compile(r"\\[A-Za-z]+\*?\s*\{[^{}]*\}")
_FENCED = re.compile(r"```.*?```", re.DOTALL)
"""A code block or a program's printed output: a box built there is no answer of the model's."""
_BLANK = re.compile(
    r"\\(?:[hv]?phantom|[hv]space\*?)\s*\{[^{}]*\}|\\(?:quad|qquad|square|Box|ldots|dots|cdots|underline|text|mathrm)\b"
    r"|\\[,;:! _]|[\s~?_.{}]"
)
"""What a box left blank for the reader is made of (``\\boxed{\\phantom{2}}``, ``\\boxed{\\quad}``,
``\\boxed{?}``): a problem's own blank copied into the solution, not an answer."""
_JSON_ANSWER = re.compile(r'"(?:final_answer|answer)"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?\d[\d.,/]*))')
"""The answer field of a JSON object that ends the region (``{"reasoning": ..., "answer": "34"}``,
as prompts that ask for JSON get); its string is read raw, since LaTeX in it is seldom
escaped as JSON wants (``"\\frac"`` would be a form feed)."""
_JSON_TAIL = re.compile(r"\}\s*(?:```\s*)?\Z")
_JUDGEMENT = re.compile(
    r"(?:(?:indeed|also|definitely|certainly|clearly|still|now|thus|therefore)\s+)*"
    r"(?:(?:in)?correct|right|wrong|(?:in)?valid|consistent|confirmed|verified|reasonable|accurate|plausible|sound"
    r"|as\s+(?:follows|expected|above|below)|(?:given|shown|stated|found)\s+(?:above|below|earlier)|above|below)\b",
    re.IGNORECASE,
)
"""What a sentence says about an answer rather than giving one ("our answer is correct")."""
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
            depth, j = 0, i
            while j < len(text):
                ch = text[j]
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if depth != 0:  # unbalanced: the rest of the text is not an answer
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


def _is_prose(text: str) -> bool:
    return len(_WORD.findall(_STYLE_COMMAND.sub(" ", text))) >= _PROSE_WORDS


def _read_text(text: str) -> list[Any]:
    """One answer written as text: delimited math, plain LaTeX, or prose ending in one."""
    text = text.strip()
    if _DELIMITED.search(text) or "\\boxed" in text:
        return _parse(text)
    bare = text.rstrip(_SENTENCE_END_MARKS).strip()
    if not bare or _is_prose(bare):
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
        if said and not _JUDGEMENT.match(said):
            return said
    return None


def _masked(region: str) -> str:
    """The region with its fenced blocks (code, a program's output) blanked, positions kept."""
    return _FENCED.sub(lambda m: " " * len(m.group()), region) if "```" in region else region


def _json_answer(region: str) -> str | None:
    """The ``answer`` field of the JSON object the region ends with, if any."""
    if not _JSON_TAIL.search(region[-50:]):
        return None
    matches = list(_JSON_ANSWER.finditer(region[-_TAIL_CHARS:]))
    found = matches[-1] if matches else None
    if found is None:
        return None
    if found.group(2) is not None:
        return found.group(2)
    value = re.sub(r'\\(["\\/])', r"\1", found.group(1)).strip()
    return value or None


def _is_blank(content: str) -> bool:
    return not _BLANK.sub("", content)


def _candidates(region: str, answer_tags: bool) -> tuple[list[str], str]:
    """The answer's candidate texts (all must agree, or make up the gold's parts) and how
    they were found. Boxes in code blocks count only when there is no other box."""
    json_answer = _json_answer(region)
    if json_answer is not None:
        return [json_answer], "json"
    masked = _masked(region)
    boxes = _boxes(masked) or _boxes(region)
    sentence = _final_sentence(masked, boxes[-1][1] if boxes else 0)
    if sentence is not None:
        return [sentence], "sentence"
    contents = [c.strip() for _, _, c in boxes if not _is_blank(c)]
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


def _percent_number(parsed: list[Any]) -> Any | None:
    """The number of a percent answer (``35.0`` of ``35.0\\%``), or None when it is none."""
    import sympy

    value = parsed[0] if parsed else None
    if isinstance(value, sympy.Mul) and len(value.args) == 2:
        number, scale = value.args
        if scale == sympy.UnevaluatedExpr(sympy.Rational(1, 100)) and isinstance(number, sympy.Number):
            return number
    return None


_CONGRUENCE = re.compile(
    r"^(?:[A-Za-z](?:_\{?\w+\}?)?\s*)?\\equiv\s*(?P<residue>.+?)\s*"
    r"(?:\\pmod\s*\{[^{}]+\}|\\(?:bmod|mod)\s*\{?\s*\w+\s*\}?|\(\s*\\?(?:bmod|mod)\s*\{?\w+\}?\s*\))\s*$"
)
_CHAIN_SIDE = re.compile(r"(?<![<>\\!])=(?!=)")


def _answer_part(piece: str, gold: str) -> str:
    """What of a candidate is the answer: the residue of ``n \\equiv 5 \\pmod{17}`` (when the
    gold is no congruence), the last value of a chain ``a + b = 11 + 9 = 20``."""
    text = piece.strip()
    if "\\equiv" in text and "\\equiv" not in gold and "mod" not in gold:
        found = _CONGRUENCE.match(text)
        if found:
            return found.group("residue")
    # A list of equations (``x = 1, y = 2``) or displayed math is no single chain.
    plain = "\n" not in text and not any(
        m in text for m in ("$", "\\]", "\\)", "\\begin", ",", ";", "\\quad", " and ")
    )
    if plain and text.count("=") >= 2 and not _is_prose(text):
        sides = [side.strip() for side in _CHAIN_SIDE.split(_braces_free(text))]
        if len(sides) >= 3 and sides[-1] and _balanced(sides[-1]):
            return text[len(text) - len(sides[-1]) :] if text.endswith(sides[-1]) else sides[-1]
    return piece


def _braces_free(text: str) -> str:
    """``text`` with every ``=`` inside braces hidden, so only top-level sides split."""
    out, depth = [], 0
    for ch in text:
        depth += (ch == "{") - (ch == "}")
        out.append("\x00" if ch == "=" and depth > 0 else ch)
    return "".join(out)


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            return False
    return depth == 0


def _joined(pieces: list[str], gold: tuple[Any, ...]) -> list[list[Any]]:
    """The readings of several candidates taken together as one multi-part answer."""
    import sympy

    readings = [_parse(", ".join(f"\\boxed{{{p}}}" for p in pieces))]
    if isinstance(gold[0], sympy.Tuple | tuple):
        readings.append(_parse(f"$({', '.join(pieces)})$"))
    return [r for r in readings if r]


def verify(extracted: Extracted, label: MathLabel, options: RewardOptions) -> Outcome:
    region = extracted.answer_region
    if not region.strip():
        return Outcome(score=0.0, parsed=False, reason="no answer outside the think block")
    pieces, how = _candidates(region, extracted.answer_tags)
    details: dict[str, Any] = {"read": how, "boxed": how == "boxed"}
    if not pieces:
        return Outcome(score=0.0, parsed=False, reason="empty \\boxed{}", details=details)
    # A full stop closing a candidate (``\\boxed{-\\frac{5}{3}.}``) ends a sentence, as in gold answers.
    distinct = list(dict.fromkeys(p.rstrip(_SENTENCE_END_MARKS) or p for p in pieces))
    if how != "text" or not _is_prose(distinct[-1]):
        distinct = list(dict.fromkeys(_answer_part(p, label.answer) for p in distinct))
    if len(distinct) > _MAX_COMPARED:
        return Outcome(score=0.0, reason=f"hedging: {len(distinct)} different answers", details=details)
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
                    return Outcome(score=1.0, details=details)
            return Outcome(
                score=0.0,
                reason=f"hedging: {len(distinct)} {how} answers that disagree",
                details={**details, "answers": len(distinct)},
            )
    if not pred:
        return Outcome(score=0.0, parsed=False, reason="no parseable math answer", details=details)
    correct = _equal(gold, pred, options)
    percent = None if correct else _percent_number(pred)
    if percent is not None and "%" not in label.answer:  # 35.0\% for a gold 35, as math-verify takes 35\%
        correct = _equal(gold, [percent], options)
    details["extracted"] = str(pred[-1])[:200]
    return Outcome(score=1.0 if correct else 0.0, details=details)
