"""trainer/data: every converter on small sample files (parquet and JSONL), the data options, and
labels that round-trip through the running service's POST /v1/score (gold scores 1, wrong 0)."""

from __future__ import annotations

import itertools
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from services.labels import parse_label
from trainer.data.build import (
    DataSpecError,
    SourceSpec,
    build_dataset,
    curriculum_stages,
    deduplicate,
    load_tasks,
    mix,
    parse_ratios,
    split_heldout,
)
from trainer.data.formats.common import SkipRow
from trainer.data.formats.humanevalx import BY_KEY, completed, convert_humanevalx
from trainer.data.generated import generated_tasks
from trainer.data.io import SourceFileError, read_rows
from trainer.data.tasks import Task

REPO = Path(__file__).resolve().parent.parent


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def score(client: httpx.Client, rows: list[dict[str, Any]], responses: list[str]) -> list[dict[str, Any]]:
    """Score each response against its row's label, with the row's base prompt, on the real service."""
    items = [
        {"response": r, "label": row["label"], "prompt": row["prompt"]}
        for row, r in zip(rows, responses, strict=True)
    ]
    reply = client.post("/v1/score", json={"items": items})
    assert reply.status_code == 200, reply.text
    return reply.json()["results"]


def answered(answer: str) -> str:
    # The base prompt ends with "Assistant: <think>", so the response starts inside the think block.
    return f"Let me work through it.</think> <answer>{answer}</answer>"


def assert_gold_and_wrong(
    client: httpx.Client, rows: list[dict[str, Any]], gold: list[str], wrong: list[str]
) -> None:
    results = score(client, rows, [answered(g) for g in gold] + [])
    for row, result in zip(rows, results, strict=True):
        assert result["score"] == 1.0 and result["verdict"] == "correct", (row["label"], result)
    results = score(client, rows, [answered(w) for w in wrong])
    for row, result in zip(rows, results, strict=True):
        if json.loads(row["label"]).get("row_order") == "any":
            # An association grid keeps credit for the cells a best row matching still gets.
            assert result["score"] < 1.0 and result["verdict"] in ("wrong", "partial"), (row["label"], result)
            continue
        assert result["score"] == 0.0 and result["verdict"] in ("wrong", "format_error"), (
            row["label"],
            result,
        )


# --------------------------------------------------------------------------- sample files

DEEPSCALER_ROWS = [
    {"problem": "What is $1/2 + 1/4$?", "answer": "\\frac{3}{4}", "solution": "..."},
    {"problem": "Compute $7 \\cdot 6$.", "answer": "42", "solution": "..."},
    {"problem": "What is $7 \\cdot 6$?", "answer": 42, "solution": "a number answer"},
    {"problem": "Compute  $7 \\cdot 6$.", "answer": "42", "solution": "duplicate up to white space"},
    {"problem": "An unanswered one.", "answer": "", "solution": ""},
]

COUNTDOWN_ROWS = [
    {"nums": [2, 3, 4], "target": 24},
    {"nums": [1, 5, 7], "target": 13},
    {"nums": [6, 1, 3, 4], "target": 24},
]
COUNTDOWN_GOLD = ["2 * 3 * 4", "1 + 5 + 7", "6 / (1 - 3 / 4)"]
COUNTDOWN_WRONG = ["2 + 3 + 4", "1 * 5 + 7", "6 + 1 + 3 + 4"]

