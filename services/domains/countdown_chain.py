"""Finding a CountDown answer in what a model writes, and checking a chain of steps.

Models answer CountDown in two ways: one expression (``(10 - 4) * 5 - 6 = 24``) or a chain
of steps, one operation a line, the way Game-of-24 prompts ask
(``10 - 4 = 6 (left: 5 6 6)`` ... ``30 - 6 = 24``). The text is cut into lines *before*
any ``=`` is read, so a step's result never stands in for the whole answer.

The final equation is the last line labelled as the answer (``Answer:``, ``Final answer:``),
else the last line that holds one. A chain is the run of step lines (``expr = value``)
that ends at it. It is right when every step's arithmetic is exact (fractions), every
number a step uses is available (each given number once, each earlier result once), the
last step gives the target and nothing is left unused: together the steps are one
expression that uses every given number exactly once, which is the domain's rule.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from services.domains.math import boxed_answers

_SYMBOLS = {
    "\\times": "*",
    "\\cdot": "*",
    "\\div": "/",
    "×": "*",
    "·": "*",
    "÷": "/",
    "−": "-",
    "–": "-",
    "\\left": "",
    "\\right": "",
    "\\boxed": "",
    "\\fbox": "",
    "$": "",
    "\\(": "",
    "\\)": "",
    "\\[": "",
    "\\]": "",
}
_EQUATION_LINE = re.compile(r"^[\d+\-*/().\s=]+$")
_LABEL = re.compile(
    r"^\s*(?:(?:so|thus|therefore|hence)\s*,?\s*)?(?:the\s+)?"
    r"(?:(?:final\s+)?answer(?:\s+is)?|(?:final\s+)?(?:equation|expression|solution)(?:\s+is)?|step\s*\d+)"
    r"\s*[:.=-]?\s*",
    re.IGNORECASE,
)
_ANSWER_LABEL = re.compile(
    r"^\s*(?:(?:so|thus|therefore|hence)\s*,?\s*)?(?:the\s+)?(?:final\s+)?answer\b", re.I
)
_LIST_MARK = re.compile(r"^\s*(?:[-*•]\s+|\d+[.)]\s+)")
_ANNOTATION = re.compile(
    r"\(\s*(?:left|remaining|numbers?\s+left|rest)\b[^)]*\)|\b(?:left|remaining)\s*:.*$", re.I
)
_BOLD = re.compile(r"^[ \t]*\*\*|\*\*[ \t]*$|(?<=[A-Za-z:])\*\*|\*\*(?=[A-Za-z])", re.MULTILINE)
_RUN = re.compile(r"[\d+\-*/().\s=]+")
_OPERATION = re.compile(r"[\d)]\s*[+\-*/]\s*[\d(-]")
_VALUE = re.compile(r"^\s*-?\d+(?:\.\d+)?\s*$")


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the answer that holds math."""

    text: str
    """The math, labels and annotations removed."""
    labelled: bool
    """Written as the answer (``Answer: ...``)."""


def _normalise(text: str) -> str:
    for symbol, replacement in _SYMBOLS.items():
        text = text.replace(symbol, replacement)
    text = text.replace("{", "(").replace("}", ")").replace("`", "")
    # Markdown bold around a label is presentation; a power (``6**4``) is left to be refused.
    return _BOLD.sub(" ", text)


def _math_of(line: str) -> str | None:
    """The math a line holds: the whole line once labels, list marks and annotations are
    gone, else the last stretch of it made only of numbers, operators and ``=``."""
    line = _ANNOTATION.sub("", line)
    line = _LIST_MARK.sub("", line, count=1)
    for _ in range(2):
        line = _LABEL.sub("", line, count=1)
    line = line.strip().rstrip(".,;").strip()
    if not line:
        return None
    if _EQUATION_LINE.match(line):
        return line if re.search(r"\d", line) else None
    # An equation inside a sentence: the run must stand apart from words on both sides.
    found = None
    for match in _RUN.finditer(line):
        run = match.group().strip().rstrip(".").strip()
        before = line[: match.start()][-1:]
        after = line[match.end() :][:1]
        if before.isalnum() or (before and before in "_.") or after.isalnum() or after == "_":
            continue
        if re.match(r"^[\d(-]", run) and _OPERATION.search(run) and run[-1] in "0123456789)":
            found = run
    return found


