"""A screen for math answers too large to evaluate, run before any parsing.

``5^{5^{5^{5^5}}}``, ``9**9**9``, ``10!!!!`` or ``(10^{10^{10}})!`` are legal answers
whose exact value has astronomically many digits. sympy evaluates integer powers and
factorials eagerly, so math-verify never finishes them, and a verifier process is held
until the backend kills it at the item's limit. This module reads the numeric part of an
answer on its own small grammar (integers, decimals, ``^``, ``**``, ``!``, products,
sums, ``\\frac``, ``\\binom``, groups; anything else is opaque) and bounds every value
by logs, never computing a large number: ``log10 |a^b| = b * log10 |a|``, ``log10 n!``
from ``lgamma``.

A power or factorial of exact numbers whose value would have more than
:data:`MAX_DIGITS` digits (or whose reciprocal would) is *costly*: the verifier would
have to build it. Normal answers (``2^{10}``, ``2005!``, ``10^{-3}``) are far below that
bound, and an answer without a costly part is left to the verifier untouched. When the
gold or a candidate has one, :func:`judge` answers without parsing either:

- a candidate whose whole value is read here and whose size (``log10 |value|``) cannot
  meet the gold's is ``wrong``: a number with a billion digits is not ``2``;
- a candidate that holds a costly part but cannot be compared (inside a larger
  expression, or ``10!!!!``, which reads as nested factorials or as a multifactorial,
  when the gold is near the smaller reading) is ``timeout``: what the verifier would
  have reached at its limit, in milliseconds, and never a reward;
- a gold answer with a costly part is compared by its shape: the same expression
  (``9^{9^{9}}`` and ``9**9**9`` are one shape) is ``correct``, an answer whose size
  cannot meet it is ``wrong``, and anything else is ``error`` naming the gold.

Where the gold is no number read here (``x^2+1``, ``(1, 2)``, ``\\text{Evelyn}``) and
has no costly part, its value is taken to have fewer than :data:`MAX_DIGITS` digits.

``REWARD_MATH_SCREEN=0`` turns the screen off (every answer goes to the verifier), for
comparisons.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from services.core import Verdict, VerifierOutcome

MAX_DIGITS = 1_000_000.0
"""Past this many digits an exact power or factorial is costly; math-verify settles
``10^{10^{6}}`` or ``100000!`` in well under a second, and no answer of a real data set
comes near."""
_EXACT_DIGITS = 2000
"""Values up to this many digits are carried exactly (so ``2^{10}-1`` stays 1023)."""
_EXACT_LIMIT = Fraction(10) ** _EXACT_DIGITS
_MAX_DEPTH = 60
_LN10 = math.log(10)

_NOT_LETTER = r"(?![A-Za-z])"
_TOKEN = re.compile(
    rf"(?P<num>\d+(?:\.\d+)?|\.\d+)|(?P<pow>\*\*|\^)|(?P<bang>!)|(?P<open>[{{(\[])|(?P<close>[}})\]])"
    rf"|(?P<mul>\*|\\(?:cdot|times){_NOT_LETTER})|(?P<div>/|\\div{_NOT_LETTER})|(?P<add>[+-])"
    rf"|(?P<frac>\\[dt]?frac{_NOT_LETTER})|(?P<binom>\\[dt]?binom{_NOT_LETTER})|(?P<eq>=)"
    rf"|(?P<skip>\s+|\$|\\[()\[\]]|\\(?:left|right|[bB]igg?[lr]?){_NOT_LETTER}|\\[,;:! ]|~)"
    rf"|(?P<cmd>\\[A-Za-z]+|\\.)|(?P<other>.)",
    re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Size:
    """Bounds on ``log10 |value|`` over the readings of a number (``-inf``: zero)."""

    lo: float
    hi: float
    negative: bool | None = False
    exact: Fraction | None = None
    rational: bool = True
    """Built from exact numbers only: sympy would compute it exactly."""


def _size_of(value: Fraction, rational: bool = True) -> Size:
    if value == 0:
        return Size(-math.inf, -math.inf, False, value, rational)
    log = math.log10(abs(value.numerator)) - math.log10(value.denominator)
    return Size(log, log, value < 0, value, rational)


def _pow10(log: float) -> float:
    try:
        return 10.0**log
    except OverflowError:
        return math.inf


def _times(x: float, y: float) -> float:
    return 0.0 if x == 0 or y == 0 else x * y


def _log_factorial(n: float) -> float:
    if n < 1:
        return 0.0
    if n < 1e15:
        return math.lgamma(n + 1) / _LN10
    if n == math.inf:
        return math.inf
    return n * (math.log10(n) - 1 / _LN10) + 0.5 * math.log10(2 * math.pi * n)  # Stirling


def _log_multifactorial_floor(n: float, k: int) -> float:
    """A lower bound of ``log10`` of n(n-k)(n-2k)...: each factor is at least k(m-i)."""
    m = math.floor(n / k) if n != math.inf else math.inf
    return _times(m, math.log10(k)) + _log_factorial(m)


@dataclass(slots=True)
class _Node:
    size: Size | None
    """None: a value this screen does not read (a letter, a command, an unknown sign)."""
    shape: str


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(text) if m.lastgroup != "skip"]
        self.at = 0
        self.depth = 0
        self.costliest = 0.0
        """The digits of the largest costly power or factorial met (0: none)."""

    def peek(self) -> str | None:
        return self.tokens[self.at][0] if self.at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def sequence(self) -> _Node:
        """Everything up to a closing bracket: the last ``=`` side is the value."""
        node = self.expression()
        while self.peek() not in (None, "close"):
            if self.peek() == "eq":
                self.take()
                node = self.expression()
            else:  # a stray operator or token: the rest is read for costly parts only
                self.take()
                self.expression()
                node = _Node(None, UNREAD)
        return node

    def expression(self) -> _Node:
        node = self.term()
        while self.peek() == "add":
            _, sign = self.take()
            right = self.term()
            node = _Node(
                _add(node.size, right.size, sign == "-"), _shape("(", node.shape, sign, right.shape, ")")
            )
        return node

    def term(self) -> _Node:
        node = self.unary()
        while True:
            kind = self.peek()
            if kind in ("mul", "div"):
                self.take()
                right = self.unary()
            elif kind in ("num", "open", "frac", "cmd", "other"):
                right = self.unary()  # juxtaposition: 2\sqrt{3}, 2^{3}(4)
            else:
                return node
            divide = kind == "div"
            node = _Node(
                _product(node.size, right.size, divide),
                _shape("(", node.shape, "/" if divide else "*", right.shape, ")"),
            )

    def unary(self) -> _Node:
        if self.peek() == "add":
            _, sign = self.take()
            node = self.unary()
            if sign == "-":
                return _Node(
                    _negated(node.size) if node.size is not None else None, _shape("(-", node.shape, ")")
                )
            return node
        return self.postfix()

    def postfix(self) -> _Node:
        node = self.power()
        marks = 0
        while self.peek() == "bang":
            self.take()
            marks += 1
        if marks:
            node = _Node(self.factorial(node.size, marks), _shape("(", node.shape, ")", "!" * marks))
        return node

    def power(self) -> _Node:
        node = self.primary()
        while self.peek() == "pow":
            _, op = self.take()
            if op == "**":  # Python's power: right-associative
                exponent = self.unary()
            elif self.peek() in ("open", "num"):  # LaTeX: a group or one number, left-associative
                exponent = self.primary()
            else:
                exponent = _Node(None, UNREAD)
            node = _Node(
                self.raise_to(node.size, exponent.size), _shape("(", node.shape, "^", exponent.shape, ")")
            )
        return node

    def primary(self) -> _Node:
        kind = self.peek()
        if kind in (None, "close", "eq"):  # nothing here: the bracket or the equation ends
            return _Node(None, UNREAD)
        if kind == "num":
            _, text = self.take()
            # A decimal is a float to sympy: its powers are quick, never costly.
            return _Node(_size_of(Fraction(text), "." not in text), str(Fraction(text)))
        if kind == "open":
            return self.group()
        if kind in ("frac", "binom"):
            self.take()
            if self.peek() != "open":
                return _Node(None, UNREAD)
            top = self.group()
            if self.peek() != "open":
                return _Node(None, UNREAD)
            bottom = self.group()
            if kind == "binom":
                return _Node(
                    self.binomial(top.size, bottom.size), _shape("C(", top.shape, ",", bottom.shape, ")")
                )
            return _Node(
                _product(top.size, bottom.size, True), _shape("(", top.shape, "/", bottom.shape, ")")
            )
        _, text = self.take()
        return _Node(None, text)

    def group(self) -> _Node:
        self.take()
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _TooDeep
        node = self.sequence()
        self.depth -= 1
        if self.peek() == "close":
            self.take()
        return node

    def costly(self, size: Size) -> Size:
        if size.rational and (size.hi > MAX_DIGITS or -math.inf < size.lo < -MAX_DIGITS):
            self.costliest = max(self.costliest, size.hi, -size.lo if size.lo > -math.inf else 0.0)
        return size

    def raise_to(self, base: Size | None, exponent: Size | None) -> Size | None:
        if base is None or exponent is None:
            return None
        whole = exponent.exact is None or exponent.exact.denominator == 1
        if base.exact is not None and exponent.exact is not None and whole:
            if base.exact == 0:
                return base if exponent.exact > 0 else None
            if base.lo == 0 or exponent.hi <= math.log10(_EXACT_DIGITS / abs(base.lo)):
                return _size_of(base.exact ** int(exponent.exact), base.rational)
        if base.lo == -math.inf:  # zero, or possibly zero: nothing to bound
            return None
        ends = [_times(e, b) for e in _values(exponent) for b in (base.lo, base.hi)]
        negative = False if base.negative is False else None
        rational = base.rational and exponent.rational and whole
        return self.costly(Size(min(ends), max(ends), negative, None, rational))

    def factorial(self, n: Size | None, marks: int) -> Size | None:
        """``n!``, and ``n!!...`` read both as math-verify reads it (nested factorials)
        and as a multifactorial (n(n-2)(n-4)... for two marks): the bounds cover both."""
        if n is None or n.negative is not False or not n.rational:
            return None
        if n.exact is not None and n.exact.denominator != 1:
            return None
        lo, hi, exact = n.lo, n.hi, n.exact
        for _ in range(marks):
            if exact is not None and lo < 6 and _log_factorial(float(exact)) <= _EXACT_DIGITS:
                exact = Fraction(math.factorial(int(exact)))
                lo = hi = math.log10(exact)
            else:
                exact = None
                lo, hi = _log_factorial(_pow10(lo)), _log_factorial(_pow10(hi))
        if marks > 1:
            lo = min(lo, _log_multifactorial_floor(_pow10(n.lo), marks))
            exact = exact if lo == hi else None
        return self.costly(Size(lo, hi, False, exact))

    def binomial(self, n: Size | None, k: Size | None) -> Size | None:
        """``\\binom{n}{k}`` of exact whole numbers, bounded by k log(n/k) <= log C(n, k) <= k log(e n/k)."""
        if n is None or k is None or n.exact is None or k.exact is None:
            return None
        if n.exact.denominator != 1 or k.exact.denominator != 1 or not 0 <= k.exact <= n.exact:
            return None
        top, small = int(n.exact), min(int(k.exact), int(n.exact - k.exact))
        if small == 0:
            return _size_of(Fraction(1))
        if small * math.log10(top) <= _EXACT_DIGITS:
            return _size_of(Fraction(math.comb(top, small)))
        ratio = math.log10(top) - math.log10(small)
        return self.costly(Size(small * ratio, small * (ratio + math.log10(math.e)), False))


class _TooDeep(Exception):
    pass


UNREAD = "\x00"
"""In a shape: a part not read (cut short, or a stray token); such shapes equal nothing."""
_MAX_SHAPE = 400


def _shape(*parts: str) -> str:
    shape = "".join(parts)
    return shape if len(shape) <= _MAX_SHAPE else UNREAD


def _values(size: Size) -> tuple[float, float]:
    """Bounds on a value itself from bounds on its log."""
    low, high = (0.0 if size.lo == -math.inf else _pow10(size.lo)), _pow10(size.hi)
    if size.negative is None:
        return -high, high
    return (-high, -low) if size.negative else (low, high)


def _negated(size: Size) -> Size:
    negative = None if size.negative is None else not size.negative
    exact = -size.exact if size.exact is not None else None
    return Size(size.lo, size.hi, negative, exact, size.rational)


def _exactly(value: Fraction, rational: bool) -> Size | None:
    return _size_of(value, rational) if abs(value) < _EXACT_LIMIT else None


def _product(a: Size | None, b: Size | None, divide: bool) -> Size | None:
    if a is None or b is None:
        return None
    rational = a.rational and b.rational
    if a.exact is not None and b.exact is not None:
        if divide and b.exact == 0:
            return None
        exact = _exactly(a.exact / b.exact if divide else a.exact * b.exact, rational)
        if exact is not None:
            return exact
    if a.lo == -math.inf or b.lo == -math.inf:  # zero possible on a side: no bound worth having
        return None
    lo, hi = (a.lo - b.hi, a.hi - b.lo) if divide else (a.lo + b.lo, a.hi + b.hi)
    negative = None if a.negative is None or b.negative is None else a.negative != b.negative
    return Size(lo, hi, negative, None, rational)


def _add(a: Size | None, b: Size | None, subtract: bool) -> Size | None:
    if a is None or b is None:
        return None
    rational = a.rational and b.rational
    if a.exact is not None and b.exact is not None:
        exact = _exactly(a.exact - b.exact if subtract else a.exact + b.exact, rational)
        if exact is not None:
            return exact
    if subtract:
        b = _negated(b)
    hi = max(a.hi, b.hi) + math.log10(2)
    if a.negative is not None and a.negative == b.negative:
        return Size(max(a.lo, b.lo), hi, a.negative, None, rational)
    # Opposite or unknown signs: a side ten times the other keeps 9/10 of its size and its sign.
    for big, small in ((a, b), (b, a)):
        if big.lo >= small.hi + 1:
            return Size(big.lo + math.log10(0.9), hi, big.negative, None, rational)
    return Size(-math.inf, hi, None, None, rational)


@dataclass(frozen=True, slots=True)
class Reading:
    """What the screen read in one answer."""

    costliest: float
    """Digits of its largest costly power or factorial; 0 when it has none."""
    size: Size | None
    """Bounds on the whole answer's value, when it is a number read here."""
    shape: str
    """The expression's structure, the same however it is spelled (braces, ``**``)."""


