"""Checkers: a label's own program that judges a stdin/stdout test's output.

A problem with more than one right output ("print any valid arrangement", a real number
within an error) cannot be judged by comparing text. Its label carries a checker, which
gets the test's input, the jury's answer and the candidate's output and says how right
the output is: 1 (accepted), 0 (rejected) or a fraction (partial points).

Two forms:

* ``python``: a function ``check(input, expected, output)`` returning a bool, a number in
  [0, 1], or ``(number, message)``;
* ``cpp``: a checker written against testlib's conventions, compiled once (the sandbox
  caches it by its source and the header's bytes) against our own header
  (``testlib.h`` here), or the real testlib.h when ``REWARD_TESTLIB_H`` names it.

A checker is not trusted code either: it runs in the sandbox, in its own run with its own
limits, after the candidate's run ended (so the candidate never sees the expected output).
A checker that crashes, runs past its limits or reports a failure of its own makes the
item an ``error`` that says so, never a wrong answer.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

HEADER_ENV = "REWARD_TESTLIB_H"
BUNDLED_HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testlib.h")
DEFAULT_CHECKER_TIME_LIMIT_S = 5.0
DEFAULT_CHECKER_MEMORY_MB = 512
INPUT, OUTPUT, ANSWER = "input.txt", "output.txt", "answer.txt"
_MARK = "\x1ereward-checker-result "
"""Starts the line the Python harness reports the checker's result on."""


