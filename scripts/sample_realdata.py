"""Sample small fixtures for tests/data/realdata/ from the study's released data and MBPP.

    python scripts/sample_realdata.py ../shared/data tests/data/realdata

Rows are copied unmodified (parquet rows as JSON lines), chosen to cover the forms that
went wrong before: MATH500 and AIME answers written as plain LaTeX, LeetCode solutions
that need the prelude (ListNode included), MBPP solutions returning a Counter, a
``re.Match`` or using ``sys``, Logic Puzzle Baron grids, TACO stdin/stdout and
call-based problems.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from trainer.data.io import read_rows

PAPER = "paper-2507.17512"
MATH_ANSWERS = ("3\\sqrt{13}", "\\left( 3, \\frac{\\pi}{2} \\right)", "6 - 5i", "\\text{Evelyn}",
                "1 \\pm \\sqrt{19}", "\\cot x")
MBPP_IDS = (88, 237, 475, 596, 737, 771, 787, 794, 2, 3, 4, 11, 12, 16, 61)


def _truth(row: dict[str, Any]) -> Any:
    return row["reward_model"]["ground_truth"]


def pick_math(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    named = [r for r in rows if _truth(r) in MATH_ANSWERS]
    aime = [r for r in rows if r["data_source"] == "AIME"][:6]
    rest = [r for r in rows if r["data_source"] == "math500" and r not in named][:18]
    return named + aime + rest


def pick_code(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def kind(row: dict[str, Any]) -> str:
        truth = json.loads(_truth(row))
        return f"{row['extra_info']['dataset']}:{'functional' if 'functional' in truth else 'stdio'}"

    picked: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        picked.setdefault(kind(row), [])
        if len(picked[kind(row)]) < 6:
            picked[kind(row)].append(row)
    return [r for group in picked.values() for r in group]


def pick_leetcode(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    nodes = [r for r in rows if "list_node" in r["test"] or "tree_node" in r["test"]]
    return nodes + [r for r in rows if r not in nodes][: 8 - len(nodes)]


def main() -> None:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    chosen: dict[str, list[dict[str, Any]]] = {
        "deepscaler_test.jsonl": pick_math(list(read_rows(data / PAPER / "deepscaler/test.parquet"))),
        "countdown_test.jsonl": list(read_rows(data / PAPER / "countdown/test.parquet"))[:10],
        "kk_test.jsonl": list(read_rows(data / PAPER / "kk/test.parquet"))[::50],
        "zebra_test.jsonl": list(read_rows(data / PAPER / "zebra/test.parquet"))[::28],
        "coder1_test.jsonl": pick_code(list(read_rows(data / PAPER / "code-r1-12k/test.parquet"))),
        "leetcode_v1_test.jsonl": pick_leetcode(list(read_rows(data / PAPER / "leetcode/LeetCodeDataset-v1-test-problems.jsonl"))),
        "leetcode_v2_test.jsonl": pick_leetcode(list(read_rows(data / PAPER / "leetcode/LeetCodeDataset-v2-test-problems.jsonl"))),
        "mbpp_sanitized.jsonl": [r for r in json.loads((data / "mbpp/sanitized-mbpp.json").read_text()) if r["task_id"] in MBPP_IDS],
    }
    for name, rows in chosen.items():
        with open(out / name, "w") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        print(f"{len(rows):4d} rows -> {out / name}")


if __name__ == "__main__":
    main()
