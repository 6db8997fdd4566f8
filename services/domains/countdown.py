"""CountDown: reach the target with every given number used exactly once.

The equation is read with Python's ``ast`` parser and evaluated by walking the tree
with exact fractions: only integer literals, ``+ - * /``, unary minus and parentheses
are accepted (no ``**``, no ``//``, no names, no calls), so nothing is ever ``eval``-ed.
Its size is bounded before parsing, and division by zero is a wrong answer.

Where the answer is, and how a chain of steps is judged (``10 - 4 = 6``, ``6 * 5 = 30``,
``30 - 6 = 24``): :mod:`services.domains.countdown_chain`. A label with ``"steps": false``
accepts one expression only.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from fractions import Fraction
from typing import Any, Literal

from pydantic import Field

from services.core import DomainLabel, VerifierOutcome
from services.domains import countdown_chain as chain
from services.extraction import Extracted
from services.rewards import RewardOptions


class CountdownLabel(DomainLabel):
    domain: Literal["countdown"]
    target: int
    numbers: list[int] = Field(min_length=1, max_length=16)
    steps: bool = True
    """Accept a chain of steps (``10 - 4 = 6``, ``6 * 5 = 30``, ...) that together use every
    number once; ``false`` keeps the stricter rule of one expression only."""


Label = CountdownLabel

MAX_EQUATION_CHARS = 400
MAX_NODES = 200
MAX_DEPTH = 40

_ALLOWED_CHARS = re.compile(r"^[\d+\-*/().\s]+$")


class EquationError(ValueError):
    """The equation breaks the rules; the message says which."""


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


def verify(extracted: Extracted, label: CountdownLabel, options: RewardOptions) -> VerifierOutcome:
    region = extracted.answer_region
    if not region.strip():
        return VerifierOutcome(score=0.0, parsed=False, reason="no answer outside the think block")
    lines = chain.answer_lines(region)
    if not lines:
        last = [ln.strip() for ln in region.strip().splitlines() if ln.strip()]
        return _judge_expression(last[-1] if last else "", label)
    end = chain.final_index(lines)
    single = _judge_expression(chain.expression_side(lines[end].text), label)
    if single.score == 1.0 or not label.steps:
        return single
    steps = chain.chain_before(lines, end)
    # A chain of one step is the expression judged above.
    if len(steps) < 2:
        return single
    details: dict[str, Any] = {"steps": [f"{e} = {v}" for e, v in steps][:20]}
    try:
        value = chain.check_chain(steps, label.numbers, label.target, evaluate_equation)
    except (EquationError, ZeroDivisionError, RecursionError) as exc:
        return _unevaluated(exc, details)
    except chain.ChainError as exc:
        return VerifierOutcome(score=0.0, reason=str(exc), details=details)
    details["value"] = str(value)
    return VerifierOutcome(score=1.0, details=details)


def _judge_expression(equation: str, label: CountdownLabel) -> VerifierOutcome:
    """One expression that must use every given number exactly once and give the target."""
    details: dict[str, Any] = {"equation": equation[:200]}
    try:
        value, used = evaluate_equation(equation)
    except (EquationError, ZeroDivisionError, RecursionError) as exc:
        return _unevaluated(exc, details)
    if Counter(used) != Counter(label.numbers):
        return VerifierOutcome(
            score=0.0,
            reason=f"must use each of {sorted(label.numbers)} exactly once, used {sorted(used)}",
            details=details,
        )
    details["value"] = str(value)
    if value != label.target:
        return VerifierOutcome(score=0.0, reason=f"equation gives {value}, not {label.target}", details=details)
    return VerifierOutcome(score=1.0, details=details)


def _unevaluated(exc: Exception, details: dict[str, Any]) -> VerifierOutcome:
    """An equation that could not be evaluated: unreadable (not a parsed answer), or a
    readable one that divides by zero (a wrong answer)."""
    if isinstance(exc, ZeroDivisionError):
        return VerifierOutcome(score=0.0, reason="division by zero", details=details)
    reason = "equation nested too deeply" if isinstance(exc, RecursionError) else str(exc)
    return VerifierOutcome(score=0.0, parsed=False, reason=reason, details=details)