class Checker(BaseModel):
    """A label's checker (stdin/stdout tests only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    language: Literal["python", "cpp"] = Field(
        description="python: a function check(input, expected, output) -> bool | float; "
        "cpp: a testlib-style checker (registerTestlibCmd, inf/ouf/ans, quitf, quitp)"
    )
    source: str = Field(min_length=1, description="the checker's source")
    time_limit_s: float = Field(
        default=DEFAULT_CHECKER_TIME_LIMIT_S, gt=0, le=60, description="CPU seconds per test"
    )
    memory_mb: int = Field(default=DEFAULT_CHECKER_MEMORY_MB, gt=0, le=4096)


@dataclass(slots=True)
class Judgement:
    """What a checker said of one test: ``score`` in [0, 1], or ``error`` when the checker
    itself failed (then nothing is known about the output)."""

    score: float
    message: str | None = None
    error: str | None = None


# --------------------------------------------------------------------------- C++ (testlib)


@lru_cache(maxsize=4)
def _read_header(path: str, mtime_ns: int) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def testlib_header() -> bytes:
    """The header C++ checkers compile against: ``REWARD_TESTLIB_H``'s file, else ours.
    Read again when the file changes (its bytes are part of the compiled checker's key)."""
    path = os.environ.get(HEADER_ENV, "").strip() or BUNDLED_HEADER
    return _read_header(path, os.stat(path).st_mtime_ns)


_ANGLE_INCLUDE = re.compile(r"^(\s*#\s*include\s*)<testlib\.h>", re.M)
_POINTS = re.compile(r"points\s+([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
# testlib's exit codes
_EXIT_OK, _EXIT_WA, _EXIT_PE, _EXIT_FAIL, _EXIT_DIRT, _EXIT_POINTS, _EXIT_EOF = 0, 1, 2, 3, 4, 7, 8
_EXIT_PARTIAL = 50


def _testlib_verdict(exit_code: int, stderr: str) -> Judgement:
    message = stderr.strip()[-500:] or None
    if exit_code == _EXIT_OK:
        return Judgement(1.0, message)
    if exit_code in (_EXIT_WA, _EXIT_PE, _EXIT_DIRT, _EXIT_EOF):
        return Judgement(0.0, message)
    if exit_code == _EXIT_POINTS:
        found = _POINTS.search(stderr)
        if found is None:
            return Judgement(0.0, error=f"the checker gave points but no value: {message}")
        return _fraction(float(found.group(1)), message)
    if _EXIT_PARTIAL <= exit_code <= _EXIT_PARTIAL + 100:
        return Judgement((exit_code - _EXIT_PARTIAL) / 100, message)
    if exit_code == _EXIT_FAIL:
        return Judgement(0.0, error=f"the checker failed: {message}")
    return Judgement(0.0, error=f"the checker exited with code {exit_code}: {message}")


def _cpp_request(checker: Checker, data: dict[str, bytes]) -> dict[str, Any]:
    # Archives write both spellings; the header sits beside the source, where "" finds it.
    source = _ANGLE_INCLUDE.sub(r'\1"testlib.h"', checker.source)
    # testlib's partially-correct exit codes start at 0 unless told otherwise, where they
    # would read as ok or wrong answer: 50 + percent, as our header has them.
    source = f"#define PC_BASE_EXIT_CODE 50\n#line 1\n{source}"
    return {"source": source, "language": "cpp", "compile_files": {"testlib.h": testlib_header()},
            "run_files": data, "argv": [INPUT, OUTPUT, ANSWER]}  # fmt: skip


# --------------------------------------------------------------------------- Python

_HARNESS = f"""\
import contextlib, json, sys

INPUT, ANSWER, OUTPUT, MARK = {INPUT!r}, {ANSWER!r}, {OUTPUT!r}, {_MARK!r}


def _text(name):
    with open(name, encoding="utf-8", errors="surrogateescape") as fh:
        return fh.read()


def _main():
    report = sys.stdout
    namespace = {{"__name__": "checker"}}
    # What the checker prints goes to stderr: stdout carries the result alone.
    with contextlib.redirect_stdout(sys.stderr):
        exec(compile(_text("checker.py"), "checker.py", "exec"), namespace)
        check = namespace.get("check")
        if not callable(check):
            raise SystemExit("the checker defines no check(input, expected, output)")
        result = check(_text(INPUT), _text(ANSWER), _text(OUTPUT))
    message = None
    if isinstance(result, tuple) and len(result) == 2:
        result, message = result
    if not isinstance(result, (bool, int, float)):
        raise SystemExit(f"check() returned {{type(result).__name__}}, not a bool or a number")
    line = json.dumps({{"score": float(result), "message": None if message is None else str(message)[:500]}})
    report.write(MARK + line + "\\n")


_main()
"""


def _python_request(checker: Checker, data: dict[str, bytes]) -> dict[str, Any]:
    return {"source": _HARNESS, "language": "python",
            "run_files": {**data, "checker.py": checker.source.encode("utf-8", "surrogatepass")}}  # fmt: skip


def _python_verdict(stdout: str) -> Judgement:
    lines = [
        line for line in stdout.split("\n") if line.startswith(_MARK)
    ]  # not splitlines: \x1e splits there
    if not lines:
        return Judgement(0.0, error="the checker reported no result")
    try:
        reported = json.loads(lines[-1][len(_MARK) :])
        value = float(reported["score"])
    except (ValueError, KeyError, TypeError):
        return Judgement(0.0, error="the checker's result could not be read")
    return _fraction(value, reported.get("message"))


def _fraction(value: float, message: str | None) -> Judgement:
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        return Judgement(0.0, error=f"the checker gave {value}, not a score in [0, 1]")
    return Judgement(value, message)


# --------------------------------------------------------------------------- running


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8", "surrogateescape")  # a program's bytes as the sandbox read them
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def checker_request(checker: Checker, test_input: str, expected: str, output: str) -> dict[str, Any]:
    """The sandbox run (``RunRequest`` fields) that judges one test's output."""
    data = {INPUT: _encode(test_input), ANSWER: _encode(expected), OUTPUT: _encode(output)}
    request = _python_request(checker, data) if checker.language == "python" else _cpp_request(checker, data)
    return {**request, "time_limit_s": checker.time_limit_s, "memory_mb": checker.memory_mb}


def judgement(checker: Checker, result: Any) -> Judgement:
    """What a checker's run (a ``RunResult``) says of the output."""
    from sandbox.model import RunStatus  # here: reading a label must not load the sandbox

    if result.status == RunStatus.COMPILE_ERROR:
        return Judgement(0.0, error=f"the checker did not compile: {(result.reason or '')[-1500:]}")
    if checker.language == "cpp" and result.status in (RunStatus.OK, RunStatus.RUNTIME_ERROR) and result.signal is None:
        return _testlib_verdict(int(result.exit_code or 0), result.stderr)
    if checker.language == "python" and result.status == RunStatus.OK:
        return _python_verdict(result.stdout)
    why = result.reason or result.status
    if result.status == RunStatus.RUNTIME_ERROR and result.stderr.strip():
        why = result.stderr.strip().splitlines()[-1][:500]
    return Judgement(0.0, error=f"the checker failed ({result.status}): {why}")