LEETCODE_PROMPT = [
    {"role": "system", "content": "You are a helpful programming assistant."},
    {
        "role": "user",
        "content": "Please solve the programming task below.\n\nReturn the sum of two integers a and b.\n\n```python\nclass Solution:\n    def addTwo(self, a: int, b: int) -> int:\n```",
    },
]
CODER1_ROWS = [
    {
        "data_source": "code",
        "prompt": LEETCODE_PROMPT,
        "ability": "code",
        "reward_model": {
            "style": "rule",
            "ground_truth": json.dumps(
                {
                    "functional": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-4, 4) == 0\n\ncheck(Solution().addTwo)"
                }
            ),
        },
        "extra_info": {"dataset": "leetcode2k", "index": 0},
    },
    {
        "data_source": "code",
        "prompt": [{"role": "user", "content": "Read two integers on one line and print their product."}],
        "ability": "code",
        "reward_model": {
            "style": "rule",
            "ground_truth": json.dumps({"inputs": ["3 4\n", "5 6\n"], "outputs": ["12\n", "30\n"]}),
        },
        "extra_info": {"dataset": "taco", "index": 1},
    },
    {
        "data_source": "code",
        "prompt": [{"role": "user", "content": "A pytest-only task."}],
        "ability": "code",
        "reward_model": {"style": "rule", "ground_truth": json.dumps({"pytest": "def test(): pass"})},
        "extra_info": {"dataset": "other", "index": 2},
    },
]
FUNCTIONAL_ROW = {
    "prompt": [{"role": "user", "content": "Write add_two(a, b) returning a + b."}],
    "reward_model": {
        "style": "rule",
        "ground_truth": json.dumps(
            {
                "functional": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-4, 4) == 0\n\ncheck(add_two)"
            }
        ),
    },
    "extra_info": {"dataset": "humaneval-style"},
}
FUNCTIONAL_GOLD = "```python\ndef add_two(a, b):\n    return a + b\n```"
FUNCTIONAL_WRONG = "```python\ndef add_two(a, b):\n    return a - b\n```"
CODER1_GOLD = [
    "```python\nclass Solution:\n    def addTwo(self, a: int, b: int) -> int:\n        return a + b\n```",
    "```python\na, b = map(int, input().split())\nprint(a * b)\n```",
]
CODER1_WRONG = [
    "```python\nclass Solution:\n    def addTwo(self, a: int, b: int) -> int:\n        return a - b\n```",
    "```python\na, b = map(int, input().split())\nprint(a + b + 1)\n```",
]

KK_QUIZ_3 = (
    "A very special island is inhabited only by knights and knaves. Knights always tell the truth, and "
    "knaves always lie. You meet 3 inhabitants: Zoey, Oliver, and Ethan. Zoey says that Oliver is a knave. "
    "Oliver says that Ethan is a knight. Ethan says that Zoey is a knave. So who is a knight and who is a knave?"
)
KK_QUIZ_2 = (
    "A very special island is inhabited only by knights and knaves. You meet 2 inhabitants: Mia and Leo. "
    "Mia says that Leo is a knave. Leo says that both of them are knaves. So who is a knight and who is a knave?"
)
KK_ROWS = [
    {
        "quiz": KK_QUIZ_3,
        "names": ["Zoey", "Oliver", "Ethan"],
        "knight_knave": {
            "knight": "knight",
            "knave": "knave",
            "Knight": "Knight",
            "Knave": "Knave",
            "a_knight": "a knight",
            "a_knave": "a knave",
        },
        "solution": [True, False, False],
        "solution_text": "Zoey is a knight, Oliver is a knave, and Ethan is a knave",
        "solution_text_format": "(1) Zoey is a knight\n(2) Oliver is a knave\n(3) Ethan is a knave",
        "statements": "...",
        "index": 0,
    },
    {
        "quiz": KK_QUIZ_2,
        "names": ["Mia", "Leo"],
        "knight_knave": {
            "knight": "knight",
            "knave": "knave",
            "Knight": "Knight",
            "Knave": "Knave",
            "a_knight": "a knight",
            "a_knave": "a knave",
        },
        "solution": [True, False],
        "solution_text": "Mia is a knight, and Leo is a knave",
        "solution_text_format": "(1) Mia is a knight\n(2) Leo is a knave",
        "statements": "...",
        "index": 1,
    },
]
KK_VERL_ROW = {
    "data_source": "kk_logic",
    "prompt": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
    + KK_QUIZ_2
    + "<|im_end|>\n<|im_start|>assistant\n<think>",
    "reward_model": {
        "style": "rule",
        "ground_truth": {
            "solution_text_format": "(1) Mia is a knight\n(2) Leo is a knave",
            "statements": "...",
        },
    },
    "extra_info": {"split": "train", "index": 7},
}

