"""Per-problem time limits from the reference solutions (trainer.data.limits, trainer.data.calibrate)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from services.labels import LabelError, parse_label
from services.scoring import score_item
from trainer.data.calibrate import check, measure, reset_limits
from trainer.data.calibrate_report import check_figures
from trainer.data.formats.code import convert_mbpp
from trainer.data.limits import LimitPolicy, answer, calibrated, measuring_labels, with_limit


def fenced(code: str) -> str:
    return f"```python\n{code}\n```"


class InProcess:
    """The client interface of :func:`trainer.data.calibrate.measure`, scoring in this process."""

    def score(self, items, options=None, deadline_s=None):
        return [
            score_item(i["response"], i["label"], i["prompt"], layers=(options,))
            for i in items
        ]


class Table:
    """A client whose answers are given: (passes, CPU seconds) per answer text."""

    def __init__(self, table):
        self.table = table

    def score(self, items, options=None, deadline_s=None):
        out = []
        for item in items:
            ok, cpu = self.table[item["response"]]
            out.append(SimpleNamespace(score=1.0 if ok else 0.0, verdict="correct" if ok else "timeout",
                                       details={"cpu_ms": cpu * 1000, "reason": None}))  # fmt: skip
        return out


def test_the_limit_is_a_multiple_of_the_slowest_rounded_up_and_clamped():
    policy = LimitPolicy(multiple=3, floor_s=0.5, ceiling_s=4)
    assert policy.limit(0.01) == 0.5
    assert policy.limit(0.4) == 1.2
    assert policy.limit(0.41) == 1.3
    assert policy.limit(2.0) == 4
    assert policy.limit(2.0, ceiling_s=10) == 6.0
    with pytest.raises(ValueError):
        LimitPolicy(multiple=3, floor_s=5, ceiling_s=4)


def test_where_a_limit_comes_from():
    policy = LimitPolicy()
    code = {"domain": "code", "tests": {"functional": "assert f() == 1"}}
    assert calibrated(code, 0.2, policy) == {**code, "time_limit_s": 0.6, "time_limit_source": "reference"}
    assert calibrated(code, None, policy) == {**code, "time_limit_source": "default"}
    stated = {**code, "time_limit_s": 2.0}
    assert calibrated(stated, 0.01, policy)["time_limit_s"] == 2.0
    assert calibrated(stated, 0.01, policy)["time_limit_source"] == "dataset"
    again = calibrated(calibrated(code, 0.2, policy), 0.3, policy)
    assert (again["time_limit_s"], again["time_limit_source"]) == (0.9, "reference")
    assert calibrated({"domain": "math", "answer": "1"}, 0.2, policy) == {"domain": "math", "answer": "1"}


def test_mbpp_harness_limit_is_a_default_and_its_ceiling():
    row = {"prompt": "Write f.", "test_list": ["assert f() == 1"], "code": "def f():\n    return 1\n"}
    label = convert_mbpp(row).label
    assert label["time_limit_source"] == "default"
    assert calibrated(label, 3.0, LimitPolicy())["time_limit_s"] == 9.0
    assert calibrated(label, 0.01, LimitPolicy())["time_limit_s"] == 0.5


def test_the_label_schema_reads_the_source_and_refuses_others():
    label = {"domain": "code", "tests": {"inputs": ["1"], "outputs": ["1"]}, "time_limit_s": 1.0}
    assert parse_label({**label, "time_limit_source": "reference"}).time_limit_source == "reference"
    with pytest.raises(LabelError):
        parse_label({**label, "time_limit_source": "guess"})
    with pytest.raises(ValueError):
        with_limit(label, 1.0, "guess")


def test_tests_run_one_at_a_time_are_measured_one_at_a_time():
    stdio = {"domain": "code", "tests": {"inputs": ["1", "2"], "outputs": ["1", "2"]}}
    assert [m["tests"] for m in measuring_labels(stdio)] == [
        {"inputs": ["1"], "outputs": ["1"]},
        {"inputs": ["2"], "outputs": ["2"]},
    ]
    call = {"domain": "code", "tests": {"fn_name": "f", "inputs": [[1], [2]], "outputs": [1, 2]}}
    assert [m["tests"]["inputs"] for m in measuring_labels(call)] == [[[1]], [[2]]]
    functional = {"domain": "code", "tests": {"functional": "assert f(1) == 1\nassert f(2) == 2"}}
    assert measuring_labels(functional) == [functional]


WORK = "def work(n):\n    total = 0\n    for i in range({n}):\n        total += i * i % 7\n    return total\n"
PROGRAM = "n = int(input())\n{work}print(sum(work(n) for _ in range({times})) // {times})\n"


def test_a_correct_solution_twice_as_slow_as_the_reference_passes_under_its_calibrated_limit():
    # The reference does the work once, enough CPU for the multiple (not the floor) to set
    # the limit; a right answer doing it twice must still pass, one spinning must not.
    loops = 3_000_000
    work = WORK.format(n="n")
    reference = fenced(PROGRAM.format(work=work, times=1))
    expected = str(sum(i * i % 7 for i in range(loops)))
    label = {"domain": "code", "tests": {"inputs": [f"{loops}\n"], "outputs": [expected]}}
    rows = [{"label": json.dumps(label), "reference": reference}]
    policy = LimitPolicy(multiple=3, floor_s=0.1, ceiling_s=30)
    calibration = measure(rows, policy, runs=2, client=InProcess())
    new = json.loads(calibration.rows[0]["label"])
    assert new["time_limit_source"] == "reference"
    assert new["time_limit_s"] > policy.floor_s
    assert new["time_limit_s"] == policy.limit(calibration.slowest_s[0])
    twice = fenced(PROGRAM.format(work=work, times=2))
    assert score_item(answer(twice), new, "twice")["score"] == 1.0
    spin = fenced("while True:\n    pass")
    result = score_item(answer(spin), new, "spin")
    assert result["verdict"] == "timeout"


def test_a_reference_that_fails_sets_no_limit_and_is_not_checked():
    label = {"domain": "code", "tests": {"inputs": ["1\n"], "outputs": ["1\n"]}}
    good, bad = fenced("print(1)"), fenced("print(2)")
    rows = [
        {"label": label, "reference": bad},
        {"label": label, "reference": [good, bad], "oracles": ["oracle"]},
        {"label": {**label, "time_limit_s": 2}, "reference": good},
    ]
    table = Table({answer(good): (True, 0.4), answer(bad): (False, 0.0), answer("oracle"): (True, 2.0)})
    calibration = measure(rows, LimitPolicy(), runs=2, client=table)
    assert calibration.sources == ["default", "reference", "dataset"]
    assert calibration.broken == 2
    assert calibration.rows[1]["label"]["time_limit_s"] == 1.2
    check(calibration, runs=3, client=table)
    assert {(p.row, p.kind) for p in calibration.checked} == {(1, "reference"), (1, "oracle")}
    figures = check_figures(calibration, LimitPolicy())
    assert (figures["reference"]["failed"], figures["oracle"]["failed"]) == (0, 0)
    # The oracle's 2 s is over the limit every multiple up to 4 gives (0.4 s x 4 = 1.6 s).
    assert figures["oracle"]["would_fail_at_multiple"]["4"] == 1
    assert figures["reference"]["would_fail_at_multiple"]["1"] == 0
    assert reset_limits(calibration.rows)[1]["label"] == {**label, "time_limit_source": "default"}


def test_code_rows_keep_their_reference_for_calibration():
    row = {"prompt": "Write f.", "test_list": ["assert f() == 1"], "code": "def f():\n    return 1\n"}
    assert convert_mbpp(row).to_row()["reference"] == fenced("def f():\n    return 1")


def test_the_command_takes_calibrated_limits_out_again(tmp_path):
    from trainer.data.__main__ import main

    label = {"domain": "code", "tests": {"inputs": ["1\n"], "outputs": ["1\n"]}}
    rows = [
        {"label": json.dumps(with_limit(label, 0.5, "reference"))},
        {"label": json.dumps(with_limit(label, 2.0, "dataset"))},
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["calibrate", str(source), str(tmp_path / "out.jsonl"), "--reset"]) == 0
    out = [
        json.loads(json.loads(line)["label"]) for line in (tmp_path / "out.jsonl").read_text().splitlines()
    ]
    assert out == [with_limit(label, None, "default"), with_limit(label, 2.0, "dataset")]
