"""CountDown: reach the target with every given number used exactly once.

The equation is read with Python's ``ast`` parser and evaluated by walking the tree
with exact fractions: only integer literals, ``+ - * /``, unary minus and parentheses
are accepted (no ``**``, no ``//``, no names, no calls), so nothing is ever ``eval``-ed.
Its size is bounded before parsing, and division by zero is a wrong answer.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from fractions import Fraction
from typing import Any, Literal

from pydantic import Field

from services.core import DomainLabel, Outcome
from services.domains.math import boxed_answers
from services.extraction import Extracted
from services.rewards import RewardOptions


class CountdownLabel(DomainLabel):
    domain: Literal["countdown"]
    target: int
    numbers: list[int] = Field(min_length=1, max_length=16)


Label = CountdownLabel

MAX_EQUATION_CHARS = 400
MAX_NODES = 200
MAX_DEPTH = 40

_SYMBOLS = {
    "\\times": "*",
    "\\cdot": "*",
    "\\div": "/",
    "×": "*",
    "·": "*",
    "÷": "/",
    "−": "-",
    "\\left": "",
    "\\right": "",
    "$": "",
}
_ALLOWED_CHARS = re.compile(r"^[\d+\-*/().\s]+$")


class EquationError(ValueError):
    """The equation breaks the rules; the message says which."""


def _candidate_equation(region: str) -> str:
    boxes = boxed_answers(region)
    text = boxes[-1] if boxes else region
    for symbol, replacement in _SYMBOLS.items():
        text = text.replace(symbol, replacement)
    text = text.replace("{", "(").replace("}", ")")
    # "expr = 24" or "24 = expr": keep the side that is an expression.
    if "=" in text:
        sides = [s.strip() for s in text.split("=") if s.strip()]
        expressions = [s for s in sides if re.search(r"[+\-*/]", s)]
        text = expressions[0] if expressions else (sides[0] if sides else "")
    # A sentence around the equation: keep the last line that looks like one.
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for line in reversed(lines):
        if _ALLOWED_CHARS.match(line):
            return line
    return lines[-1] if lines else ""


def _evaluate(node: ast.AST, used: list[int]) -> Fraction:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, used)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        used.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _evaluate(node.operand, used)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult | ast.Div):
        left = _evaluate(node.left, used)
        right = _evaluate(node.right, used)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if right == 0:
            raise ZeroDivisionError
        return left / right
    if isinstance(node, ast.BinOp):
        raise EquationError(f"operator {type(node.op).__name__} is not allowed (only + - * /)")
    if isinstance(node, ast.Constant):
        raise EquationError(f"only whole numbers are allowed, got {node.value!r}")
    raise EquationError(f"{type(node).__name__} is not allowed (only numbers, + - * / and parentheses)")


def evaluate_equation(equation: str) -> tuple[Fraction, list[int]]:
    """Exact value of a CountDown equation and the numbers it uses."""
    if len(equation) > MAX_EQUATION_CHARS:
        raise EquationError(f"equation longer than {MAX_EQUATION_CHARS} characters")
    if "**" in equation or "//" in equation:
        raise EquationError("'**' and '//' are not allowed")
    if not _ALLOWED_CHARS.match(equation):
        raise EquationError("only digits, + - * / and parentheses are allowed")
    depth = deepest = 0
    for ch in equation:
        depth += (ch == "(") - (ch == ")")
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise EquationError(f"parentheses nested deeper than {MAX_DEPTH}")
    try:
        tree = ast.parse(equation.strip(), mode="eval")
    except (SyntaxError, ValueError) as exc:
        raise EquationError(f"not an equation: {exc.__class__.__name__}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise EquationError(f"equation has more than {MAX_NODES} parts")
    used: list[int] = []
    value = _evaluate(tree, used)
    return value, used


def verify(extracted: Extracted, label: CountdownLabel, options: RewardOptions) -> Outcome:
    region = extracted.answer_region
    if not region.strip():
        return Outcome(score=0.0, parsed=False, reason="no answer outside the think block")
    equation = _candidate_equation(region)
    details: dict[str, Any] = {"equation": equation[:200]}
    try:
        value, used = evaluate_equation(equation)
    except EquationError as exc:
        return Outcome(score=0.0, parsed=False, reason=str(exc), details=details)
    except ZeroDivisionError:
        return Outcome(score=0.0, reason="division by zero", details=details)
    except RecursionError:
        return Outcome(score=0.0, parsed=False, reason="equation nested too deeply", details=details)
    if Counter(used) != Counter(label.numbers):
        return Outcome(
            score=0.0,
            reason=f"must use each of {sorted(label.numbers)} exactly once, used {sorted(used)}",
            details=details,
        )
    details["value"] = str(value)
    if value != label.target:
        return Outcome(score=0.0, reason=f"equation gives {value}, not {label.target}", details=details)
    return Outcome(score=1.0, details=details)
