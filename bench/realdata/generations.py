"""Generations files with a known share of right samples, built from real benchmark problems.

For each problem of each benchmark, k samples: ``c`` of them right (the gold answer or the
reference solution, in the forms models write, from :mod:`bench.realdata.cases`) and the
rest wrong (another problem's answer or solution, a flipped role, a wrong cell, a wrong
output), where ``c`` cycles through 0..k over the problems. Every sample is distinct (its
think text names it), as real samples are, so no result cache makes scoring look cheaper.
A report over such a file must give exactly the share this module says, per benchmark,
domain and overall; ``expected_pass_at_k`` gives pass@k by brute force.

``python -m bench.realdata.generations [DATA_DIR] --out FILE -k 4`` writes one over every
benchmark (ZebraLogic, which has no public file, from puzzles generated in its grid-mode
form, when no ``--file zebralogic=PATH`` is given).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from statistics import fmean
from typing import Any

from bench.realdata.cases import Case, cases_for, prompt_text
from evaluation.benchmarks import (
    BENCHMARKS,
    BenchmarkError,
    default_data_dir,
    load_benchmark,
    parse_files,
    parse_names,
)
from trainer.data.io import write_jsonl
from trainer.data.tasks import Task

THINK = "Let me work this out step by step."


@dataclass
class Built:
    rows: list[dict[str, Any]] = field(default_factory=list)
    right: dict[str, list[list[bool]]] = field(default_factory=lambda: defaultdict(list))
    """benchmark -> per problem, which samples are right."""
    dropped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """benchmark -> problems without both a right and a wrong answer to build (left out)."""

    def expected_accuracy(self, name: str) -> float:
        flags = [f for problem in self.right[name] for f in problem]
        return sum(flags) / len(flags)

    def expected_pass_at_k(self, name: str, k: int) -> float:
        """pass@k by brute force: the share of k-subsets of each problem's samples with a right one."""
        per_problem = []
        for flags in self.right[name]:
            subsets = list(combinations(flags, k))
            per_problem.append(sum(any(s) for s in subsets) / len(subsets))
        return fmean(per_problem)


def _answer(case: Case) -> str:
    return case.item["response"].split("<answer>", 1)[1].rsplit("</answer>", 1)[0]


def _positions_cases(task: Task) -> list[Case]:
    """ZebraLogic's positional grids (``{header, rows}``), which the real-data cases leave to
    the unit tests: the gold grid, and the grid with one cell swapped between two rows."""
    solution = task.label["solution"]
    prompt = prompt_text(task)
    opened = prompt.rstrip().endswith("<think>")

    def case(form: str, grid: dict[str, Any], expect: str) -> Case:
        response = ("" if opened else "<think>") + f"{THINK}</think> <answer>{json.dumps(grid)}</answer>"
        return Case(task.source, form, {"response": response, "label": task.label, "prompt": prompt}, expect)

    rows = [list(r) for r in solution["rows"]]
    swapped = [list(r) for r in rows]
    swapped[0][-1], swapped[1][-1] = swapped[1][-1], swapped[0][-1]
    return [case("gold grid", solution, "one"), case("two cells swapped", {**solution, "rows": swapped}, "below")]


def answers_by_task(tasks: list[Task]) -> list[tuple[Task, list[str], list[str]]]:
    """Each task with its right answers and its wrong ones (either list may be empty)."""
    cases = cases_for([t for t in tasks if "header" not in t.label.get("solution", {})])
    grouped: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in cases:
        grouped[(case.item["prompt"], json.dumps(case.item["label"], sort_keys=True))].append(case)
    out = []
    for task in tasks:
        if "header" in task.label.get("solution", {}):
            mine = _positions_cases(task)
        else:
            mine = grouped.get((prompt_text(task), json.dumps(task.label, sort_keys=True)), [])
        right = [_answer(c) for c in mine if c.expect == "one"]
        wrong = [_answer(c) for c in mine if c.expect in ("zero", "below") or (c.expect == "exact" and c.score < 1)]
        out.append((task, right, wrong))
    return out


