"""The code verifier: run the response's program against the label's tests in the sandbox.

Three test styles (see :class:`CodeTests` below):

* stdin/stdout - ``inputs``/``outputs`` strings; one sandbox run per test; stdout is
  compared here, in the trusted parent, ignoring trailing white space and blank lines,
  numbers within ``float_tolerance`` when the label sets one, or judged by the label's
  ``checker`` (:mod:`services.domains.code.checkers`). Expected outputs never
  enter the sandbox.
* call-based - ``fn_name`` with JSON argument lists; the solution is loaded once and the
  function called per test (per-test time limit, reloaded after a timeout or crash);
  return values come back as plain data and are compared here.
* functional, in another language - ``functional`` is a test program (HumanEval-X's,
  MultiPL-E's) run with the solution (:mod:`services.domains.code.programs`): it passes
  with exit code 0 and the run's completion marker, written once the test code returned.
* functional, in Python - ``functional`` assert code (HumanEval / LeetCode ``check(candidate)``) run
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

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.core import DomainLabel, RunControl, Verdict, VerifierOutcome
from services.domains.code.blocks import called_names, pick_block
from services.domains.code.checkers import Checker
from services.domains.code.compare import FloatRule, Tolerance
from services.extraction import Extracted
from services.rewards import RewardOptions


class CodeTests(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: list[Any] | None = None
    outputs: list[Any] | None = None
    fn_name: str | None = None
    """Call-based tests: the function called. With ``functional`` tests: the name the
    asserts call the solution by, when a builtin has it too (MBPP's ``sum``); no other
    name of the solution replaces a builtin in the tests."""
    functional: str | None = None
    """Python: assert code run by the trusted driver after the solution. Other languages: a
    test program that fails by its exit code or an exception (HumanEval-X's, MultiPL-E's),
    run with the solution as ``style`` says."""
    style: Literal["program", "go_test", "rust_test"] | None = None
    """How a non-Python test program runs: ``program`` (the solution, then the test code,
    with a ``main`` or top-level asserts), ``go_test`` (a ``_test.go`` file beside the
    solution, ``go test``), ``rust_test`` (a ``#[cfg(test)]`` module after it). Default: Go's
    tests as ``go_test``, Rust's with ``#[test]`` functions as ``rust_test``, else ``program``."""
    stderr_fails: bool = False
    """A test program whose failed assertions only print (JavaScript's ``console.assert``):
    anything on stderr fails it."""


class CodeLabel(DomainLabel):
    domain: Literal["code"]
    tests: CodeTests
    language: str = "python"
    prelude: str | None = None
    """Code the dataset runs before the solution (LeetCode's imports and ListNode / TreeNode
    helpers, MBPP's test imports). Whether a solution must be self-contained is the
    dataset's call: its converter sets this, and the solution and the tests both see it."""
    time_limit_s: float | None = Field(default=None, gt=0, le=60)
    """CPU seconds per test (per functional check); unset: :data:`DEFAULT_TEST_TIME_LIMIT_S`."""
    time_limit_source: Literal["reference", "dataset", "default"] | None = None
    """Where ``time_limit_s`` came from: ``reference`` (a multiple of the slowest reference
    solution's CPU per test, by ``python -m trainer.data calibrate``), ``dataset`` (the
    problem's own stated limit, never recalibrated), ``default`` (a harness-wide default,
    MBPP's 10 s; calibration may replace it). Unset with a limit: read as ``dataset``."""
    memory_mb: int | None = Field(default=None, gt=0, le=16384)
    float_tolerance: float | None = Field(default=None, ge=0)
    """stdin/stdout tests: numeric tokens may differ by this much (absolute or relative)."""
    float_rule: FloatRule | None = None
    """How ``float_tolerance`` applies: ``isclose`` (the default: within it absolutely or
    relatively to either token) or ``abs_or_rel`` (``|got - expected| <= eps * max(1,
    |expected|)`` for tokens that are real numbers: the "absolute or relative error"
    of problem statements) or ``absolute`` (``|got - expected| <= eps``)."""
    checker: Checker | None = None
    """stdin/stdout tests: a program that judges each output instead of comparing it with
    the expected one (problems with several right answers; partial points), see
    :mod:`services.domains.code.checkers`."""


Label = CodeLabel

DEFAULT_TEST_TIME_LIMIT_S = 4.0
"""CPU seconds per test (stdin/stdout, call-based) or per functional check (its asserts in
one run); a dataset whose solutions need more sets ``time_limit_s`` in its labels."""
DEFAULT_MEMORY_MB = 1024
MAX_OUTPUT_BYTES = 4 << 20

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[^\n]*\n(.*?)```", re.DOTALL)
_LANGUAGE_TAGS = {
    "python": {"python", "py", "python3", "py3"},
    "cpp": {"cpp", "c++", "cxx", "cc", "c"},
    "c": {"c", "h"},
    "java": {"java"},
    "javascript": {"javascript", "js", "node", "nodejs", "jsx", "mjs", "cjs"},
    "typescript": {"typescript", "ts", "tsx"},
    "go": {"go", "golang"},
    "go_test": {"go", "golang"},
    "rust": {"rust", "rs"},
    "rust_test": {"rust", "rs"},
    "bash": {"bash", "sh", "shell", "zsh"},
}


# --------------------------------------------------------------------------- extraction


def extract_code(
    answer_region: str, language: str, calls: frozenset[str] = frozenset()
) -> tuple[str | None, bool]:
    """The program in an answer region: of the fenced blocks tagged with the language (else
    all of them), the last that defines a name in ``calls`` (what the tests call), else the
    last. Returns (code or None, whether a fence was found)."""
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(answer_region)]
    if not blocks:
        return None, False
    wanted = _LANGUAGE_TAGS.get(language, {language})
    tagged = [code for tag, code in blocks if tag in wanted]
    code = pick_block(tagged or [code for _, code in blocks], calls if language == "python" else frozenset())
    return (code if code.strip() else None), True


# --------------------------------------------------------------------------- verify


def verify(extracted: Extracted, label: CodeLabel, options: RewardOptions, run: RunControl) -> VerifierOutcome:
    """Run the label's tests on the response's program; ``run`` carries the item's budget
    and cancel flag from the backend."""
    import sandbox
    from services.domains.code.runs import Runner, assertion_program, call_based, functional, stdio

    try:
        language = sandbox.get_language(label.language).name
    except ValueError as exc:
        return VerifierOutcome(score=0.0, verdict=Verdict.ERROR, reason=str(exc))
    calls = called_names(label.tests.fn_name, label.tests.functional)
    code, fenced = extract_code(extracted.answer_region, language, calls)
    if label.checker is not None and (label.tests.functional or label.tests.fn_name):
        return VerifierOutcome(score=0.0, verdict=Verdict.ERROR, reason="label: a checker judges stdin/stdout tests only")
    if code is None:
        reason = "no code block in the answer" if not fenced else "empty code block"
        return VerifierOutcome(score=0.0, parsed=False, reason=reason)

    tests = label.tests
    runner = Runner(
        language=language,
        per_test_s=float(label.time_limit_s or DEFAULT_TEST_TIME_LIMIT_S),
        memory_mb=int(label.memory_mb or DEFAULT_MEMORY_MB),
        control=run,
    )
    stop_early = options.mode == "binary"
    try:
        if tests.functional and language != "python":
            outcome = assertion_program(
                runner, code, tests.functional, label.prelude, tests.style, tests.stderr_fails
            )
        elif tests.functional:
            outcome = functional(runner, code, tests.functional, label.prelude, tests.fn_name)
        elif tests.fn_name:
            if language != "python":
                return VerifierOutcome(score=0.0, verdict=Verdict.ERROR, reason="call-based tests need language python")
            outcome = call_based(
                runner,
                code,
                label.prelude,
                tests.fn_name,
                tests.inputs or [],
                tests.outputs or [],
                stop_early,
            )
        elif tests.inputs is not None and tests.outputs is not None:
            program = f"{label.prelude}\n{code}" if label.prelude and language == "python" else code
            rule = label.float_rule or "isclose"
            tolerance = None if label.float_tolerance is None else Tolerance(label.float_tolerance, rule)
            outcome = stdio(
                runner, program, tests.inputs, tests.outputs, stop_early, tolerance, label.checker
            )
        else:
            return VerifierOutcome(
                score=0.0,
                verdict=Verdict.ERROR,
                reason="label has no tests (inputs/outputs, fn_name or functional)",
            )
    except sandbox.SandboxUnavailable as exc:
        return VerifierOutcome(score=0.0, verdict=Verdict.ERROR, reason=f"sandbox unavailable: {exc}")
    outcome.details.setdefault("language", language)
    outcome.details["cpu_ms"] = round(runner.cpu_s * 1000, 2)
    outcome.details["run_ms"] = round(runner.run_s * 1000, 2)
    if label.checker is not None:
        outcome.details["checker_cpu_ms"] = round(runner.checker_cpu_s * 1000, 2)
    return outcome
