"""How a code problem's outputs are judged, read from what its dataset says.

A statement that accepts real numbers "with an absolute or relative error of at most
10^{-6}" gets that tolerance in its label (``float_tolerance`` and ``float_rule``), so a
right program that prints other digits is not scored wrong. A dataset row that ships a
checker (a ``checker`` beside its tests) gets it carried into the label. Problems that
accept any of several answers ("if there are multiple answers, print any of them") but
ship no checker cannot be judged right by comparing outputs; they are counted
(:func:`accepts_any_answer`) so a report can say how many there are.
"""

from __future__ import annotations

import re
from typing import Any

_ERROR = re.compile(r"\b(absolute|relative)\b(?:[^.\n]|\.\d){0,60}?\berrors?\b", re.I)
_EPS = (
    # 2\cdot 10^{-4} before 10^{-4} alone
    (re.compile(r"\b(\d(?:\.\d+)?)\s*(?:\\cdot|\\times|·|×|\*)\s*10\s*\^\s*\{?\s*[-−]\s*(\d{1,2})"),
     lambda m: float(m.group(1)) * 10.0 ** -int(m.group(2))),
    # 10^{-6}, 10^-6, $10^{ - 6}$, 10 - 6 (a superscript lost with the markup), 10−6
    (re.compile(r"\b10\s*(?:\^|\*\*)?\s*\{?\s*\(?\s*[-−‐]\s*(\d{1,2})\s*\)?\s*\}?"), lambda m: 10.0 ** -int(m.group(1))),
    # 1e-6, 1.5E-9, 2\cdot 10^{-4}
    (re.compile(r"\b(\d(?:\.\d+)?)\s*[eE]\s*[-−]\s*(\d{1,2})\b"), lambda m: float(m.group(1)) * 10.0 ** -int(m.group(2))),
    # 0.000001
    (re.compile(r"\b0\.(0*[1-9])\b"), lambda m: float("0." + m.group(1))),
)  # fmt: skip
DEFAULT_EPS = 1e-6
"""When a statement names the rule but its number is lost (rendered as an image, say)."""

_ANY_ANSWER = re.compile(
    r"(?:multiple|several|many|more than one)\s+(?:possible\s+|correct\s+|valid\s+|optimal\s+|such\s+)*"
    r"(?:answers?|solutions?|ways|arrays|sequences|sets)[^.\n]{0,60}?\b(?:print|output|return|choose)\s+any"
    r"|answer is not unique"
    r"|any of them (?:is|will be) accepted"
    r"|(?:print|output|return) any (?:one )?of them",
    re.I,
)


def tolerance_from_statement(text: str) -> dict[str, Any] | None:
    """``float_tolerance`` and ``float_rule`` for a statement that accepts real numbers
    within an error, else None. "Absolute or relative" (or relative alone) is the rule
    ``|got - expected| <= eps * max(1, |expected|)``; absolute alone is ``|got - expected| <= eps``."""
    found = _ERROR.search(text or "")
    if found is None:
        return None
    sentence = text[max(0, found.start() - 80) : found.end() + 120]
    kinds = {word.lower() for word in re.findall(r"\b(absolute|relative)\b", sentence, re.I)}
    eps = None
    for pattern, value in _EPS:
        number = pattern.search(text, max(0, found.start() - 60), found.end() + 120)
        if number is not None:
            eps = value(number)
            break
    if eps is None or not 0 < eps < 1:
        eps = DEFAULT_EPS
    eps = float(f"{eps:.6g}")  # 1.5e-05, not 1.5000000000000002e-05
    rule = "absolute" if kinds == {"absolute"} else "abs_or_rel"
    return {"float_tolerance": eps, "float_rule": rule}


def accepts_any_answer(text: str) -> bool:
    """Whether a statement accepts any of several right outputs."""
    return bool(_ANY_ANSWER.search(text or ""))


def checker_from(source: dict[str, Any]) -> dict[str, Any] | None:
    """A checker a dataset row ships (``checker``: ``{"language", "source"}``, or C++
    source alone, testlib's form), as the label's field; None when there is none."""
    checker = source.get("checker")
    if isinstance(checker, str) and checker.strip():
        return {"language": "cpp", "source": checker}
    if isinstance(checker, dict) and isinstance(checker.get("source"), str) and checker["source"].strip():
        language = str(checker.get("language") or "cpp").lower()
        language = {"c++": "cpp", "testlib": "cpp", "py": "python", "python3": "python"}.get(
            language, language
        )
        return {"language": language, "source": checker["source"]}
    return None