def build(
    tasks_by_benchmark: dict[str, list[Task]], k: int, seed: int = 0, shares: dict[str, float] | None = None
) -> Built:
    """Rows (one per problem, ``responses`` holding k samples) with a known share right: the
    number right cycles through 0..k over the problems, or, for a benchmark given a share,
    each sample is right with that probability (drawn from the seeded generator)."""
    rng = random.Random(seed)
    shares = shares or {}
    built = Built()
    for name, tasks in tasks_by_benchmark.items():
        kept = 0
        for task, right, wrong in answers_by_task(tasks):
            if not right or not wrong:
                built.dropped[name] += 1
                continue
            prompt = prompt_text(task)
            opened = prompt.rstrip().endswith("<think>")
            if name in shares:
                flags = [rng.random() < shares[name] for _ in range(k)]
            else:
                flags = [j < kept % (k + 1) for j in range(k)]
                rng.shuffle(flags)
            responses = []
            for j, is_right in enumerate(flags):
                pool = right if is_right else wrong
                think = f"Sample {j}. {THINK}"
                responses.append(("" if opened else "<think>") + f"{think}</think> <answer>{pool[j % len(pool)]}</answer>")
            row = task.to_row()
            row.update({"prompt": prompt, "template": "base", "benchmark": name, "id": f"{name}/{kept}",
                        "responses": responses})
            built.rows.append(row)
            built.right[name].append(flags)
            kept += 1
    return built


def zebralogic_standin(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Rows in ZebraLogic's grid-mode form (``id``, ``size``, ``puzzle``, ``solution`` with
    ``header`` and positional ``rows``) from this project's puzzle generator: ZebraLogic's
    own file is gated, so it stands in for the file a user would supply."""
    from generators import generate_zebra

    rows = []
    for index, row in enumerate(generate_zebra(n, houses=4, attributes=3, seed=seed)):
        houses = row["label"]["solution"]
        header = ["House", *next(iter(houses.values())).keys()]
        grid = [[str(i), *values.values()] for i, values in enumerate(houses.values(), start=1)]
        puzzle = row["prompt"].split("\n\nWork out the whole grid", 1)[0]
        rows.append({"id": f"standin-{index}", "size": f"{len(grid)}*{len(header) - 1}", "puzzle": puzzle,
                     "solution": {"header": header, "rows": grid}})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.realdata.generations", description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, required=True, help="the generations file to write (JSONL)")
    parser.add_argument("--benchmarks", default="all")
    parser.add_argument("--file", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("-k", type=int, default=4, help="samples per problem")
    parser.add_argument("--limit", type=int, default=None, help="problems per benchmark")
    parser.add_argument("--share", action="append", default=[], metavar="NAME=FRACTION",
                        help="samples right with this probability (default: 0..k right, cycling over problems)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        names = parse_names(args.benchmarks)
        files = parse_files(args.file)
        shares = {name: float(value) for name, _, value in (s.partition("=") for s in args.share)}
    except (BenchmarkError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if "zebralogic" in names and "zebralogic" not in files:
        standin = args.out.with_name(args.out.stem + ".zebralogic-standin.jsonl")
        write_jsonl(standin, zebralogic_standin(args.limit or 100, seed=args.seed))
        files["zebralogic"] = standin
        print(f"zebralogic: no file given; generated puzzles in its grid-mode form stand in: {standin}")
    tasks = {}
    for name in names:
        tasks[name] = load_benchmark(name, args.data_dir, files.get(name), args.limit).tasks
    built = build(tasks, args.k, args.seed, shares)
    write_jsonl(args.out, built.rows)
    for name in names:
        print(f"{BENCHMARKS[name].title:>10}: {len(built.right[name])} problems x {args.k}, "
              f"{100 * built.expected_accuracy(name):.2f}% right, {built.dropped[name]} left out")
    print(f"wrote {len(built.rows)} rows to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
