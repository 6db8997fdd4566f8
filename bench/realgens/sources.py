"""The public model generations the real-generations bench reads, and how each becomes corpus rows.

Every source is a file of a public GitHub repository, kept under ``DATA/raw/<owner>+<name>/``
as the repository holds it (the layout ``SOURCES`` names). Each row of the corpus is one
generation as the model wrote it, the label the service needs for its problem, and the
source's own verdict (``expected``): the flag its authors stored, or the verdict of their
grader re-run here where they stored only the extracted answer (ToRA: its ``pred`` against
``gt``, compared as numbers as its ``math_equal`` does for GSM8K's integer answers).

Identical generations of one problem are kept once: sampled runs repeat short answers
many times, and a repeat says nothing new about the scorer.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.data.formats.code import fenced

TOT = "princeton-nlp+tree-of-thought-llm"
TORA = "microsoft+ToRA"
REFLEXION = "noahshinn+reflexion"
ZEROEVAL = "yuchenlin+ZeroEval"
GSM8K = "openai+grade-school-math"
GSM8K_RUNS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
ZEROEVAL_COMMIT = "570c6269a2e4930ee06a17e713fece1ba52cf1dd"


@dataclass(frozen=True)
class Source:
    name: str
    domain: str
    repo: str
    commit: str
    path: str
    """the file under ``raw/<repo>/`` (where it sits in the repository: see ``upstream``)."""
    upstream: str
    licence: str
    model: str
    form: str
    reader: str


SOURCES: tuple[Source, ...] = (
    Source(
        "tot-game24-cot",
        "countdown",
        TOT,
        "ab400345c5ea39d28ea6d7d3be0e417b11113c87",
        "gpt-4_0.7_naive_cot_sample_100_start900_end1000.json",
        "logs/game24/gpt-4_0.7_naive_cot_sample_100_start900_end1000.json",
        "MIT",
        "gpt-4",
        "Game of 24: steps with (left: ...) then Answer: expr = 24",
        "tot",
    ),
    Source(
        "tot-game24-standard",
        "countdown",
        TOT,
        "ab400345c5ea39d28ea6d7d3be0e417b11113c87",
        "gpt-4_0.7_naive_standard_sample_100_start900_end1000.json",
        "logs/game24/gpt-4_0.7_naive_standard_sample_100_start900_end1000.json",
        "MIT",
        "gpt-4",
        "Game of 24: Answer: expr = 24",
        "tot",
    ),
    Source(
        "tot-game24-bfs",
        "countdown",
        TOT,
        "ab400345c5ea39d28ea6d7d3be0e417b11113c87",
        "gpt-4_0.7_propose1_value3_greedy5_start900_end1000.json",
        "logs/game24/gpt-4_0.7_propose1_value3_greedy5_start900_end1000.json",
        "MIT",
        "gpt-4",
        "Game of 24: tree-of-thought step chains, with or without an Answer line",
        "tot",
    ),
    Source(
        "tora-70b-gsm8k",
        "math",
        TORA,
        "213c1c995038c73fab10343814df7a42f990f026",
        "tora-70b-v1.0-gsm8k.jsonl",
        "src/outputs/llm-agents/tora-70b-v1.0/gsm8k/test_tora_-1_seed0_t0.0_s0_e1319.jsonl",
        "MIT",
        "ToRA-70B",
        "tool-integrated: python blocks, their output, then a boxed answer",
        "tora",
    ),
    Source(
        "tora-code-34b-gsm8k",
        "math",
        TORA,
        "213c1c995038c73fab10343814df7a42f990f026",
        "tora-code-34b-v1.0-gsm8k.jsonl",
        "src/outputs/llm-agents/tora-code-34b-v1.0/gsm8k/test_tora_-1_seed0_t0.0_s0_e1319.jsonl",
        "MIT",
        "ToRA-Code-34B",
        "tool-integrated: python blocks, their output, then a boxed answer",
        "tora",
    ),
    Source(
        "reflexion-humaneval-gpt4",
        "code",
        REFLEXION,
        "218cf0ef1df84b05ce379dd4a8e47f17766733a0",
        "simple_test_run/simple_1_gpt-4_pass_at_k_1.jsonl",
        "programming_runs/root/simple_test_run/simple_1_gpt-4_pass_at_k_1.jsonl",
        "MIT",
        "gpt-4",
        "HumanEval completion (function body)",
        "reflexion",
    ),
    Source(
        "reflexion-humaneval-gpt35",
        "code",
        REFLEXION,
        "218cf0ef1df84b05ce379dd4a8e47f17766733a0",
        "simple_test_run/simple_1_gpt-3.5-turbo_pass_at_k_1.jsonl",
        "programming_runs/root/simple_test_run/simple_1_gpt-3.5-turbo_pass_at_k_1.jsonl",
        "MIT",
        "gpt-3.5-turbo",
        "HumanEval completion (function body)",
        "reflexion",
    ),
    Source(
        "reflexion-humaneval-davinci",
        "code",
        REFLEXION,
        "218cf0ef1df84b05ce379dd4a8e47f17766733a0",
        "simple_test_run/simple_1_text-davinci-003_pass_at_k_1.jsonl",
        "programming_runs/root/simple_test_run/simple_1_text-davinci-003_pass_at_k_1.jsonl",
        "MIT",
        "text-davinci-003",
        "HumanEval completion (function body)",
        "reflexion",
    ),
    Source(
        "reflexion-humaneval-gpt4-full",
        "code",
        REFLEXION,
        "218cf0ef1df84b05ce379dd4a8e47f17766733a0",
        "simple_human_eval_py_logging/humaneval-py..gz_simple_1_gpt-4_pass_at_k_1_py.jsonl",
        "programming_runs/root/simple_human_eval_py_logging/humaneval-py..gz_simple_1_gpt-4_pass_at_k_1_py.jsonl",
        "MIT",
        "gpt-4",
        "HumanEval: the whole function",
        "reflexion",
    ),
    Source(
        "reflexion-humaneval-gpt4-reflexion",
        "code",
        REFLEXION,
        "218cf0ef1df84b05ce379dd4a8e47f17766733a0",
        "reflexion_humaneval_py_pass_at_1/reflexion_humaneval_py_pass_at_1.jsonl",
        "programming_runs/root/reflexion_humaneval_py_pass_at_1/reflexion_humaneval_py_pass_at_1.jsonl",
        "MIT",
        "gpt-4",
        "HumanEval: the whole function after self-reflection",
        "reflexion",
    ),
    Source(
        "reflexion-mbpp-gpt4",
        "code",
        REFLEXION,
        "218cf0ef1df84b05ce379dd4a8e47f17766733a0",
        "simple_mbpp_py/mbpp-py._simple_1_gpt-4_pass_at_k_1_py.jsonl",
        "programming_runs/root/simple_mbpp_py/mbpp-py._simple_1_gpt-4_pass_at_k_1_py.jsonl",
        "MIT",
        "gpt-4",
        "MBPP (MultiPL-E typed prompts): the whole function",
        "reflexion",
    ),
    Source(
        "reflexion-mbpp-gpt4-reflexion",
        "code",
        REFLEXION,
        "218cf0ef1df84b05ce379dd4a8e47f17766733a0",
        "reflexion_mbpp_py/mbpp-py._reflexion_5_gpt-4_pass_at_k_1_py.jsonl",
        "programming_runs/root/reflexion_mbpp_py/mbpp-py._reflexion_5_gpt-4_pass_at_k_1_py.jsonl",
        "MIT",
        "gpt-4",
        "MBPP: the whole function after self-reflection",
        "reflexion",
    ),
)
SOURCES += tuple(
    Source(
        f"zeroeval-math-l5-{short}",
        "math",
        ZEROEVAL,
        ZEROEVAL_COMMIT,
        f"math-l5-{model}.json",
        f"result_dirs/math-l5/{model}.json",
        "Apache-2.0",
        model,
        "chat markdown reasoning in a JSON object with an answer field (MATH level 5)",
        "zeroeval",
    )
    for short, model in (
        ("gpt4o", "gpt-4o-2024-08-06"),
        ("claude35", "claude-3-5-sonnet-20240620"),
        ("qwen25-7b", "Qwen2.5-7B-Instruct"),
        ("llama31-8b", "Meta-Llama-3.1-8B-Instruct"),
    )
)
SOURCES += tuple(
    Source(
        f"gsm8k-gpt3-{run.replace('_', '-')}",
        "math",
        GSM8K,
        "3101c7d5072418e28b9008a6636bde82a006892c",
        "example_model_solutions.jsonl",
        "grade_school_math/data/example_model_solutions.jsonl",
        "MIT",
        f"GPT-3 {run.split('_')[0].upper()} ({run.split('_')[1]})",
        "chain of thought with calculator annotations, the last line A: answer",
        "gsm8k",
    )
    for run in GSM8K_RUNS
)
# Game of 24's puzzles, which the logs name by index only.
GAME24_PUZZLES = ("24.csv", "src/tot/data/24/24.csv")


def raw_path(data: Path, source: Source) -> Path:
    return data / "raw" / source.repo / source.path


def missing(data: Path) -> list[str]:
    """What the raw layout lacks, as paths under DATA."""
    paths = [raw_path(data, s) for s in SOURCES] + [data / "raw" / TOT / GAME24_PUZZLES[0]]
    return [str(p.relative_to(data)) for p in paths if not p.is_file()]


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
        # newlines): then the field as written, quoted or a bare number.
        match = re.search(r'"answer"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?[\d.,/]+))', output)
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


READERS: dict[str, Callable[[Path, Source], Iterator[dict[str, Any]]]] = {
    "tot": _tot_rows,
    "tora": _tora_rows,
    "reflexion": _reflexion_rows,
    "zeroeval": _zeroeval_rows,
    "gsm8k": _gsm8k_rows,
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
