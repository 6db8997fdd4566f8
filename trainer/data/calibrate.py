"""Calibrating a converted code dataset's time limits from its reference solutions.

``python -m trainer.data calibrate IN OUT`` (:func:`main`): each code row's references
(the ``reference`` column the converters write) are scored through the service ``--runs``
times under the most calibration could give, per test (:mod:`trainer.data.limits`); the
slowest passing one sets the row's ``time_limit_s`` (``time_limit_source: reference``).
Rows without a reference that passes keep their limit (``default``); a limit the dataset
states is kept (``dataset``). Then, with ``--check-runs``, every reference is scored again
that many times under its own new limit with ``--load`` processes spinning beside the
service: how many fail, and how many would fail at other multiples (their CPU under load
against the limit each multiple gives). The report (:mod:`trainer.data.calibrate_report`)
goes next to OUT.

Scoring goes through the HTTP service (a local one unless ``--url``), as the trainer's
other tools do; every run has a prompt of its own, so the result cache answers none.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from trainer.data.limits import (
    LimitPolicy,
    answer,
    calibratable,
    calibrated,
    ceiling_of,
    measuring_labels,
    measuring_limit,
    references_of,
    with_limit,
)

CHUNK = 256
"""Items per request round (the progress bar moves per round)."""


@dataclass
class Probe:
    """One answer of one row against one measuring label (a test, or the whole check)."""

    row: int
    answer: str
    kind: str
    """``reference`` (it sets the limit) or ``oracle`` (a right answer that is no solution,
    a table of the tests: checked, never timed for the limit)."""
    label: dict[str, Any]
    runs: list[tuple[bool, float, str]] = field(default_factory=list)
    """Per run: scored 1, CPU seconds, verdict and reason when it did not."""


@dataclass
class Calibration:
    rows: list[dict[str, Any]]
    """The rows with their new labels (as they came: label a JSON string or an object)."""
    sources: list[str | None]
    """Per row: the label's ``time_limit_source`` (None: not a code row)."""
    slowest_s: list[float | None]
    """Per row: the slowest passing reference's slowest test (CPU seconds)."""
    ceilings: list[float | None] = field(default_factory=list)
    """Per row: a default limit of its own that was its ceiling (MBPP's 10 s)."""
    broken: int = 0
    """References that did not score 1 in every measuring run (left out of the limit)."""
    measured: list[Probe] = field(default_factory=list)
    checked: list[Probe] = field(default_factory=list)


def label_of(row: dict[str, Any]) -> dict[str, Any] | None:
    label = row.get("label")
    if isinstance(label, str):
        try:
            label = json.loads(label)
        except json.JSONDecodeError:
            return None
    return label if isinstance(label, dict) else None


def _set_label(row: dict[str, Any], label: dict[str, Any]) -> dict[str, Any]:
    value: Any = json.dumps(label, ensure_ascii=False) if isinstance(row.get("label"), str) else label
    return {**row, "label": value}


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn())  # fmt: skip


def score_probes(client: Any, probes: list[Probe], runs: int, phase: str, progress: Progress | None) -> None:
    """Score every probe ``runs`` times (binary mode), recording each run on the probe."""
    items = [(p, k) for k in range(runs) for p in probes]
    task = (
        progress.add_task(f"{phase}: {len(probes)} answer-tests x {runs}", total=len(items))
        if progress
        else None
    )
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        payload = [{"response": answer(p.answer), "label": p.label, "prompt": f"calibration {phase} {k} {i}"}
                   for i, (p, k) in enumerate(chunk, start=start)]  # fmt: skip
        for (probe, _), result in zip(
            chunk, client.score(payload, {"mode": "binary"}, deadline_s=3600), strict=True
        ):
            cpu = float(result.details.get("cpu_ms", 0.0)) / 1000
            why = "" if result.score == 1 else f"{result.verdict}: {str(result.details.get('reason'))[:200]}"
            probe.runs.append((result.score == 1, cpu, why))
        if progress is not None and task is not None:
            progress.advance(task, len(chunk))


