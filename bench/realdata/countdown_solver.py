"""A CountDown solver for the real-data checks: the data gives targets, not equations."""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from itertools import combinations


@cache
def _reachable(numbers: tuple[int, ...]) -> dict[Fraction, str]:
    """Every value an expression using each of ``numbers`` exactly once reaches, with one such expression."""
    if len(numbers) == 1:
        return {Fraction(numbers[0]): str(numbers[0])}
    found: dict[Fraction, str] = {}
    indices = range(len(numbers))
    for size in range(1, len(numbers) // 2 + 1):
        for left_indices in combinations(indices, size):
            right_indices = tuple(i for i in indices if i not in left_indices)
            if size * 2 == len(numbers) and left_indices > right_indices:
                continue
            left = _reachable(tuple(sorted(numbers[i] for i in left_indices)))
            right = _reachable(tuple(sorted(numbers[i] for i in right_indices)))
            for a, ea in left.items():
                for b, eb in right.items():
                    found.setdefault(a + b, f"({ea} + {eb})")
                    found.setdefault(a * b, f"({ea} * {eb})")
                    found.setdefault(a - b, f"({ea} - {eb})")
                    found.setdefault(b - a, f"({eb} - {ea})")
                    if b:
                        found.setdefault(a / b, f"({ea} / {eb})")
                    if a:
                        found.setdefault(b / a, f"({eb} / {ea})")
    return found


def solve(numbers: list[int], target: int) -> str | None:
    """An equation using every number once that equals ``target``, or None."""
    expression = _reachable(tuple(sorted(numbers))).get(Fraction(target))
    if expression is None:
        return None
    return expression[1:-1] if expression.startswith("(") and expression.endswith(")") else expression
