"""The code verifier: run the response's program against the label's tests in the sandbox.

Three test styles (see :class:`services.labels.CodeTests`):

* stdin/stdout - ``inputs``/``outputs`` strings; one sandbox run per test; stdout is
  compared here, in the trusted parent, ignoring trailing white space and blank lines,
  numbers within ``float_tolerance`` when the label sets one. Expected outputs never
  enter the sandbox.
* call-based - ``fn_name`` with JSON argument lists; the solution is loaded once and the
  function called per test (per-test time limit, reloaded after a timeout or crash);
  return values come back as plain data and are compared here.
* functional - ``functional`` assert code (HumanEval / LeetCode ``check(candidate)``) run
  by a driver process in the sandbox that reaches the solution's functions and classes
  through proxies (``check(Solution().twoSum)``: the instance lives in the solution's
  process, its methods' return values cross back): return values are plain data, so a
  forged ``__eq__`` gains nothing, and the
  test passes only when the driver reports completion after every assert ran, so
  ``exit()`` and friends fail.

Binary mode stops at the first failing test; other modes run every test and report the
fraction passed.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.core import DomainLabel, Outcome
from services.extraction import Extracted
from services.rewards import RewardOptions


class CodeTests(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: list[Any] | None = None
    outputs: list[Any] | None = None
    fn_name: str | None = None
    functional: str | None = None


class CodeLabel(DomainLabel):
    domain: Literal["code"]
    tests: CodeTests
    language: str = "python"
    prelude: str | None = None
    """Code the dataset runs before the solution (LeetCode's imports and ListNode / TreeNode
    helpers, MBPP's test imports). Whether a solution must be self-contained is the
    dataset's call: its converter sets this, and the solution and the tests both see it."""
    time_limit_s: float | None = Field(default=None, gt=0, le=60)
    memory_mb: int | None = Field(default=None, gt=0, le=16384)
    float_tolerance: float | None = Field(default=None, ge=0)
    """stdin/stdout tests: numeric tokens may differ by this much (absolute or relative)."""


Label = CodeLabel

DEFAULT_TEST_TIME_LIMIT_S = 4.0
"""Per test (stdin/stdout, call-based) or for the whole check (functional)."""
DEFAULT_ITEM_TIME_BUDGET_S = 60.0
"""All tests of one item together, unless the reward options set ``timeout_s``."""
DEFAULT_MEMORY_MB = 1024
MAX_OUTPUT_BYTES = 4 << 20

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[^\n]*\n(.*?)```", re.DOTALL)
_LANGUAGE_TAGS = {
    "python": {"python", "py", "python3", "py3"},
    "cpp": {"cpp", "c++", "cxx", "cc", "c"},
}


# --------------------------------------------------------------------------- extraction


def extract_code(answer_region: str, language: str) -> tuple[str | None, bool]:
    """The program in an answer region: the last fenced block tagged with the language,
    else the last fenced block. Returns (code or None, whether a fence was found)."""
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(answer_region)]
    if not blocks:
        return None, False
    wanted = _LANGUAGE_TAGS.get(language, {language})
    tagged = [code for tag, code in blocks if tag in wanted]
    code = tagged[-1] if tagged else blocks[-1][1]
    return (code if code.strip() else None), True


# --------------------------------------------------------------------------- comparison


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return "" if value is None else str(value)


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def _tokens_match(got: str, expected: str, tolerance: float) -> bool:
    if got == expected:
        return True
    try:
        a, b = float(got), float(expected)
    except ValueError:
        return False
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)


def outputs_match(got: str, expected: str, float_tolerance: float | None = None) -> bool:
    """stdout against the expected text: trailing white space and blank lines ignored;
    with a tolerance, numeric tokens may differ by that much (absolute or relative)."""
    got_lines, expected_lines = _lines(got), _lines(expected)
    if got_lines == expected_lines:
        return True
    if float_tolerance is None or len(got_lines) != len(expected_lines):
        return False
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


# --------------------------------------------------------------------------- drivers (trusted code run in the sandbox)

CALL_DRIVER = r'''
def _plain(value):
    kind = type(value)
    if kind in (list, tuple):
        return [_plain(v) for v in value]
    if kind in (set, frozenset):
        items = [_plain(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if kind is dict:
        return {(k if type(k) is str else json.dumps(_plain(k))): _plain(v) for k, v in value.items()}
    if kind is bytes:
        return value.decode("utf-8", "replace")
    if kind is complex:
        return [value.real, value.imag]
    return value

import json
solution.call_timeout = data["per_test_s"]
if solution.load_error:
    emit({"load_error": solution.load_error})
else:
    for index, args in enumerate(data["inputs"]):
        try:
            value = solution.call(data["fn_name"], *args)
            emit({"test": index, "value": _plain(value)})
        except CallTimeout as exc:
            emit({"test": index, "timeout": str(exc)})
        except Exception as exc:
            emit({"test": index, "error": (type(exc).__name__ + ": " + str(exc))[:500]})
'''

FUNCTIONAL_DRIVER = r'''
solution.call_timeout = {per_call_s!r}
if solution.load_error:
    emit({{"load_error": solution.load_error}})
else:
    _namespace = {{"__name__": "__main__", "__builtins__": __builtins__}}
    _namespace.update(solution.test_namespace())
    try:
        exec(compile({check!r}, "test", "exec", dont_inherit=True), _namespace)
    except CallTimeout as _exc:
        emit({{"timeout": str(_exc)}})
    except AssertionError as _exc:
        import traceback as _tb
        _where = [f for f in _tb.extract_tb(_exc.__traceback__) if f.filename == "test"]
        emit({{"failed": "assertion failed" + (f" at test line {{_where[-1].lineno}}" if _where else "")}})
    except BaseException as _exc:
        emit({{"failed": (type(_exc).__name__ + ": " + str(_exc))[:500]}})
    else:
        emit({{"completed": True}})
'''


# --------------------------------------------------------------------------- verify


def _pool() -> Any:
    import sandbox

    return sandbox.get_default_pool()


def verify(extracted: Extracted, label: CodeLabel, options: RewardOptions) -> Outcome:
    import sandbox

    try:
        language = sandbox.get_language(label.language).name
    except ValueError as exc:
        return Outcome(score=0.0, verdict="error", reason=str(exc))
    code, fenced = extract_code(extracted.answer_region, language)
    if code is None:
        reason = "no code block in the answer" if not fenced else "empty code block"
        return Outcome(score=0.0, parsed=False, reason=reason)

    tests = label.tests
    per_test = float(label.time_limit_s or DEFAULT_TEST_TIME_LIMIT_S)
    budget = float(options.timeout_s or DEFAULT_ITEM_TIME_BUDGET_S)
    memory = int(label.memory_mb or DEFAULT_MEMORY_MB)
    stop_early = options.mode == "binary"
    tolerance = label.float_tolerance
    started = time.monotonic()
    try:
        if tests.functional:
            if language != "python":
                return Outcome(score=0.0, verdict="error", reason="functional tests need language python")
            outcome = _functional(code, tests.functional, label.prelude, min(per_test * 2, budget), memory)
        elif tests.fn_name:
            if language != "python":
                return Outcome(score=0.0, verdict="error", reason="call-based tests need language python")
            outcome = _call_based(
                code, label.prelude, tests.fn_name, tests.inputs or [], tests.outputs or [], per_test, budget, memory, stop_early
            )
        elif tests.inputs is not None and tests.outputs is not None:
            program = f"{label.prelude}\n{code}" if label.prelude and language == "python" else code
            outcome = _stdio(program, language, tests.inputs, tests.outputs, per_test, budget, memory, stop_early, tolerance)
        else:
            return Outcome(score=0.0, verdict="error", reason="label has no tests (inputs/outputs, fn_name or functional)")
    except sandbox.SandboxUnavailable as exc:
        return Outcome(score=0.0, verdict="error", reason=f"sandbox unavailable: {exc}")
    outcome.details.setdefault("language", language)
    outcome.details["elapsed_ms"] = round((time.monotonic() - started) * 1000, 2)
    return outcome


def _summarise(style: str, results: list[tuple[bool, str | None, str | None]], total: int) -> Outcome:
    """results: per test run (passed, failure status, reason); tests never run count as failed."""
    passed = sum(1 for ok, _, _ in results if ok)
    details: dict[str, Any] = {"style": style, "tests": total, "passed": passed}
    first_failure = next(((i, status, why) for i, (ok, status, why) in enumerate(results) if not ok), None)
    verdict = None
    reason = None
    if first_failure is not None:
        index, status, why = first_failure
        details["first_failure"] = {"test": index, "status": status, "reason": why}
        reason = f"test {index} {status}" + (f": {why}" if why else "")
        if passed == 0 and status == "timeout":
            verdict = "timeout"
        if passed == 0 and status == "sandbox_error":
            verdict = "error"
    elif len(results) < total:
        reason = "not every test ran"
    score = passed / total if total else 0.0
    return Outcome(score=score, reason=reason, details=details, verdict=verdict)


def _stdio(
    code: str,
    language: str,
    inputs: list[Any],
    outputs: list[Any],
    per_test: float,
    budget: float,
    memory: int,
    stop_early: bool,
    tolerance: float | None,
) -> Outcome:
    import sandbox

    if len(inputs) != len(outputs) or not inputs:
        return Outcome(score=0.0, verdict="error", reason="stdin/stdout tests need equally many inputs and outputs")
    pool = _pool()
    deadline = time.monotonic() + budget
    results: list[tuple[bool, str | None, str | None]] = []
    for stdin, expected in zip(inputs, outputs, strict=True):
        left = deadline - time.monotonic()
        if left <= 0:
            results.append((False, "timeout", "the item's time budget ran out"))
            break
        run = pool.run(
            sandbox.RunRequest(
                source=code,
                language=language,
                stdin=_as_text(stdin),
                time_limit_s=min(per_test, left),
                memory_mb=memory,
                max_output_bytes=MAX_OUTPUT_BYTES,
            )
        )
        if run.status == "ok":
            ok = outputs_match(run.stdout, _as_text(expected), tolerance)
            results.append((ok, None if ok else "wrong_output", None if ok else "output differs"))
        else:
            results.append((False, run.status, run.reason))
            if run.status == "compile_error":
                break  # every test would fail the same way
        if stop_early and not results[-1][0]:
            break
    return _summarise("stdio", results, len(inputs))


def _call_based(
    code: str,
    prelude: str | None,
    fn_name: str,
    inputs: list[Any],
    outputs: list[Any],
    per_test: float,
    budget: float,
    memory: int,
    stop_early: bool,
) -> Outcome:
    import sandbox

    if len(inputs) != len(outputs) or not inputs:
        return Outcome(score=0.0, verdict="error", reason="call-based tests need equally many inputs and outputs")
    args = [a if isinstance(a, list) else [a] for a in inputs]
    run = _pool().run(
        sandbox.RunRequest(
            source=code,
            driver=CALL_DRIVER,
            driver_data={"fn_name": fn_name, "inputs": args, "per_test_s": per_test, "prelude": prelude},
            driver_restarts=True,  # the driver holds only the inputs, never the outputs
            time_limit_s=min(budget, per_test * len(args) + 2.0),
            memory_mb=memory,
            max_output_bytes=MAX_OUTPUT_BYTES,
        )
    )
    load_error = next((r["load_error"] for r in run.records if isinstance(r, dict) and "load_error" in r), None)
    if load_error is not None:
        return _summarise("call", [(False, "runtime_error", f"solution failed to load: {load_error}")], len(args))
    by_test = {r["test"]: r for r in run.records if isinstance(r, dict) and isinstance(r.get("test"), int)}
    results: list[tuple[bool, str | None, str | None]] = []
    for index, expected in enumerate(outputs):
        record = by_test.get(index)
        if record is None:
            status = run.status if run.status != "ok" else "runtime_error"
            results.append((False, status, run.reason or "no result for this test"))
        elif "value" in record:
            ok = call_result_matches(record["value"], expected)
            results.append((ok, None if ok else "wrong_output", None if ok else "return value differs"))
        elif "timeout" in record:
            results.append((False, "timeout", record["timeout"]))
        else:
            results.append((False, "runtime_error", str(record.get("error"))))
        if stop_early and not results[-1][0]:
            break
    return _summarise("call", results, len(args))


def _functional(code: str, check: str, prelude: str | None, time_limit: float, memory: int) -> Outcome:
    import sandbox

    run = _pool().run(
        sandbox.RunRequest(
            source=code,
            driver=FUNCTIONAL_DRIVER.format(per_call_s=time_limit, check=check),
            driver_data={"prelude": prelude},
            time_limit_s=time_limit + 1.0,
            memory_mb=memory,
            max_output_bytes=MAX_OUTPUT_BYTES,
        )
    )
    records = [r for r in run.records if isinstance(r, dict)]
    if any(r.get("completed") is True for r in records) and run.status == "ok":
        return _summarise("functional", [(True, None, None)], 1)
    for record in records:
        if "load_error" in record:
            return _summarise("functional", [(False, "runtime_error", f"solution failed to load: {record['load_error']}")], 1)
        if "timeout" in record:
            return _summarise("functional", [(False, "timeout", record["timeout"])], 1)
        if "failed" in record:
            return _summarise("functional", [(False, "wrong_output", record["failed"])], 1)
    status = run.status if run.status != "ok" else "runtime_error"
    return _summarise("functional", [(False, status, run.reason or "the tests did not run to completion")], 1)
