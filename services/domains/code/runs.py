"""Running a solution against its tests in the sandbox, one test style each.

Time is a reward decision, and only the program's own time counts:

- each run has a CPU-time limit (``per_test_s``: a test, or a functional check): a
  program that spins is stopped there; one that sleeps or blocks is stopped by the
  sandbox's wall clock, which leaves out the time it waits for a slot or for a CPU;
- the item's budget (``timeout_s``) is the CPU all its runs may use together, so waiting
  between tests, for a slot or behind other items, never counts against it.

Runs go through :class:`Runner`, which applies the backend's :class:`RunControl`: a run
of an item that was given up is cancelled (waiting or running), and an item's next run
queues for a slot by the time its runs held slots so far (least first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.model import RunStatus
from services.core import RunControl, Verdict, VerifierOutcome
from services.domains.code.checkers import Checker, Judgement, checker_request, judgement
from services.domains.code.compare import Tolerance, call_result_matches, outputs_match
from services.domains.code.drivers import CALL_DRIVER, FUNCTIONAL_DRIVER

MAX_OUTPUT_BYTES = 4 << 20
CALL_SLACK_S = 2.0
"""A call-based run's limit beyond its tests' own: loading the solution, the driver."""


@dataclass
class Runner:
    language: str
    per_test_s: float
    memory_mb: int
    control: RunControl
    cpu_s: float = 0.0
    run_s: float = 0.0
    checker_cpu_s: float = 0.0
    """What checkers took: not the candidate's, so it never counts against its budget."""

    @property
    def budget_left_s(self) -> float:
        return self.control.budget_s - self.cpu_s

    def run(self, *, checker: bool = False, **request: Any) -> Any:
        import sandbox

        pool = sandbox.get_default_pool()
        result = pool.run(
            sandbox.RunRequest(**{"memory_mb": self.memory_mb, "max_output_bytes": MAX_OUTPUT_BYTES, **request}),
            cancel=self.control.cancel,
            priority=self.control.used_s,
        )
        if checker:
            self.checker_cpu_s += result.cpu_s
        else:
            self.cpu_s += result.cpu_s
        self.run_s += result.wall_s
        self.control.used_s += result.wall_s
        return result


def _cancelled() -> VerifierOutcome:
    return VerifierOutcome(score=0.0, verdict=Verdict.UNSCORED, reason="given up before its tests finished")


def summarise(style: str, results: list[tuple[bool | float, str | None, str | None]], total: int) -> VerifierOutcome:
    """results: per test run (passed, or a checker's points in [0, 1]; failure status,
    reason); tests never run count as failed."""
    passed = sum(1 for ok, _, _ in results if ok == 1)
    points = sum(float(ok) for ok, _, _ in results)
    details: dict[str, Any] = {"style": style, "tests": total, "passed": passed}
    if points != passed:
        details["points"] = round(points, 6)
    first_failure = next(((i, status, why) for i, (ok, status, why) in enumerate(results) if ok != 1), None)
    verdict = None
    reason = None
    if first_failure is not None:
        index, status, why = first_failure
        details["first_failure"] = {"test": index, "status": status, "reason": why}
        reason = f"test {index} {status}" + (f": {why}" if why else "")
        if points == 0 and status == RunStatus.TIMEOUT:
            verdict = Verdict.TIMEOUT
        if points == 0 and status == RunStatus.SANDBOX_ERROR:
            verdict = Verdict.ERROR
    elif len(results) < total:
        reason = "not every test ran"
    score = points / total if total else 0.0
    return VerifierOutcome(score=score, reason=reason, details=details, verdict=verdict)


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return "" if value is None else str(value)


def stdio(
    runner: Runner, code: str, inputs: list[Any], outputs: list[Any], stop_early: bool,
    tolerance: Tolerance | None = None, checker: Checker | None = None,
) -> VerifierOutcome:  # fmt: skip
    """One run per test; its output compared here (``tolerance``), or judged by the label's
    ``checker`` in a run of its own (:mod:`services.domains.code.checkers`)."""
    if len(inputs) != len(outputs) or not inputs:
        return VerifierOutcome(score=0.0, verdict=Verdict.ERROR, reason="stdin/stdout tests need equally many inputs and outputs")
    results: list[tuple[bool | float, str | None, str | None]] = []
    for index, (stdin, expected) in enumerate(zip(inputs, outputs, strict=True)):
        if runner.budget_left_s <= 0:
            results.append((False, RunStatus.TIMEOUT, "the item's CPU budget ran out"))
            break
        run = runner.run(
            source=code, language=runner.language, stdin=_as_text(stdin),
            time_limit_s=min(runner.per_test_s, runner.budget_left_s),
        )
        if run.status == RunStatus.CANCELLED:
            return _cancelled()
        if run.status == RunStatus.OK and checker is not None:
            judged = _judge(runner, checker, _as_text(stdin), _as_text(expected), run.stdout)
            if judged is None:
                return _cancelled()
            if judged.error is not None:
                # A checker's failure says nothing about the answer: never a wrong answer.
                details = {"style": "stdio", "checker_error": True}
                return VerifierOutcome(score=0.0, verdict=Verdict.ERROR, reason=f"checker on test {index}: {judged.error}", details=details)
            accepted = judged.score == 1
            why = None if accepted else judged.message or "rejected by the checker"
            results.append((judged.score, None if accepted else "wrong_output", why))
        elif run.status == RunStatus.OK:
            ok = outputs_match(run.stdout, _as_text(expected), tolerance)
            results.append((ok, None if ok else "wrong_output", None if ok else "output differs"))
        else:
            results.append((False, run.status, run.reason))
            if run.status == RunStatus.COMPILE_ERROR:
                break  # every test would fail the same way
        if stop_early and results[-1][0] != 1:
            break
    return summarise("stdio", results, len(inputs))