ZEBRA_ROWS = [
    {
        "id": "lgp-test-2x2-1",
        "size": "2*2",
        "puzzle": "There are 2 houses, numbered 1 to 2 from left to right. Each house has a person with a name "
        "(Arnold, Eric) and a pet (cat, dog).\n1. Eric lives in house 2.\n2. The cat owner is Eric.",
        "solution": {
            "header": ["House", "Name", "Pet"],
            "rows": [["1", "Arnold", "dog"], ["2", "Eric", "cat"]],
        },
        "created_at": "2024-07-03",
    },
    {
        "id": "lgp-test-3x2-1",
        "size": "3*2",
        "puzzle": "There are 3 houses. Names: Alice, Bob, Carol. Drinks: tea, milk, water.\n1. Alice is in house 1 ...",
        "solution": {
            "header": ["House", "Name", "Drink"],
            "rows": [["1", "Alice", "tea"], ["2", "Bob", "milk"], ["3", "Carol", "water"]],
        },
        "created_at": "2024-07-03",
    },
]
LPB_ROWS = [
    {
        "puzzle": "Three friends each adopted a pet in a different year.",
        "clues": ["Ann adopted the parrot.", "The cat came in 2002.", "Bea's pet came one year after Ann's."],
        "solution": {
            "header": ["Year", "Name", "Pet"],
            "rows": [["2001", "Ann", "parrot"], ["2002", "Bea", "cat"], ["2003", "Cid", "dog"]],
        },
    },
    {
        "question": "Two runners finished a race.",
        "answer": [{"Place": "1st", "Runner": "Dee"}, {"Place": "2nd", "Runner": "Eve"}],
    },
    {
        "problem": "Two cooks made two dishes.",
        "solution": {"Cook": ["Fay", "Gus"], "Dish": ["soup", "pie"]},
    },
    {"puzzle": "A broken one.", "solution": {"Cook": ["Fay"], "Dish": ["soup", "pie"]}},
]


def zebra_answer(label: dict[str, Any], wrong: bool = False) -> str:
    header, rows = label["solution"]["header"], label["solution"]["rows"]
    house_keyed = header[0].lower() == "house"
    if wrong and label.get("row_order") == "any":  # each column shifted by its own step
        rows = [[r[0]] + [rows[(i + c) % len(rows)][c] for c in range(1, len(r))] for i, r in enumerate(rows)]
    elif wrong:  # every cell moved to another row (the house column stays: it is not a cell)
        keep = 1 if house_keyed else 0
        rows = [r[:keep] + rows[(i + 1) % len(rows)][keep:] for i, r in enumerate(rows)]
    if house_keyed:
        grid = {f"House {r[0]}": dict(zip(header[1:], r[1:], strict=True)) for r in rows}
        return json.dumps(grid)
    return json.dumps({"header": header, "rows": rows})


def kk_answer(label: dict[str, Any], wrong: bool = False) -> str:
    truth, liar = label.get("roles") or ["knight", "knave"]
    lines = []
    for number, (name, role) in enumerate(label["solution"].items(), start=1):
        if wrong:
            role = liar if role == truth else truth
        lines.append(f"({number}) {name} is {'an' if role[0] in 'aeiou' else 'a'} {role}")
    return "\n" + "\n".join(lines) + "\n"


def solve_countdown(numbers: list[int], target: int) -> str | None:
    """Brute force: an expression using every number once that equals the target."""

    def search(items: list[tuple[Fraction, str]]) -> str | None:
        if len(items) == 1:
            return items[0][1] if items[0][0] == target else None
        for i, j in itertools.permutations(range(len(items)), 2):
            (a, ea), (b, eb) = items[i], items[j]
            rest = [items[k] for k in range(len(items)) if k not in (i, j)]
            options = [(a + b, f"({ea} + {eb})"), (a - b, f"({ea} - {eb})"), (a * b, f"({ea} * {eb})")]
            if b != 0:
                options.append((a / b, f"({ea} / {eb})"))
            for value in options:
                found = search([*rest, value])
                if found:
                    return found
        return None

    return search([(Fraction(n), str(n)) for n in numbers])


# --------------------------------------------------------------------------- converters


