"""How real model outputs state a math answer, read before math-verify sees it.

:mod:`services.domains.math` finds the candidates (a final-answer sentence, boxes,
delimited math, the text); this module holds what that reading needs to tell an answer
from what only looks like one:

- a box left blank for the reader (``\\boxed{\\phantom{2}}``: the problem's own blank,
  copied) and boxes built in fenced blocks (code, a program's printed output);
- a sentence that judges or points at an answer ("our answer is correct", "the final
  answer is clearly highlighted") rather than giving one;
- the ``answer`` field of a JSON object that ends the region;
- of a candidate, the part that is the answer: the last value of a chain of equalities
  (``a + b + c = 11 + 9 + 0 = 20``), the residue of a congruence
  (``n \\equiv 5 \\pmod{17}``), the number of an ordinal (``12^{\\text{th}}``), with
  ``√`` and ``π`` written as LaTeX;
- the number of a percent (``35.0\\%`` is 35 for a gold of 35, as math-verify takes
  ``35\\%``).
"""

from __future__ import annotations

import re
from typing import Any

_STYLE_COMMAND = re.compile(r"\\(?:text|textbf|mathrm|mathbf|operatorname|mbox)\s*\{[^{}]*\}")
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
_PROSE_WORDS = 3
"""A plain answer with this many words outside LaTeX commands is prose, not an expression."""

_FENCED = re.compile(r"```.*?```", re.DOTALL)
"""A code block or a program's printed output: a box built there is no answer of the model's."""
_BLANK = re.compile(
    r"\\(?:[hv]?phantom|[hv]space\*?)\s*\{[^{}]*\}"
    r"|\\(?:quad|qquad|square|Box|ldots|dots|cdots|underline|text|mathrm)\b"
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
_MATH_SIGN = re.compile(r"[\d\\$=+*/^_(){}\[\]<>|-]")
_CONGRUENCE = re.compile(
    r"^(?:[A-Za-z](?:_\{?\w+\}?)?\s*)?\\equiv\s*(?P<residue>.+?)\s*"
    r"(?:\\pmod\s*\{[^{}]+\}|\\(?:bmod|mod)\s*\{?\s*\w+\s*\}?|\(\s*\\?(?:bmod|mod)\s*\{?\w+\}?\s*\))\s*$"
)
_CHAIN_SIDE = re.compile(r"(?<![<>\\!])=(?!=)")
_ORDINAL = re.compile(r"(\d)\s*\^\s*\{?\s*(?:\\(?:text|mathrm)\s*\{\s*)?(?:st|nd|rd|th)\s*\}?\s*\}?")
_ROOT = re.compile(r"√\s*(\d+(?:\.\d+)?|[A-Za-z]|\([^()]*\)|\{[^{}]*\})")
_PARAGRAPH = re.compile(r"\n\s*\n")
_CONCLUDES = re.compile(
    r"^\W*(?:therefore|thus|so|hence|finally|in conclusion|in summary|consequently)\b|\banswer\b",
    re.IGNORECASE,
)
_CLOSING_CHARS = 400


def is_prose(text: str) -> bool:
    return len(_WORD.findall(_STYLE_COMMAND.sub(" ", text))) >= _PROSE_WORDS


def masked(region: str) -> str:
    """The region with its fenced blocks (code, a program's output) blanked, positions kept."""
    return _FENCED.sub(lambda m: " " * len(m.group()), region) if "```" in region else region


def is_blank(content: str) -> bool:
    """Whether a box holds nothing but a blank for the reader."""
    return not _BLANK.sub("", content)


def is_commentary(said: str, after_a_box: bool) -> bool:
    """Whether what a final-answer sentence says is about the answer, not one: a judgement
    ("correct"), or, after a box, words with no math at all ("clearly highlighted")."""
    if _JUDGEMENT.match(said):
        return True
    return after_a_box and not _MATH_SIGN.search(said) and len(said.split()) >= 2


def json_answer(region: str, tail_chars: int) -> str | None:
    """The ``answer`` field of the JSON object the region ends with, if any."""
    if not _JSON_TAIL.search(region[-50:]):
        return None
    matches = list(_JSON_ANSWER.finditer(region[-tail_chars:]))
    if not matches:
        return None
    found = matches[-1]
    if found.group(2) is not None:
        return found.group(2)
    value = re.sub(r'\\(["\\/])', r"\1", found.group(1)).strip()
    return value or None


def last_paragraph(text: str) -> str | None:
    """The closing paragraph of a reply that never states its answer in a set phrase, when
    it concludes ("Therefore, the sum is 20.", "... 44 is the correct answer."): where such
    a reply ends on its answer."""
    parts = [p for p in _PARAGRAPH.split(text.strip()) if p.strip()]
    if len(parts) < 2:
        return None
    last = parts[-1].strip()
    if len(last) > _CLOSING_CHARS or not _CONCLUDES.search(last):
        return None
    return last


def answer_part(piece: str, gold: str) -> str:
    """What of a candidate is the answer: the residue of ``n \\equiv 5 \\pmod{17}`` (when the
    gold is no congruence), the last value of a chain ``a + b = 11 + 9 = 20``, the number
    of an ordinal; ``√`` and ``π`` as LaTeX."""
    text = piece.strip()
    if "√" in text or "π" in text:
        text = _ROOT.sub(lambda m: "\\sqrt{" + m.group(1).strip("{}") + "}", text).replace("π", "\\pi ")
    text = _ORDINAL.sub(r"\1", text)
    if "\\equiv" in text and "\\equiv" not in gold and "mod" not in gold:
        found = _CONGRUENCE.match(text)
        if found:
            return found.group("residue")
    # A list of equations (``x = 1, y = 2``) or displayed math is no single chain.
    plain = "\n" not in text and not any(
        m in text for m in ("$", "\\]", "\\)", "\\begin", ",", ";", "\\quad", " and ")
    )
    if plain and text.count("=") >= 2 and not is_prose(text):
        sides = [side.strip() for side in _CHAIN_SIDE.split(_braces_free(text))]
        if len(sides) >= 3 and sides[-1] and _balanced(sides[-1]):
            return text[len(text) - len(sides[-1]) :] if text.endswith(sides[-1]) else sides[-1]
    return text if text != piece.strip() else piece


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


def percent_number(parsed: list[Any]) -> Any | None:
    """The number of a percent answer (``35.0`` of ``35.0\\%``), or None when it is none."""
    import sympy

    value = parsed[0] if parsed else None
    if isinstance(value, sympy.Mul) and len(value.args) == 2:
        number, scale = value.args
        if scale == sympy.UnevaluatedExpr(sympy.Rational(1, 100)) and isinstance(number, sympy.Number):
            return number
    return None