def _judge(runner: Runner, checker: Checker, stdin: str, expected: str, output: str) -> Judgement | None:
    """The checker's word on one output; None when the item was given up meanwhile."""
    result = runner.run(checker=True, **checker_request(checker, stdin, expected, output))
    if result.status == RunStatus.CANCELLED:
        return None
    return judgement(checker, result)


def call_based(
    runner: Runner, code: str, prelude: str | None, fn_name: str, inputs: list[Any], outputs: list[Any], stop_early: bool
) -> VerifierOutcome:
    if len(inputs) != len(outputs) or not inputs:
        return VerifierOutcome(score=0.0, verdict=Verdict.ERROR, reason="call-based tests need equally many inputs and outputs")
    args = [a if isinstance(a, list) else [a] for a in inputs]
    run = runner.run(
        source=code,
        driver=CALL_DRIVER,
        driver_data={"fn_name": fn_name, "inputs": args, "per_test_s": runner.per_test_s, "prelude": prelude},
        driver_restarts=True,  # the driver holds only the inputs, never the outputs
        time_limit_s=min(runner.budget_left_s, runner.per_test_s * len(args) + CALL_SLACK_S),
    )
    if run.status == RunStatus.CANCELLED:
        return _cancelled()
    load_error = next((r["load_error"] for r in run.records if isinstance(r, dict) and "load_error" in r), None)
    if load_error is not None:
        return summarise("call", [(False, RunStatus.RUNTIME_ERROR, f"solution failed to load: {load_error}")], len(args))
    by_test = {r["test"]: r for r in run.records if isinstance(r, dict) and isinstance(r.get("test"), int)}
    results: list[tuple[bool, str | None, str | None]] = []
    for index, expected in enumerate(outputs):
        record = by_test.get(index)
        if record is None:
            status = run.status if run.status != RunStatus.OK else RunStatus.RUNTIME_ERROR
            results.append((False, status, run.reason or "no result for this test"))
        elif "value" in record:
            ok = call_result_matches(record["value"], expected)
            results.append((ok, None if ok else "wrong_output", None if ok else "return value differs"))
        elif "timeout" in record:
            results.append((False, RunStatus.TIMEOUT, record["timeout"]))
        else:
            results.append((False, RunStatus.RUNTIME_ERROR, str(record.get("error"))))
        if stop_early and not results[-1][0]:
            break
    return summarise("call", results, len(args))


def functional(runner: Runner, code: str, check: str, prelude: str | None, entry: str | None = None) -> VerifierOutcome:
    limit = min(runner.per_test_s, runner.budget_left_s)
    run = runner.run(
        source=code,
        driver=FUNCTIONAL_DRIVER.format(per_call_s=limit, check=check, entry=entry),
        driver_data={"prelude": prelude},
        time_limit_s=limit,
    )
    if run.status == RunStatus.CANCELLED:
        return _cancelled()
    records = [r for r in run.records if isinstance(r, dict)]
    if any(r.get("completed") is True for r in records) and run.status == RunStatus.OK:
        return summarise("functional", [(True, None, None)], 1)
    for record in records:
        if "load_error" in record:
            return summarise("functional", [(False, RunStatus.RUNTIME_ERROR, f"solution failed to load: {record['load_error']}")], 1)
        if "timeout" in record:
            return summarise("functional", [(False, RunStatus.TIMEOUT, record["timeout"])], 1)
        if "failed" in record:
            return summarise("functional", [(False, "wrong_output", record["failed"])], 1)
    status = run.status if run.status != RunStatus.OK else RunStatus.RUNTIME_ERROR
    return summarise("functional", [(False, status, run.reason or "the tests did not run to completion")], 1)


def assertion_program(
    runner: Runner, code: str, test: str, prelude: str | None, style: str | None, stderr_fails: bool
) -> VerifierOutcome:
    """A test program in a compiled or script language, run with the solution: one run,
    which passes or not (see :mod:`services.domains.code.programs`)."""
    from services.domains.code.programs import assemble, passed

    try:
        program = assemble(runner.language, code, test, prelude, style)
    except ValueError as exc:
        return VerifierOutcome(score=0.0, verdict=Verdict.ERROR, reason=f"label: {exc}")
    result = runner.run(
        source=program.source, language=program.language, files=program.files, entry=program.entry,
        time_limit_s=min(runner.per_test_s, max(0.1, runner.budget_left_s)),
    )  # fmt: skip
    if result.status == RunStatus.CANCELLED:
        return _cancelled()
    if result.status == RunStatus.OK:
        ok, why = passed(program, result.exit_code, result.stdout, result.stderr, stderr_fails)
        status = None if ok else "failed"
    else:
        ok, status = False, result.status
        why = result.reason or (result.stderr.strip()[-500:] if result.stderr else None)
    outcome = summarise("program", [(ok, status, why)], 1)
    outcome.details["runner"] = program.language
    return outcome