def test_deepscaler_parquet_and_jsonl_convert_alike(tmp_path: Path) -> None:
    # parquet columns have one type; JSONL keeps the number answer a number.
    as_text = [{**r, "answer": str(r["answer"])} for r in DEEPSCALER_ROWS]
    for path in (
        write_parquet(tmp_path / "ds.parquet", as_text),
        write_jsonl(tmp_path / "ds.jsonl", DEEPSCALER_ROWS),
    ):
        tasks, report = load_tasks(SourceSpec.parse(f"deepscaler={path}"))
        assert [t.label for t in tasks] == [
            {"domain": "math", "answer": "\\frac{3}{4}"},
            {"domain": "math", "answer": "42"},
            {"domain": "math", "answer": "42"},
            {"domain": "math", "answer": "42"},
        ]
        assert report.skipped == {"no answer": 1}
        kept, dropped = deduplicate(tasks)
        assert dropped == 1 and len(kept) == 3  # "Compute  $7 \cdot 6$." differs only in white space


def test_math_and_countdown_round_trip_through_the_service(tmp_path: Path, client: httpx.Client) -> None:
    files = build_dataset(
        [
            SourceSpec.parse(f"deepscaler={write_jsonl(tmp_path / 'ds.jsonl', DEEPSCALER_ROWS[:2])}"),
            SourceSpec.parse(f"countdown={write_parquet(tmp_path / 'cd.parquet', COUNTDOWN_ROWS)}"),
        ],
        tmp_path / "out",
        seed=3,
    )
    rows = read_jsonl(files.train)
    assert len(rows) == 5 and all(isinstance(r["label"], str) for r in rows)
    math_rows = [r for r in rows if r["datasource"] == "math"]
    countdown_rows = [r for r in rows if r["datasource"] == "countdown"]
    gold_math = {"\\frac{3}{4}": "\\boxed{\\frac{3}{4}}", "42": "\\boxed{42}"}
    wrong_math = {"\\frac{3}{4}": "\\boxed{\\frac{1}{4}}", "42": "\\boxed{41}"}
    answers = [json.loads(r["label"])["answer"] for r in math_rows]
    assert_gold_and_wrong(
        client, math_rows, [gold_math[a] for a in answers], [wrong_math[a] for a in answers]
    )

    by_numbers = {tuple(r["nums"]): i for i, r in enumerate(COUNTDOWN_ROWS)}
    order = [by_numbers[tuple(json.loads(r["label"])["numbers"])] for r in countdown_rows]
    assert all(r["prompt"].rstrip().endswith("Assistant: <think>") for r in rows)
    assert_gold_and_wrong(
        client, countdown_rows, [COUNTDOWN_GOLD[i] for i in order], [COUNTDOWN_WRONG[i] for i in order]
    )


def test_instruct_messages_score_like_the_base_prompt(tmp_path: Path, client: httpx.Client) -> None:
    files = build_dataset(
        [SourceSpec.parse(f"deepscaler={write_jsonl(tmp_path / 'ds.jsonl', DEEPSCALER_ROWS[1:2])}")],
        tmp_path / "o",
    )
    row = read_jsonl(files.train)[0]
    system, user = row["messages"]
    assert system["role"] == "system" and "<answer>" in system["content"]
    assert user["role"] == "user" and "\\boxed" in user["content"] and "7 \\cdot 6" in user["content"]
    chat_prompt = f"<|im_start|>system\n{system['content']}<|im_end|>\n<|im_start|>user\n{user['content']}<|im_end|>\n<|im_start|>assistant\n"
    items = [
        {
            "response": "<think>6 times 7</think> <answer>\\boxed{42}</answer><|im_end|>",
            "label": row["label"],
            "prompt": chat_prompt,
        },
        {
            "response": "<think>6 times 7</think> <answer>\\boxed{43}</answer><|im_end|>",
            "label": row["label"],
            "prompt": chat_prompt,
        },
    ]
    results = client.post("/v1/score", json={"items": items}).json()["results"]
    assert [r["score"] for r in results] == [1.0, 0.0]
    assert results[0]["format_ok"] is True


