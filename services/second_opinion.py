"""A second opinion on an item already scored: judged again by another method.

The audit (:mod:`reward_server.audit`) sends a sample of live traffic here, off the
request's path, and records where the two judgements disagree. Each judge is meant to fail
differently from the verifier it checks, so that a reader gone wrong shows up:

- math: Math-Verify called directly (its own extraction) on the response after the think
  block, and the answer read by another route (the last ``\\boxed{}``, else the last
  number; a percent sign dropped for a gold without one) compared with Math-Verify; neither
  goes through :mod:`services.extraction` or :mod:`services.domains.math`'s reader. It
  decides only where the routes that read an answer agree (each alone reads prose badly:
  Math-Verify may take an early number of a sentence, the last number may be a step), and
  abstains otherwise;
- countdown: the final expression (last box, else the last line with arithmetic) evaluated
  with sympy; judged only when it uses exactly the given numbers (a chain of steps, which
  the verifier accepts, is left undecided rather than called wrong);
- code: a failing sample run again with a lenient comparison (white space, numbers within
  1e-6) and twice the time limit per test.

A judge answers an :class:`services.result.Opinion` (correct, wrong or abstain, with its reason);
``abstain`` means it could not tell, and never counts as a disagreement. The judges run
where the verifiers run (a verifier process with its hard time limit, a sandbox thread), as
work items whose key starts with :data:`SECOND_OPINION_PREFIX`: :func:`run_item` is what a
backend runs for any item.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from services.core import RunControl, Verdict
from services.result import Opinion, OpinionVerdict, Result
from services.scoring import WorkItem, score

CORRECT, WRONG, ABSTAIN = OpinionVerdict.CORRECT, OpinionVerdict.WRONG, OpinionVerdict.ABSTAIN

AUDIT_PREFIX = "audit:"
"""Keys of audit work (second opinions, canaries): never stored in or read from a result cache."""
SECOND_OPINION_PREFIX = AUDIT_PREFIX + "second-opinion:"
AUDITED_DOMAINS = frozenset({"math", "countdown", "code"})
"""Domains with a second judge; the audit skips the others (canaries cover the puzzles)."""

CODE_FLOAT_TOLERANCE = 1e-6
CODE_TIME_FACTOR = 2.0
_TAIL_CHARS = 4000
_MAX_EXPRESSION_CHARS = 300
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+)?")
_PERCENT_SIGN = re.compile(r"\s*\\?%\s*$")
_ARITHMETIC_LINE = re.compile(r"^[\d\s+\-*/×÷().=x]+$")


def is_second_opinion(item: WorkItem) -> bool:
    return item.key.startswith(SECOND_OPINION_PREFIX)


def run_item(item: WorkItem, run: RunControl | None = None) -> Result | Opinion:
    """What a backend runs for an item: its second opinion when it is one, else its score."""
    return judge(item, run) if is_second_opinion(item) else score(item, run)


def judge(item: WorkItem, run: RunControl | None = None) -> Opinion:
    """The second opinion on one item; never raises."""
    judges: dict[str, Callable[[WorkItem], Opinion]] = {
        "math": judge_math,
        "countdown": judge_countdown,
        "code": lambda item: judge_code(item, run or RunControl(budget_s=item.budget_s)),
    }
    found = judges.get(item.domain)
    if found is None or item.label is None:
        return _opinion(ABSTAIN, f"no second judge for domain {item.domain!r}", "none")
    try:
        return found(item)
    except (Exception, RecursionError) as exc:
        return _opinion(ABSTAIN, f"second judge failed: {type(exc).__name__}: {exc}"[:300], item.domain)


def _opinion(verdict: OpinionVerdict, reason: str, judge_name: str, **details: Any) -> Opinion:
    return Opinion(verdict, reason, judge_name, details)


def after_think(response: str) -> str:
    """The response past its think block, read plainly: the text after the last
    ``</think>``, inside the last ``<answer>...</answer>`` when there is one."""
    text = response.rsplit("</think>", 1)[-1] if "</think>" in response else response
    if "<answer>" in text:
        inner = text.rsplit("<answer>", 1)[-1]
        text = inner.split("</answer>", 1)[0]
    return text[-_TAIL_CHARS:]


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}``, braces matched (a reader of its own)."""
    at = text.rfind("\\boxed")
    while at >= 0:
        i = text.find("{", at)
        if i >= 0 and not text[at + len("\\boxed") : i].strip():
            depth = 0
            for j in range(i, len(text)):
                depth += (text[j] == "{") - (text[j] == "}")
                if depth == 0:
                    return text[i + 1 : j].strip()
        at = text.rfind("\\boxed", 0, at)
    return None


# --------------------------------------------------------------------------- math