def answer_lines(region: str) -> list[Line]:
    """The lines of the answer that hold math, in order; a boxed answer alone when there
    is a box holding an operation."""
    boxes = [b for b in boxed_answers(region) if re.search(r"[+\-*/×÷·−]|\\(?:times|cdot|div)", b)]
    text = boxes[-1] if boxes else region
    lines = []
    for raw in _normalise(text).splitlines():
        math = _math_of(raw)
        # A line with no operation ("The answer is 24.") restates the target: no equation.
        if math is not None and _OPERATION.search(math):
            lines.append(Line(math, bool(_ANSWER_LABEL.match(raw.replace("*", "")))))
    return lines


def final_index(lines: list[Line]) -> int:
    """Which line is the final equation: the last labelled as the answer, else the last."""
    labelled = [i for i, line in enumerate(lines) if line.labelled]
    return labelled[-1] if labelled else len(lines) - 1


def expression_side(equation: str) -> str:
    """The side of ``expr = value`` (or ``value = expr``) that is the expression."""
    if "=" not in equation:
        return equation
    sides = [s.strip() for s in equation.split("=") if s.strip()]
    expressions = [s for s in sides if _OPERATION.search(s)]
    return expressions[0] if expressions else (sides[0] if sides else "")


def as_step(equation: str) -> tuple[str, Fraction] | None:
    """``expr = value`` as (expr, value), or None when the line is not one step."""
    sides = [s.strip() for s in equation.split("=")]
    if len(sides) != 2 or not all(sides):
        return None
    left, right = sides
    if _VALUE.match(left) and not _VALUE.match(right):
        left, right = right, left
    if not _VALUE.match(right) or _VALUE.match(left):
        return None
    try:
        return left, Fraction(right.replace(" ", ""))
    except (ValueError, ZeroDivisionError):
        return None


def chain_before(lines: list[Line], end: int) -> list[tuple[str, Fraction]]:
    """The run of step lines that ends at line ``end`` (empty when that line is no step)."""
    steps: list[tuple[str, Fraction]] = []
    i = end
    while i >= 0:
        step = as_step(lines[i].text)
        if step is None or (i != end and lines[i].labelled):
            break
        steps.append(step)
        i -= 1
    return steps[::-1]


class ChainError(ValueError):
    """A chain that breaks the rules (the message says which step and how)."""


def check_chain(
    steps: list[tuple[str, Fraction]],
    numbers: list[int],
    target: int,
    evaluate: Callable[[str], tuple[Fraction, list[int]]],
) -> Fraction:
    """The value the chain ends on, or :class:`ChainError` saying what is wrong with it.

    ``evaluate`` is the domain's exact evaluator (expression -> value, literals used)."""
    available = Counter(Fraction(n) for n in numbers)
    for k, (expression, stated) in enumerate(steps, 1):
        value, used = evaluate(expression)
        if value != stated:
            raise ChainError(f"step {k}: {expression} is {value}, not {stated}")
        for literal in used:
            if available[Fraction(literal)] <= 0:
                raise ChainError(
                    f"step {k} uses {literal}, which is not available "
                    "(each given number and each earlier result once)"
                )
            available[Fraction(literal)] -= 1
        available[stated] += 1
    last = steps[-1][1]
    if last != target:
        raise ChainError(f"the last step gives {last}, not {target}")
    available[last] -= 1
    unused = sorted(str(v) for v, n in available.items() for _ in range(n))
    if unused:
        raise ChainError(f"must use each of {sorted(numbers)} exactly once; never used: {', '.join(unused)}")
    return last