def test_coder1_functional_and_stdio_round_trip(tmp_path: Path, client: httpx.Client) -> None:
    path = write_parquet(tmp_path / "coder1.parquet", CODER1_ROWS)
    tasks, report = load_tasks(SourceSpec.parse(f"coder1={path}"))
    assert report.skipped == {"pytest-style ground truth is not in the label schema": 1}
    leetcode, taco = tasks
    assert leetcode.source == "coder1/leetcode2k" and "functional" in leetcode.label["tests"]
    assert "Return the sum of two integers" in leetcode.question
    assert taco.source == "coder1/taco" and taco.label["tests"] == {
        "inputs": ["3 4\n", "5 6\n"],
        "outputs": ["12\n", "30\n"],
    }
    function_style = load_tasks(
        SourceSpec.parse(f"coder1={write_jsonl(tmp_path / 'fn.jsonl', [FUNCTIONAL_ROW])}")
    )[0]
    rows = [t.to_row() for t in [taco, *function_style]]
    assert "```python" in rows[0]["prompt"]
    assert_gold_and_wrong(
        client, rows, [CODER1_GOLD[1], FUNCTIONAL_GOLD], [CODER1_WRONG[1], FUNCTIONAL_WRONG]
    )


def test_coder1_leetcode_class_solution_scores(tmp_path: Path, client: httpx.Client) -> None:
    tasks, _ = load_tasks(
        SourceSpec.parse(f"coder1={write_parquet(tmp_path / 'c.parquet', CODER1_ROWS[:1])}")
    )
    assert_gold_and_wrong(client, [tasks[0].to_row()], CODER1_GOLD[:1], CODER1_WRONG[:1])


def test_kk_logic_rl_forms_round_trip(tmp_path: Path, client: httpx.Client) -> None:
    raw = write_parquet(tmp_path / "kk.parquet", KK_ROWS)
    verl = write_jsonl(tmp_path / "kk_verl.jsonl", [KK_VERL_ROW])
    tasks, _ = load_tasks(SourceSpec.parse(f"kk={raw}"))
    verl_tasks, report = load_tasks(SourceSpec.parse(f"kk={verl}"))
    assert report.converted == 1
    assert tasks[0].label == {
        "domain": "kk",
        "solution": {"Zoey": "knight", "Oliver": "knave", "Ethan": "knave"},
    }
    assert verl_tasks[0].label == tasks[1].label and verl_tasks[0].question == KK_QUIZ_2
    assert [t.difficulty for t in tasks] == [3.0, 2.0]
    rows = [t.to_row() for t in [*tasks, *verl_tasks]]
    labels = [json.loads(r["label"]) for r in rows]
    assert_gold_and_wrong(
        client,
        rows,
        [kk_answer(label) for label in labels],
        [kk_answer(label, wrong=True) for label in labels],
    )


def test_zebralogic_and_lpb_round_trip(tmp_path: Path, client: httpx.Client) -> None:
    zebra, zebra_report = load_tasks(
        SourceSpec.parse(f"zebralogic={write_parquet(tmp_path / 'z.parquet', ZEBRA_ROWS)}")
    )
    lpb, lpb_report = load_tasks(SourceSpec.parse(f"lpb={write_jsonl(tmp_path / 'lpb.jsonl', LPB_ROWS)}"))
    assert zebra_report.converted == 2 and [t.difficulty for t in zebra] == [4.0, 6.0]
    assert lpb_report.converted == 3 and sum(lpb_report.skipped.values()) == 1
    assert lpb[1].label["solution"] == {
        "header": ["Place", "Runner"],
        "rows": [["1st", "Dee"], ["2nd", "Eve"]],
    }
    assert lpb[2].label["solution"] == {"header": ["Cook", "Dish"], "rows": [["Fay", "soup"], ["Gus", "pie"]]}
    assert (
        "in this order: 2001, 2002, 2003" in lpb[0].question and "Ann adopted the parrot." in lpb[0].question
    )
    rows = [t.to_row() for t in [*zebra, *lpb]]
    labels = [json.loads(r["label"]) for r in rows]
    assert_gold_and_wrong(
        client,
        rows,
        [zebra_answer(label) for label in labels],
        [zebra_answer(label, wrong=True) for label in labels],
    )


