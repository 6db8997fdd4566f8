"""Right and altered answers built from real data, as a model writes them.

Every converted task (:mod:`trainer.data`) gives cases: its gold answer or reference
solution in the forms models write it, each of which must score 1, and altered answers
(another problem's answer, a wrong cell, a flipped role, a wrong output) that must score
less, or exactly what partial credit says. The prompt is the study's own when the source
has one, so the service reads the answer tags the way training will.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

from bench.realdata.countdown_solver import solve
from trainer.data.tasks import Task, kept_prompt


@dataclass
class Case:
    source: str
    """The file (or sub-source) the task came from."""
    form: str
    """How the answer is written (``boxed``, ``plain``, ``reference``) or how it is altered."""
    item: dict[str, Any]
    expect: str
    """``one``: scores 1; ``zero``: scores 0; ``below``: scores less than 1; ``exact``: scores
    ``score``; ``report``: counted, not judged (a dataset's own answer that may be wrong)."""
    score: float | None = None
    tags: dict[str, Any] = field(default_factory=dict)

    def holds(self, got: float) -> bool:
        if self.expect == "one":
            return got == 1.0
        if self.expect == "zero":
            return got == 0.0
        if self.expect == "below":
            return got < 1.0
        if self.expect == "report":
            return got == 1.0
        assert self.score is not None
        return abs(got - self.score) < 1e-9


def prompt_text(task: Task) -> str:
    """The prompt the service sees: the source's own (a chat list joined as a template
    renders it) or the base template."""
    if task.original_prompt:
        kept = kept_prompt(task.original_prompt)
        if "prompt" in kept:
            return kept["prompt"]
        return "\n".join(str(m.get("content", "")) for m in kept["messages"])
    return task.to_row()["prompt"]


def response(prompt: str, answer: str) -> str:
    """A well-formed response: the think block (opened by the prompt or here), then the answer."""
    opened = prompt.rstrip().endswith("<think>")
    return ("" if opened else "<think>") + "Let me work this out step by step.</think> <answer>" + answer + "</answer>"


def _case(task: Task, form: str, answer: str, expect: str, score: float | None = None, **tags: Any) -> Case:
    prompt = prompt_text(task)
    item = {"response": response(prompt, answer), "label": task.label, "prompt": prompt}
    return Case(task.source, form, item, expect, score, tags)


# --------------------------------------------------------------------------- math

MATH_FORMS: dict[str, str] = {
    "boxed": "\\boxed{{{g}}}",
    "dollars": "${g}$",
    "plain": "{g}",
    "parens": "\\({g}\\)",
    "sentence": "The final answer is {g}.",
    "sentence $": "The final answer is ${g}$.",
}


def _equivalent(a: str, b: str) -> bool:
    """Whether two gold answers say the same (two problems may share an answer)."""
    from math_verify import verify

    from services.domains.math import parse_gold

    return bool(verify(list(parse_gold(a)), list(parse_gold(b)), timeout_seconds=None))


def math_cases(tasks: list[Task]) -> list[Case]:
    cases = []
    golds = [t.label["answer"] for t in tasks]
    for index, task in enumerate(tasks):
        gold = task.label["answer"]
        for form, pattern in MATH_FORMS.items():
            cases.append(_case(task, form, pattern.format(g=gold), "one"))
        others = (golds[(index + k) % len(golds)] for k in range(1, min(len(golds), 20)))
        other = next((o for o in others if o.strip() != gold.strip() and not _equivalent(o, gold)), None)
        if other is not None:
            cases.append(_case(task, "another problem's answer", f"${other}$", "zero", other=other))
    return cases


def countdown_cases(tasks: list[Task]) -> list[Case]:
    cases = []
    for task in tasks:
        numbers, target = task.label["numbers"], task.label["target"]
        equation = solve(numbers, target)
        if equation is None:
            continue
        cases.append(_case(task, "equation", equation, "one"))
        cases.append(_case(task, "equation = target", f"{equation} = {target}", "one"))
        cases.append(_case(task, "boxed", f"\\boxed{{{equation}}}", "one"))
        wrong = equation.replace(str(numbers[0]), str(numbers[0] + 1), 1)
        cases.append(_case(task, "a number changed", wrong, "zero"))
    return cases


# --------------------------------------------------------------------------- puzzles


def kk_cases(tasks: list[Task]) -> list[Case]:
    cases = []
    for task in tasks:
        gold: dict[str, str] = task.label["solution"]
        truth, liar = task.label.get("roles", ["knight", "knave"])
        lines = [f"({i}) {name} is a {role}" for i, (name, role) in enumerate(gold.items(), start=1)]
        cases.append(_case(task, "numbered lines", "\n".join(lines), "one"))
        sentence = ", ".join(f"{name} is a {role}" for name, role in gold.items())
        cases.append(_case(task, "one sentence", sentence + ".", "one"))
        first = next(iter(gold))
        flipped = dict(gold, **{first: liar if gold[first] == truth else truth})
        lines = [f"({i}) {name} is a {role}" for i, (name, role) in enumerate(flipped.items(), start=1)]
        cases.append(_case(task, "one role flipped", "\n".join(lines), "exact", (len(gold) - 1) / len(gold)))
    return cases


def _houses(solution: dict[str, Any]) -> list[dict[str, str]]:
    return [dict(row) for _, row in sorted(solution.items(), key=lambda kv: int(re.sub(r"\D", "", kv[0]) or 0))]


def _grid(rows: list[dict[str, str]]) -> str:
    grid = {f"House {i}": row for i, row in enumerate(rows, start=1)}
    return json.dumps({"reasoning": "Worked through the clues.", "solution": grid}, ensure_ascii=False)


def zebra_cases(tasks: list[Task], seed: int = 0) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    for task in tasks:
        solution = task.label["solution"]
        if "header" in solution:  # ZebraLogic positions: covered by the unit tests
            continue
        rows = _houses(solution)
        cells = sum(len(r) for r in rows)
        cases.append(_case(task, "gold rows", _grid(rows), "one"))
        shuffled = rows[:]
        while len(shuffled) > 1 and shuffled == rows:
            rng.shuffle(shuffled)
        cases.append(_case(task, "rows in another order", _grid(shuffled), "one"))
        lower = [{k: v.lower() for k, v in r.items()} for r in rows]
        cases.append(_case(task, "values in lower case", _grid(lower), "one"))
        wrong = [dict(r) for r in shuffled]
        category = next(iter(wrong[0]))
        wrong[0][category] = wrong[1][category] if len(wrong) > 1 else wrong[0][category] + "?"
        cases.append(_case(task, "one wrong cell, rows shuffled", _grid(wrong), "exact", (cells - 1) / cells))
    return cases


# --------------------------------------------------------------------------- code

_DEFINED = re.compile(r"^\s*def\s+(\w+)", re.MULTILINE)
_TACO_CALL = re.compile(r"assert\s+_deep_eq\((?P<name>[A-Za-z_]\w*)\(\*i\)")


def stdio_oracle(inputs: list[Any], outputs: list[Any], wrong_at: int | None = None) -> str:
    """A program that prints each test's expected output for that test's input."""
    table = {str(i): str(o) for i, o in zip(inputs, outputs, strict=True)}
    if wrong_at is not None:
        table[str(inputs[wrong_at])] = "-definitely wrong-\n"
    return (
        "import sys\n"
        f"TABLE = {table!r}\n"
        "data = sys.stdin.read()\n"
        "sys.stdout.write(TABLE.get(data, TABLE.get(data.rstrip('\\n'), '')))\n"
    )


def call_oracle(check: str) -> str | None:
    """For TACO's call-based tests written as asserts: a function answering each recorded
    input with its recorded output (read from the test's own ``_inputs`` / ``_outputs``)."""
    name = _TACO_CALL.search(check)
    if name is None:
        return None
    return (
        check.split("import math", 1)[0]
        + "import json\n"
        + "_TABLE = {json.dumps(i): o[0] for i, o in zip(_inputs, _outputs)}\n"
        + f"def {name.group('name')}(*args):\n    return _TABLE[json.dumps(list(args))]\n"
    )


def code_cases(tasks: list[Task]) -> list[Case]:
    cases = []
    references = [t.reference for t in tasks if t.reference]
    for task in tasks:
        tests = task.label["tests"]
        if task.reference and task.source.startswith("coder1/likaixin"):
            # TACO's references are as the dataset gives them, some broken: reported, not
            # judged; the oracles below are this file's right answers.
            cases.append(_case(task, "TACO reference, as given", task.reference, "report"))
        elif task.reference:
            cases.append(_case(task, "reference solution", task.reference, "one"))
            # Another problem's solution, one that defines other names (two versions of a
            # LeetCode problem share a method, and one's solution may solve the other).
            mine = set(_DEFINED.findall(task.reference))
            other = next((r for r in references if r != task.reference and not set(_DEFINED.findall(r)) & mine), None)
            if other:
                cases.append(_case(task, "another problem's solution", other, "below"))
        if tests.get("inputs") is not None and not tests.get("fn_name"):
            oracle = stdio_oracle(tests["inputs"], tests["outputs"])
            cases.append(_case(task, "oracle program", f"```python\n{oracle}```", "one"))
            wrong = stdio_oracle(tests["inputs"], tests["outputs"], wrong_at=len(tests["inputs"]) - 1)
            cases.append(_case(task, "oracle, last test wrong", f"```python\n{wrong}```", "below"))
        elif tests.get("functional"):
            oracle = call_oracle(tests["functional"])
            if oracle is not None:
                cases.append(_case(task, "oracle function", f"```python\n{oracle}```", "one"))
                cases.append(_case(task, "oracle, tables cleared", f"```python\n{oracle}_TABLE.clear()\n```", "zero"))
    return cases


BUILDERS = {"math": math_cases, "countdown": countdown_cases, "kk": kk_cases, "zebra": zebra_cases, "code": code_cases}


def cases_for(tasks: list[Task]) -> list[Case]:
    """Every case of a file's tasks, grouped by domain."""
    by_domain: dict[str, list[Task]] = {}
    for task in tasks:
        by_domain.setdefault(task.domain, []).append(task)
    return [case for domain, members in by_domain.items() for case in BUILDERS[domain](members)]
