"""Per-problem time limits from the reference solutions, the way judges set them.

A code label's ``time_limit_s`` is the CPU a test may take. One number for every problem
makes every program that never finishes cost that number, whatever the problem: on the
study's code data 5 % of a GRPO step's samples spinning to the 4 s default were 92 % of
its CPU. Judges (Codeforces, Polygon, ICPC) instead set a problem's limit from its
reference solutions: a multiple of the slowest one. This module holds that rule and what
it needs (the measuring items, the limit, the label that records it); running the items
is :mod:`trainer.data.calibrate`'s.

A reference's time is measured per test: a stdin/stdout test, a call-based test (each
measured in a run of its own, so the run's CPU is an upper bound of the call's) or a
functional check (its asserts in one run, as the limit applies). The limit is
``multiple x`` the slowest test of the slowest reference over every measuring run,
rounded up to 0.1 s, clamped between ``floor`` and ``ceiling``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from services.domains.code import DEFAULT_TEST_TIME_LIMIT_S

MULTIPLE = 3.0
"""Judges use 2 to 3 times the slowest reference; 3 because the CPU a run is charged grows
when the machine is loaded (shared caches, the other hyperthread): the calibration check
measures how much (see docs/sandbox.md, "Time limits")."""
FLOOR_S = 0.5
"""The least limit: far above what any run costs before its first line (a trivial stdin
program 2 ms of CPU, a LeetCode check with its prelude 20 ms, ``import numpy`` 80 ms on
the test machine), so a correct solution's fixed costs never decide its reward, even
with the machine loaded."""
CEILING_S = DEFAULT_TEST_TIME_LIMIT_S
"""The most: the service's default, so calibration only ever lowers a limit (a label whose
own default is higher, MBPP's 10 s harness limit, keeps that as its ceiling)."""
STEP_S = 0.1

SOURCES = ("reference", "dataset", "default")


@dataclass(frozen=True)
class LimitPolicy:
    multiple: float = MULTIPLE
    floor_s: float = FLOOR_S
    ceiling_s: float = CEILING_S

    def __post_init__(self) -> None:
        if self.multiple <= 0 or self.floor_s <= 0 or self.ceiling_s < self.floor_s:
            raise ValueError("need multiple > 0 and 0 < floor <= ceiling")

    def limit(self, slowest_cpu_s: float, ceiling_s: float | None = None) -> float:
        """The limit for a problem whose slowest reference test took ``slowest_cpu_s``."""
        ceiling = max(self.ceiling_s, ceiling_s or 0.0)
        raw = math.ceil(round(self.multiple * slowest_cpu_s / STEP_S, 6)) * STEP_S
        return round(min(ceiling, max(self.floor_s, raw)), 3)


def references_of(row: dict[str, Any]) -> list[str]:
    """A row's reference solutions as answers (``reference``: one, or a list)."""
    value = row.get("reference")
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str) and v.strip()]


def calibratable(label: dict[str, Any]) -> bool:
    """Whether calibration may set this label's limit: a code label whose limit is unset or
    a default. A limit the dataset states (or one set with no source) is honoured."""
    if label.get("domain") != "code":
        return False
    return label.get("time_limit_s") is None or label.get("time_limit_source") in ("default", "reference")


def measuring_labels(label: dict[str, Any]) -> list[dict[str, Any]]:
    """The label split into one label per test where its tests run one at a time
    (stdin/stdout, call-based), so a run's CPU is one test's; a functional check whole."""
    tests = label.get("tests") or {}
    inputs, outputs = tests.get("inputs"), tests.get("outputs")
    if tests.get("functional") or not isinstance(inputs, list) or not isinstance(outputs, list):
        return [label]
    return [
        {**label, "tests": {**tests, "inputs": [i], "outputs": [o]}}
        for i, o in zip(inputs, outputs, strict=True)
    ]


def with_limit(label: dict[str, Any], limit_s: float | None, source: str) -> dict[str, Any]:
    """The label with its limit and where it came from (``limit_s`` None: the service's
    default, the key left out)."""
    if source not in SOURCES:
        raise ValueError(f"time_limit_source must be one of {SOURCES}")
    out = {k: v for k, v in label.items() if k not in ("time_limit_s", "time_limit_source")}
    if limit_s is not None:
        out["time_limit_s"] = limit_s
    out["time_limit_source"] = source
    return out


def ceiling_of(label: dict[str, Any]) -> float | None:
    """A default-sourced limit the label carries (MBPP's harness limit): its ceiling."""
    if label.get("time_limit_source") == "default" and label.get("time_limit_s"):
        return float(label["time_limit_s"])
    return None


def measuring_limit(label: dict[str, Any], policy: LimitPolicy) -> float:
    """The limit a reference is measured under: the most calibration could give (never a
    limit an earlier calibration set, which a slower reference could exceed)."""
    return max(policy.ceiling_s, ceiling_of(label) or 0.0)


def calibrated(label: dict[str, Any], slowest_cpu_s: float | None, policy: LimitPolicy) -> dict[str, Any]:
    """The label with its calibrated limit; ``slowest_cpu_s`` None (no reference that passes
    under the current limit) leaves the limit as it is, recorded as ``default``; a limit
    the dataset states is kept as ``dataset``."""
    if label.get("domain") != "code":
        return label
    if not calibratable(label):
        return with_limit(label, label.get("time_limit_s"), "dataset")
    if slowest_cpu_s is None:
        current = label.get("time_limit_s") if label.get("time_limit_source") != "reference" else None
        return with_limit(label, current, "default")
    return with_limit(label, policy.limit(slowest_cpu_s, ceiling_of(label)), "reference")


def answer(code_answer: str) -> str:
    """A response around a reference answer (its fenced code), as a model writes it."""
    return f"<think>The reference solution.</think> <answer>{code_answer}</answer>"