def test_generated_puzzles_round_trip(client: httpx.Client) -> None:
    kk = list(generated_tasks("kk", 4, seed=5, sizes=[2, 3]))
    zebra = list(generated_tasks("zebra", 2, seed=5, sizes=[[3, 3]]))
    countdown = list(generated_tasks("countdown", 3, seed=5, sizes=[3]))
    assert [t.difficulty for t in kk] == [2.0, 2.0, 3.0, 3.0]
    for task in [*kk, *zebra]:
        assert "<answer>" not in task.question  # the generator's own instructions are cut off
    rows = [t.to_row() for t in [*kk, *zebra, *countdown]]
    labels = [json.loads(r["label"]) for r in rows]

    def gold(label: dict[str, Any]) -> str:
        if label["domain"] == "kk":
            return kk_answer(label)
        if label["domain"] == "zebra":
            return json.dumps(label["solution"])
        return solve_countdown(label["numbers"], label["target"]) or "no solution"

    def wrong(label: dict[str, Any]) -> str:
        if label["domain"] == "kk":
            return kk_answer(label, wrong=True)
        if label["domain"] == "zebra":
            houses = list(label["solution"])
            return json.dumps(
                {h: label["solution"][houses[(i + 1) % len(houses)]] for i, h in enumerate(houses)}
            )
        return " + ".join(str(n) for n in label["numbers"]) + " + 1"

    assert_gold_and_wrong(client, rows, [gold(label) for label in labels], [wrong(label) for label in labels])


# --------------------------------------------------------------------------- options


def _tasks(domain: str, n: int, difficulty_of=lambda i: 0.0) -> list[Task]:
    if domain == "math":
        return [
            Task(
                "math",
                f"math question {i}",
                {"domain": "math", "answer": str(i)},
                "t",
                "math",
                difficulty=difficulty_of(i),
            )
            for i in range(n)
        ]
    if domain == "kk":
        return [
            Task(
                "kk",
                f"kk question {i}",
                {"domain": "kk", "solution": {"A": "knight"}},
                "t",
                "kk",
                difficulty=difficulty_of(i),
            )
            for i in range(n)
        ]
    return [
        Task(
            "code",
            f"code question {i}",
            {"domain": "code", "tests": {"inputs": ["1"], "outputs": ["1"]}},
            "t",
            "code",
        )
        for i in range(n)
    ]


def test_mix_by_ratio() -> None:
    tasks = _tasks("math", 100) + _tasks("code", 30) + _tasks("kk", 60)
    mixed = mix(tasks, parse_ratios("math=2,code=1,puzzle=1"), total=80, seed=1)
    counts = {d: sum(t.domain == d for t in mixed) for d in ("math", "code", "kk")}
    assert counts == {"math": 40, "code": 20, "kk": 20}
    # Without a total: the largest total that every domain can fill (code has 30 -> 120).
    largest = mix(tasks, parse_ratios({"math": 2, "code": 1, "puzzle": 1}), total=None, seed=1)
    assert len(largest) == 120 and sum(t.domain == "code" for t in largest) == 30
    with pytest.raises(DataSpecError, match="no source supplies"):
        mix(_tasks("math", 5), parse_ratios("math=1,code=1"), total=None)
    with pytest.raises(DataSpecError, match="not a domain"):
        parse_ratios("maths=1")


def test_heldout_split_is_stratified_and_disjoint() -> None:
    tasks = _tasks("math", 50) + _tasks("kk", 50)
    train, heldout = split_heldout(tasks, 0.1, seed=0)
    assert len(heldout) == 10 and sum(t.domain == "kk" for t in heldout) == 5
    assert not {t.question for t in train} & {t.question for t in heldout}
    assert len(train) + len(heldout) == 100