_SIGN = re.compile(r"\^|\*\*|!")
_FULL_CHARS = 4000
"""Answers up to this long are read whole; in longer ones only the text around the last
:data:`_MAX_WINDOWS` power and factorial signs is read, for costly parts."""
_MAX_WINDOWS = 64


def _suspect(text: str) -> bool:
    return "^" in text or "!" in text or "**" in text


def read(text: str) -> Reading:
    if len(text) > _FULL_CHARS:
        return _read_around_signs(text)
    parser = _Parser(text)
    try:
        node = parser.sequence()
        while parser.peek() is not None:  # a stray closing bracket: read on
            parser.take()
            parser.sequence()
            node = _Node(None, UNREAD)
    except (_TooDeep, RecursionError, ArithmeticError, ValueError):  # read no further: the verifier decides
        return Reading(parser.costliest, None, UNREAD)
    return Reading(parser.costliest, node.size, node.shape)


def _read_around_signs(text: str) -> Reading:
    costliest = 0.0
    window_start = len(text)
    for sign in reversed([m.start() for m in _SIGN.finditer(text)][-_MAX_WINDOWS:]):
        if sign >= window_start:  # read with the window after it
            continue
        window_start = max(0, sign - 100)
        costliest = max(costliest, read(text[window_start : sign + 400]).costliest)
    return Reading(costliest, None, UNREAD)