def judge_math(item: WorkItem) -> Opinion:
    import math_verify

    answer = str(getattr(item.label, "answer", ""))
    gold = math_verify.parse(f"${answer}$", parsing_timeout=None) or math_verify.parse(
        f"\\boxed{{{answer}}}", parsing_timeout=None
    )
    if not gold:
        return _opinion(ABSTAIN, "math-verify cannot read the gold answer", "math-verify")
    text = after_think(item.response)
    found: dict[str, OpinionVerdict | None] = {}
    direct = math_verify.parse(text, parsing_timeout=None)
    found["math-verify"] = _compare(math_verify, gold, direct, item)
    read = last_boxed(text)
    if read is None:
        numbers = _NUMBER.findall(text)
        read = numbers[-1] if numbers else None
    if read is not None:
        if "%" not in answer:  # a percent for a gold without one is its number (35% for 35)
            read = _PERCENT_SIGN.sub("", read)
        found["last box or number"] = _compare(
            math_verify, gold, math_verify.parse(f"${read}$", parsing_timeout=None), item
        )
    routes = {reader: "unread" if v is None else v.value for reader, v in found.items()}
    said = ", ".join(f"{k}: {v}" for k, v in routes.items())
    decided = {v for v in found.values() if v is not None}
    if len(decided) == 1:
        return _opinion(decided.pop(), said, "math-verify", routes=routes)
    why = "the two readers disagree" if decided else "no answer read"
    return _opinion(ABSTAIN, f"{why} ({said})", "math-verify", routes=routes)


def _compare(mv: Any, gold: list[Any], pred: list[Any], item: WorkItem) -> OpinionVerdict | None:
    """The reader's word on one reading; None when it read nothing."""
    if not pred:
        return None
    same = mv.verify(gold, pred, float_rounding=item.options.float_digits, timeout_seconds=None)
    return CORRECT if same else WRONG


# --------------------------------------------------------------------------- countdown


def final_expression(text: str) -> str | None:
    """The candidate's final expression: the last box, else the last line that is only
    arithmetic; of ``expr = value`` the side holding the most numbers."""
    found = last_boxed(text)
    if found is None:
        lines = [ln.strip().strip("$").strip() for ln in text.splitlines()]
        found = next(
            (ln for ln in reversed(lines) if ln and _ARITHMETIC_LINE.match(ln) and _NUMBER.search(ln)), None
        )
    if found is None:
        return None
    found = (
        found.replace("\\times", "*")
        .replace("\\cdot", "*")
        .replace("\\div", "/")
        .replace("×", "*")
        .replace("÷", "/")
    )
    sides = [s for s in found.split("=") if s.strip()]
    return max(sides, key=lambda s: len(_NUMBER.findall(s))).strip() if sides else None


def judge_countdown(item: WorkItem) -> Opinion:
    import sympy

    label = item.label
    expression = final_expression(after_think(item.response))
    if expression is None:
        return _opinion(ABSTAIN, "no final expression", "sympy")
    if (
        len(expression) > _MAX_EXPRESSION_CHARS
        or not re.fullmatch(r"[\d\s+\-*/()]+", expression)
        or "**" in expression
    ):
        return _opinion(ABSTAIN, f"not plain arithmetic: {expression[:80]!r}", "sympy")
    used = Counter(int(n) for n in re.findall(r"\d+", expression))
    given = Counter(int(n) for n in label.numbers)  # type: ignore[union-attr]
    if used != given:
        if getattr(label, "steps", True):
            return _opinion(
                ABSTAIN, f"{expression!r} does not use exactly the given numbers (a chain?)", "sympy"
            )
        return _opinion(WRONG, f"{expression!r} does not use exactly the given numbers", "sympy")
    try:
        # Only digits, + - * / and parentheses reach sympy (checked above): nothing else to evaluate.
        value = sympy.sympify(expression, rational=True)
    except (sympy.SympifyError, ZeroDivisionError, TypeError, SyntaxError) as exc:
        return _opinion(ABSTAIN, f"sympy cannot evaluate {expression!r}: {exc}"[:200], "sympy")
    if value == sympy.Integer(label.target):  # type: ignore[union-attr]
        return _opinion(CORRECT, f"{expression} = {label.target}", "sympy")  # type: ignore[union-attr]
    return _opinion(WRONG, f"{expression} = {value}, not {label.target}", "sympy")  # type: ignore[union-attr]


# --------------------------------------------------------------------------- code


def judge_code(item: WorkItem, run: RunControl) -> Opinion:
    """The program again, leniently: numbers within 1e-6 on stdin/stdout tests, twice the
    time per test (white space is already ignored by the verifier's comparison)."""
    from services.domains.code import DEFAULT_TEST_TIME_LIMIT_S
    from services.extraction import extract
    from services.registry import REGISTRY

    label = item.label
    per_test = float(getattr(label, "time_limit_s", None) or DEFAULT_TEST_TIME_LIMIT_S)
    update: dict[str, Any] = {"time_limit_s": min(60.0, per_test * CODE_TIME_FACTOR)}
    if getattr(label, "float_tolerance", None) is None:
        update["float_tolerance"] = CODE_FLOAT_TOLERANCE
    lenient = label.model_copy(update=update)  # type: ignore[union-attr]
    options = item.options.model_copy(update={"mode": "binary"})
    outcome = REGISTRY["code"].verify(extract(item.response, item.prompt, options), lenient, options, run)
    verdict = outcome.resolved_verdict()
    reason = outcome.reason or verdict.value
    if verdict == Verdict.CORRECT:
        return _opinion(CORRECT, "passes every test leniently, with twice the time", "lenient re-run")
    if verdict in (Verdict.WRONG, Verdict.PARTIAL):
        return _opinion(WRONG, f"fails leniently too: {reason}"[:300], "lenient re-run")
    return _opinion(ABSTAIN, f"lenient re-run: {verdict}: {reason}"[:300], "lenient re-run")