def test_curriculum_orders_kk_by_people(tmp_path: Path) -> None:
    stages = curriculum_stages(_tasks("kk", 30, difficulty_of=lambda i: float(3 + i % 5)), 3)
    assert [len(s) for s in stages] == [10, 10, 10]
    assert max(t.difficulty for t in stages[0]) <= min(t.difficulty for t in stages[2])
    files = build_dataset(
        [SourceSpec(kind="gen:kk", count=12, sizes=(2, 3, 4))], tmp_path, curriculum=3, seed=2
    )
    people = [[len(json.loads(r["label"])["solution"]) for r in read_jsonl(p)] for p in files.stages]
    assert people == [[2] * 4, [3] * 4, [4] * 4]
    assert [len(json.loads(r["label"])["solution"]) for r in read_jsonl(files.train)] == [2] * 4 + [3] * 4 + [
        4
    ] * 4


def test_reward_mode_is_written_into_labels(tmp_path: Path) -> None:
    files = build_dataset([SourceSpec(kind="gen:countdown", count=3)], tmp_path, reward={"mode": "format"})
    for row in read_jsonl(files.train):
        label = json.loads(row["label"])
        assert label["reward"] == {"mode": "format"}
        parse_label(row["label"])
    manifest = json.loads(files.manifest.read_text())
    assert manifest["counts"]["train_by_domain"] == {"countdown": 3}


def test_progress_bar_on_large_conversions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"nums": [i % 7 + 1, 2, 3], "target": i} for i in range(2500)]
    path = write_parquet(tmp_path / "big.parquet", rows)
    tasks, _ = load_tasks(SourceSpec.parse(f"countdown={path}"))  # 2500 rows: the bar shows by itself
    assert len(tasks) == 2500
    err = capsys.readouterr().err
    assert "countdown big.parquet" in err and "2500/2500" in err


def test_bad_sources_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DataSpecError, match="unknown source format 'gsm8k'"):
        SourceSpec.parse("gsm8k=x.parquet")
    with pytest.raises(DataSpecError, match="give the file"):
        SourceSpec.parse("deepscaler")
    with pytest.raises(SourceFileError, match="no such file"):
        list(read_rows(tmp_path / "missing.parquet"))
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\nnot json\n')
    with pytest.raises(SourceFileError, match="bad.jsonl:2"):
        list(read_rows(tmp_path / "bad.jsonl"))


