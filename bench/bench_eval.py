"""``reward eval`` in-process against scoring one item at a time, side by side in one run.

Corpora: MATH500 x 8 samples and HumanEval x 8 samples, built from the real problems with
a known share right (:mod:`bench.realdata.generations`: gold answers in the forms models
write, reference solutions; the rest wrong), every sample distinct.

- math (two alternating rounds, one with ``--quick``): ``reward eval``'s in-process scoring (the embedded verifier pool, pool start
  included) against math-verify called directly, one item after another in one process
  (``verify(parse(gold), parse(response))``), the way an evaluation script usually does it;
- also the service's math verifier called one item at a time in the bench's own process (no
  pool): what the verifier costs, apart from the pool that makes its time limits killable;
- code: the same scoring against one ``python`` subprocess per program (solution, then the
  test, then ``check(entry_point)``; passed when it exits 0), one after another.

Each ratio is the baseline's time over ``reward eval``'s (above 1: ``reward eval`` is faster);
``reward eval``'s time includes starting its verifier pool (``in_process_start_s`` shows that
fixed cost alone). No target is set: the figures say what the pool, the sandbox and the
per-item time limits cost or save against the plain loops.
The share of samples on which both agree is reported too. MATH500 comes from ``../shared/data``
when present, else the 24 MATH500 problems in tests/data/realdata.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.realdata.generations import build
from evaluation.benchmarks import default_data_dir, load_benchmark
from evaluation.evaluate import evaluate
from evaluation.generations import read_generations
from trainer.data.io import write_jsonl

console = Console()
REPO = Path(__file__).resolve().parent.parent
K = 8
_FENCE = re.compile(r"```(?:python)?[^\n]*\n(.*?)```", re.DOTALL)


def _problems(name: str, limit: int | None, workdir: Path) -> tuple[list, str]:
    data = default_data_dir()
    if name == "math500" and data is None:
        origin = "tests/data/realdata (no ../shared/data)"
        tasks = load_benchmark(name, None, REPO / "tests" / "data" / "realdata" / "deepscaler_test.jsonl", limit).tasks
    else:
        loaded = load_benchmark(name, data, None, limit)
        tasks, origin = loaded.tasks, loaded.origin
    built = build({name: tasks}, K, seed=0)
    path = workdir / f"{name}.jsonl"
    write_jsonl(path, built.rows)
    return read_generations([path]), origin


def _in_process(problems: list) -> tuple[float, list[bool]]:
    started = time.perf_counter()
    report, records = evaluate(problems, name="bench", progress=False)
    elapsed = time.perf_counter() - started
    return elapsed, [r["score"] >= 1.0 for r in records]


def _math_direct(problems: list) -> tuple[float, list[bool]]:
    from math_verify import parse, verify

    verdicts = []
    started = time.perf_counter()
    for problem in problems:
        gold = json.loads(problem.label)["answer"]
        for response in problem.responses:
            verdicts.append(bool(verify(parse(f"${gold}$"), parse(response))))
    return time.perf_counter() - started, verdicts


def _verifier_serial(problems: list) -> float:
    """The service's math verifier called one item after another in this process: the
    verifier's own cost, without the pool (and without its killable time limits)."""
    from services.scoring import score_item

    started = time.perf_counter()
    for problem in problems:
        for response in problem.responses:
            score_item(response, problem.label, problem.prompt)
    return time.perf_counter() - started


def _program(problem: Any, response: str) -> str:
    label = json.loads(problem.label)
    answer = response.rsplit("<answer>", 1)[-1]
    blocks = _FENCE.findall(answer)
    code = blocks[-1] if blocks else answer
    return "\n".join([label.get("prelude") or "", code, label["tests"]["functional"]])


def _code_subprocess(problems: list, workdir: Path) -> tuple[float, list[bool]]:
    verdicts = []
    program = workdir / "program.py"
    started = time.perf_counter()
    for problem in problems:
        for response in problem.responses:
            program.write_text(_program(problem, response))
            try:
                run = subprocess.run([sys.executable, str(program)], capture_output=True, timeout=10, cwd=workdir)
                verdicts.append(run.returncode == 0)
            except subprocess.TimeoutExpired:
                verdicts.append(False)
    return time.perf_counter() - started, verdicts


def _agreement(a: list[bool], b: list[bool]) -> float:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def main(quick: bool = False) -> dict[str, Any]:
    figures: dict[str, Any] = {"samples_per_problem": K}
    ratios = []
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        workdir = Path(tmp)
        math, math_origin = _problems("math500", 100 if quick else None, workdir)
        code, _ = _problems("humaneval", 40 if quick else None, workdir)
        samples_math = sum(len(p.responses) for p in math)
        samples_code = sum(len(p.responses) for p in code)
        console.print(f"MATH500: {len(math)} problems x {K} ({math_origin}); HumanEval: {len(code)} x {K}")

        # The fixed cost inside each in-process figure: the pool's start and a first sample.
        start_s, _ = _in_process([replace(math[0], responses=math[0].responses[:1])])
        # Math alternates the two sides over rounds (the machine is shared and its load drifts).
        direct_s = eval_math_s = 0.0
        for _ in range(1 if quick else 2):
            seconds, direct = _math_direct(math)
            direct_s += seconds
            seconds, eval_math = _in_process(math)
            eval_math_s += seconds
        serial_s = _verifier_serial(math)
        subprocess_s, by_subprocess = _code_subprocess(code, workdir)
        eval_code_s, eval_code = _in_process(code)

    figures["in_process_start_s"] = round(start_s, 2)
    rounds = 1 if quick else 2
    figures["math500"] = {
        "problems": len(math), "samples": samples_math, "source": math_origin, "rounds": rounds,
        "math_verify_direct_s": round(direct_s, 2), "reward_eval_s": round(eval_math_s, 2),
        "speedup_ratio": round(direct_s / eval_math_s, 3), "agreement": round(_agreement(direct, eval_math), 4),
        "verifier_serial_s": round(serial_s, 2),
        "verifier_serial_vs_math_verify_ratio": round(direct_s / rounds / serial_s, 3),
        "right_by_reward_eval": sum(eval_math), "right_by_math_verify": sum(direct),
    }  # fmt: skip
    figures["humaneval"] = {
        "problems": len(code), "samples": samples_code,
        "subprocess_per_program_s": round(subprocess_s, 2), "reward_eval_s": round(eval_code_s, 2),
        "speedup_ratio": round(subprocess_s / eval_code_s, 3), "agreement": round(_agreement(by_subprocess, eval_code), 4),
        "right_by_reward_eval": sum(eval_code), "right_by_subprocess": sum(by_subprocess),
    }  # fmt: skip
    ratios.append({
        "name": f"MATH500 x {K}: math-verify one at a time / reward eval in-process",
        "value": figures["math500"]["speedup_ratio"],
        "baseline": f"math-verify direct loop, {direct_s:.1f} s for {rounds} x {samples_math} samples",
    })  # fmt: skip
    ratios.append({
        "name": f"HumanEval x {K}: subprocess per program / reward eval in-process",
        "value": figures["humaneval"]["speedup_ratio"],
        "baseline": f"one python subprocess per program, {subprocess_s:.1f} s for {samples_code} samples",
    })  # fmt: skip
    figures["ratios"] = ratios
    for row in ratios:
        console.print(f"{row['name']}: {row['value']:.2f} ({row['baseline']})")
    console.print(f"agreement: math {figures['math500']['agreement']:.4f}, code {figures['humaneval']['agreement']:.4f}")
    return figures


if __name__ == "__main__":
    print(json.dumps(main(quick="--quick" in sys.argv), indent=2))
