"""Comparing what a program gave with what a test expects, in the trusted parent."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

FloatRule = Literal["isclose", "abs_or_rel", "absolute"]
_REAL = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
"""A token that is a real number as problem statements mean it (not Python's "inf",
"nan" or "1_000")."""


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far numeric tokens may be from the expected ones.

    ``isclose``: within ``eps`` absolutely or relatively to either token (math.isclose).
    ``abs_or_rel``: the rule of problem statements that accept "absolute or relative error
    at most eps": ``|got - expected| <= eps * max(1, |expected|)``, for tokens that are
    real numbers; other tokens must be equal. ``absolute``: ``|got - expected| <= eps``,
    for statements that accept an absolute error alone."""

    eps: float
    rule: FloatRule = "isclose"


def _lines(text: str) -> list[str]:
    """Non-blank lines with their white space folded: the tests' own checkers (APPS, TACO)
    compare tokens, and datasets pad expected outputs (" 0" and "0" for the same input)."""
    return [" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def _tokens_match(got: str, expected: str, tolerance: Tolerance) -> bool:
    if got == expected:
        return True
    if tolerance.rule != "isclose":
        if not (_REAL.fullmatch(got) and _REAL.fullmatch(expected)):
            return False
        a, b = float(got), float(expected)
        if math.isinf(a) or math.isinf(b):  # digits past a double's range
            return a == b
        scale = max(1.0, abs(b)) if tolerance.rule == "abs_or_rel" else 1.0
        return abs(a - b) <= tolerance.eps * scale * (1 + 1e-12)
    try:
        a, b = float(got), float(expected)
    except ValueError:
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=tolerance.eps, abs_tol=tolerance.eps)


def outputs_match(got: str, expected: str, float_tolerance: float | Tolerance | None = None) -> bool:
    """stdout against the expected text, line by line: blank lines and the white space
    around and between tokens ignored; with a tolerance, numeric tokens may differ by
    that much (a bare number: absolute or relative to either token, :class:`Tolerance`)."""
    got_lines, expected_lines = _lines(got), _lines(expected)
    if got_lines == expected_lines:
        return True
    if float_tolerance is None or len(got_lines) != len(expected_lines):
        return False
    if not isinstance(float_tolerance, Tolerance):
        float_tolerance = Tolerance(float(float_tolerance))
    for g, e in zip(got_lines, expected_lines, strict=True):
        g_tokens, e_tokens = g.split(), e.split()
        if len(g_tokens) != len(e_tokens):
            return False
        if not all(_tokens_match(a, b, float_tolerance) for a, b in zip(g_tokens, e_tokens, strict=True)):
            return False
    return True


def values_match(got: Any, expected: Any, tolerance: float = 1e-9) -> bool:
    """Plain data against JSON-decoded expected data (tuples already lists)."""
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(got) is type(expected) and got == expected
    if isinstance(expected, int | float) and isinstance(got, int | float):
        if isinstance(expected, int) and isinstance(got, int):
            return got == expected
        if math.isnan(float(got)) or math.isnan(float(expected)):
            return math.isnan(float(got)) and math.isnan(float(expected))
        return math.isclose(float(got), float(expected), rel_tol=tolerance, abs_tol=tolerance)
    if isinstance(expected, list) and isinstance(got, list):
        return len(got) == len(expected) and all(values_match(g, e, tolerance) for g, e in zip(got, expected, strict=True))
    if isinstance(expected, dict) and isinstance(got, dict):
        return got.keys() == expected.keys() and all(values_match(got[k], expected[k], tolerance) for k in expected)
    return type(got) is type(expected) and got == expected


def call_result_matches(got: Any, expected: Any, tolerance: float = 1e-9) -> bool:
    # TACO/APPS store a call's expected return value wrapped in a one-element list.
    if values_match(got, expected, tolerance):
        return True
    return isinstance(expected, list) and len(expected) == 1 and values_match(got, expected[0], tolerance)