def test_a_missing_file_is_one_line_from_the_command(tmp_path: Path, capsys) -> None:
    from trainer.data.__main__ import main

    missing = tmp_path / "missing.parquet"
    assert main(["--source", f"kk={missing}", "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    assert capsys.readouterr().err == f"error: {missing}: no such file\n"


def test_the_studys_prompt_is_kept_or_retemplated(tmp_path: Path) -> None:
    source = Path(__file__).parent / "data" / "realdata" / "deepscaler_test.jsonl"
    spec = SourceSpec.parse(f"verl={source}")
    kept = build_dataset([spec], tmp_path / "kept", keep_prompt=True, dedup=False)
    templated = build_dataset([spec], tmp_path / "templated", dedup=False)
    study = [json.loads(line) for line in source.read_text().splitlines()]
    study_prompts = {row["prompt"][0]["content"] for row in study}
    kept_rows = [json.loads(line) for line in kept.train.read_text().splitlines()]
    templated_rows = [json.loads(line) for line in templated.train.read_text().splitlines()]
    assert {row["prompt"] for row in kept_rows} == study_prompts  # the study's exact prompt
    assert not {row["prompt"] for row in templated_rows} & study_prompts  # re-templated
    assert all(row["prompt"].endswith("Assistant: <think>") for row in templated_rows)
    assert {r["label"] for r in kept_rows} == {r["label"] for r in templated_rows}


# --------------------------------------------------------------------------- HumanEval-X

HUMANEVALX = Path(__file__).parent / "data" / "humanevalx"
HUMANEVALX_LANGUAGES = {"cpp": "cpp", "go": "go", "java": "java", "js": "javascript", "python": "python", "rust": "rust"}


def humanevalx_tasks(key: str) -> tuple[list[Task], Any]:
    return load_tasks(SourceSpec.parse(f"humanevalx={HUMANEVALX / f'humaneval_{key}.jsonl'}"))


def test_humanevalx_rows_become_tasks_in_their_language(tmp_path: Path) -> None:
    import gzip

    for key, language in HUMANEVALX_LANGUAGES.items():
        tasks, report = humanevalx_tasks(key)
        if key == "rust":  # its test module is commented out: any program that compiles would pass
            assert dict(report.skipped) == {"the Rust test has no #[test] function outside comments": 1}
        else:
            assert not report.skipped
        assert len(tasks) == 6 - (key == "rust")
        fence = BY_KEY[key].fence
        for task in tasks:
            parse_label(task.label)
            assert task.label["language"] == language and task.source == f"humaneval-x/{key}"
            assert task.reference.startswith(f"```{fence}\n") and task.reference.endswith("\n```")
            row = task.to_row()
            assert f"```{fence}\n" in row["prompt"] and row["prompt"].endswith("Assistant: <think>")
            assert f"complete {BY_KEY[key].title} solution" in row["prompt"]
        tests = [t.label["tests"] for t in tasks]
        if key == "python":
            assert all(t["functional"].count("check(") == 2 for t in tests)  # its def and one call
            assert tasks[0].label["prelude"] == "from typing import List\n"
        else:
            style = {"go": "go_test", "rust": "rust_test"}.get(key, "program")
            assert {t["style"] for t in tests} == {style}
            assert {t.get("stderr_fails", False) for t in tests} == {key == "js"}
    go = {row["task_id"]: convert_humanevalx(row) for row in read_rows(HUMANEVALX / "humaneval_go.jsonl")}
    # The test file imports what the test uses (Go refuses the rest); the answer what the solution uses.
    assert '"math"' not in go["Go/38"].label["tests"]["functional"] and '"time"' in go["Go/38"].label["tests"]["functional"]
    assert '"crypto/md5"' not in go["Go/162"].label["tests"]["functional"]
    assert go["Go/0"].label["tests"]["functional"].startswith("package main\n")
    assert '"strings"' in go["Go/17"].reference and '"strings"' not in go["Go/17"].question  # the harness adds it
    assert '"time"' not in go["Go/38"].reference and '"time"' in go["Go/38"].question  # unused by the solution
    cpp = humanevalx_tasks("cpp")[0][0].label["prelude"]
    assert "#include<algorithm>\n" in cpp and cpp.endswith("using namespace std;\n")
    assert humanevalx_tasks("java")[0][0].label["prelude"] == "import java.util.*;\nimport java.lang.*;\n"
    assert "prelude" not in humanevalx_tasks("rust")[0][0].label and "prelude" not in humanevalx_tasks("js")[0][0].label

    # The released .jsonl.gz files read as they are; --keep-prompt keeps the code to complete.
    gz = tmp_path / "humaneval_java.jsonl.gz"
    gz.write_bytes(gzip.compress((HUMANEVALX / "humaneval_java.jsonl").read_bytes()))
    files = build_dataset([SourceSpec.parse(f"humanevalx={gz}")], tmp_path / "kept", keep_prompt=True)
    kept = {row["prompt"] for row in read_jsonl(files.train)}
    assert kept == {row["prompt"] for row in read_rows(HUMANEVALX / "humaneval_java.jsonl")}


def test_humanevalx_references_pass_and_other_problems_solutions_fail(client: httpx.Client) -> None:
    for key in HUMANEVALX_LANGUAGES:
        rows = list(read_rows(HUMANEVALX / f"humaneval_{key}.jsonl"))
        cases = []
        for index, row in enumerate(rows):
            try:
                task = convert_humanevalx(row)
            except SkipRow:
                continue
            other = completed(BY_KEY[key], row, rows[(index + 1) % len(rows)]["canonical_solution"]).strip()
            cases.append((row["task_id"], task.to_row(), task.reference, f"```{BY_KEY[key].fence}\n{other}\n```"))
        results = score(client, [row for _, row, _, _ in cases] * 2,
                        [answered(ref) for _, _, ref, _ in cases] + [answered(o) for _, _, _, o in cases])  # fmt: skip
        for (task_id, *_), right, wrong in zip(cases, results[: len(cases)], results[len(cases) :], strict=True):
            # JavaScript/112's canonical solution is wrong in the dataset: its asserts only print.
            assert right["score"] == (0.0 if task_id == "JavaScript/112" else 1.0), (task_id, right)
            assert wrong["score"] == 0.0, (task_id, wrong)