def measure(rows: list[dict[str, Any]], policy: LimitPolicy, runs: int, client: Any,
            progress: Progress | None = None) -> Calibration:  # fmt: skip
    """Measure every calibratable row's references and set its limit."""
    labels = [label_of(r) for r in rows]
    probes = [
        Probe(index, ref, "reference", {**test, "time_limit_s": measuring_limit(label, policy)})
        for index, (row, label) in enumerate(zip(rows, labels, strict=True))
        if label is not None and calibratable(label)
        for ref in references_of(row)
        for test in measuring_labels(label)
    ]
    score_probes(client, probes, runs, "measure", progress)
    slowest: list[float | None] = [None] * len(rows)
    verdicts: dict[tuple[int, str], bool] = {}
    for probe in probes:
        key = (probe.row, probe.answer)
        verdicts[key] = verdicts.get(key, True) and all(ok for ok, _, _ in probe.runs)
    for probe in probes:
        if verdicts[(probe.row, probe.answer)]:
            cpu = max(c for _, c, _ in probe.runs)
            slowest[probe.row] = max(cpu, slowest[probe.row] or 0.0)
    out, sources = [], []
    for index, (row, label) in enumerate(zip(rows, labels, strict=True)):
        if label is None or label.get("domain") != "code":
            out.append(row)
            sources.append(None)
            continue
        new = calibrated(label, slowest[index], policy)
        out.append(_set_label(row, new))
        sources.append(new["time_limit_source"])
    broken = sum(1 for ok in verdicts.values() if not ok)
    ceilings = [ceiling_of(label) if label else None for label in labels]
    return Calibration(out, sources, slowest, ceilings, broken, probes)


def check(calibration: Calibration, runs: int, client: Any, progress: Progress | None = None) -> None:
    """Score every passing reference (and every row's ``oracles``) of the calibrated rows
    ``runs`` times under the row's new limit; the runs go on ``calibration.checked``."""
    passed = {(p.row, p.answer) for p in calibration.measured if all(ok for ok, _, _ in p.runs)}
    probes = []
    for index, row in enumerate(calibration.rows):
        label = label_of(row)
        if label is None or calibration.sources[index] != "reference":
            continue
        answers = [(r, "reference") for r in references_of(row) if (index, r) in passed]
        answers += [(o, "oracle") for o in row.get("oracles") or [] if isinstance(o, str)]
        probes += [Probe(index, a, kind, test) for a, kind in answers for test in measuring_labels(label)]
    score_probes(client, probes, runs, "check", progress)
    calibration.checked = probes


@contextmanager
def spinning(processes: int) -> Iterator[list[subprocess.Popen]]:
    """``processes`` programs spinning on the CPUs for the length of the block (the load
    the check runs under); each is stopped by its own pid."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield spinners
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


@contextmanager
def service(url: str | None) -> Iterator[str]:
    """The service to score through: ``url``, or a local one for the length of the block."""
    if url:
        yield url
        return
    from reward_client.local import start_service

    running = start_service(Path(tempfile.mkdtemp(prefix="calibrate-")))
    try:
        yield running.url
    finally:
        running.stop()


def calibrate_rows(rows: list[dict[str, Any]], policy: LimitPolicy, *, runs: int = 3, check_runs: int = 0,
                   load: int = 0, url: str | None = None, workers: int = 4,
                   show_progress: bool = True) -> Calibration:  # fmt: skip
    """Measure, set the limits, and (``check_runs``) check them under ``load`` spinners."""
    from reward_client.client import RewardClient

    with (
        service(url) as base,
        RewardClient(base, batch_size=32, concurrency=workers, deadline_s=3600) as client,
    ):
        with progress_bar() if show_progress else _no_progress() as progress:
            calibration = measure(rows, policy, runs, client, progress)
            if check_runs:
                with spinning(load):
                    check(calibration, check_runs, client, progress)
    return calibration


@contextmanager
def _no_progress() -> Iterator[None]:
    yield None


def reset_limits(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with calibrated limits taken out again (the service's default), the way to
    turn calibration off for a dataset that has it."""
    out = []
    for row in rows:
        label = label_of(row)
        if label is not None and label.get("time_limit_source") == "reference":
            row = _set_label(row, with_limit(label, None, "default"))
        out.append(row)
    return out