@lru_cache(maxsize=4096)
def _gold_reading(gold: str) -> Reading:
    return read(gold)


def enabled() -> bool:
    return os.environ.get("REWARD_MATH_SCREEN", "1").strip().lower() not in ("0", "false", "no", "off")


def _bounds(reading: Reading) -> tuple[float, float]:
    if reading.size is not None:
        return reading.size.lo, reading.size.hi
    if reading.costliest:
        return -math.inf, math.inf
    return -MAX_DIGITS, MAX_DIGITS  # no costly part: taken to have fewer digits than the bound


def _apart(a: Reading, b: Reading) -> bool:
    """Their values cannot be equal: their sizes do not overlap."""
    (a_lo, a_hi), (b_lo, b_hi) = _bounds(a), _bounds(b)
    slack = 1e-9 * max(1.0, *(abs(x) for x in (a_lo, a_hi, b_lo, b_hi) if math.isfinite(x)))
    return a_lo > b_hi + slack or b_lo > a_hi + slack


def _digits(log: float) -> str:
    if not math.isfinite(log) or log > 1e300:
        return "more than 10^300 digits"
    return f"about {log:.2g} digits".replace("e+0", "e").replace("e+", "e")


def judge(gold: str, pieces: list[str]) -> VerifierOutcome | None:
    """The outcome for answers with a costly part (the gold's or a candidate's), decided
    without parsing them; None when neither has one (the verifier decides)."""
    if not enabled():
        return None
    gold_reading = _gold_reading(gold.strip()) if len(gold) <= _FULL_CHARS else read(gold)
    readings = [read(p) if _suspect(p) else None for p in pieces]
    costly = [(p, r) for p, r in zip(pieces, readings, strict=True) if r is not None and r.costliest]
    details = {"screen": "huge"}
    if gold_reading.costliest:
        full = [r if r is not None else read(p) for p, r in zip(pieces, readings, strict=True)]
        if len(full) == 1 and full[0].shape == gold_reading.shape and UNREAD not in full[0].shape:
            return VerifierOutcome(score=1.0, details={**details, "reason": "the same expression as the gold answer"})
        if all(_apart(r, gold_reading) for r in full):
            reason = (
                f"the gold answer has {_digits(gold_reading.costliest)}; the answer cannot be that number"
            )
            return VerifierOutcome(score=0.0, reason=reason, details=details)
        reason = (f"the gold answer has {_digits(gold_reading.costliest)}, too many to evaluate: only the same "
                  "expression, or an answer of another size, is judged")  # fmt: skip
        return VerifierOutcome(score=0.0, verdict=Verdict.ERROR, reason=reason, details=details)
    if not costly:
        return None
    piece, reading = max(costly, key=lambda pr: pr[1].costliest)
    shown = piece.strip()[:80]
    if all(_apart(r, gold_reading) for _, r in costly):
        reason = f"the answer {shown} has {_digits(reading.costliest)}: it cannot be the gold answer"
        return VerifierOutcome(score=0.0, reason=reason, details=details)
    reason = f"not evaluated: {shown} holds a value of {_digits(reading.costliest)}, which no time limit would finish"
    return VerifierOutcome(score=0.0, verdict=Verdict.TIMEOUT, reason=reason, details=details)
