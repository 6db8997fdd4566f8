"""``python -m bench.realdata.judging [DATA_DIR]``: how the converted code problems are
judged. Per dataset (and per source inside CodeR1-12k): how many labels carry a checker,
a tolerance for real numbers, or neither, and how many of the rest say they accept any of
several answers (those need a checker the dataset does not ship: a right program that
prints another valid answer scores 0 on them). Writes ``judging.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.realdata.__main__ import default_data_dir
from trainer.data.build import SourceSpec, load_tasks
from trainer.data.formats.judging import accepts_any_answer

CODE_FILES = (
    ("paper-2507.17512/code-r1-12k/test.parquet", "verl"),
    ("paper-2507.17512/leetcode/LeetCodeDataset-v1-test-problems.jsonl", "leetcode"),
    ("paper-2507.17512/leetcode/LeetCodeDataset-v2-test-problems.jsonl", "leetcode"),
    ("mbpp/sanitized-mbpp.json", "mbpp"),
)


def count(data_dir: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for relative, fmt in CODE_FILES:
        path = data_dir / relative
        if not path.exists():
            continue
        tasks, _ = load_tasks(SourceSpec.parse(f"{fmt}={path}"), progress=False)
        by_source: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
        for task in tasks:
            entry = by_source[task.source]
            label = task.label
            style = "stdio" if "inputs" in label["tests"] and "fn_name" not in label["tests"] else "other"
            entry["problems"] += 1
            entry[f"tests_{style}"] += 1
            if label.get("checker"):
                entry["checker"] += 1
            elif label.get("float_tolerance") is not None:
                entry["tolerance"] += 1
            else:
                entry["neither"] += 1
                if accepts_any_answer(task.question):
                    entry["neither_but_any_answer"] += 1
        for source, entry in sorted(by_source.items()):
            rows.append({"file": relative, "source": source, **dict(entry)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.realdata.judging", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("data_dir", nargs="?", type=Path, default=default_data_dir())
    parser.add_argument("--out", type=Path, default=Path("bench/results/realdata"))
    args = parser.parse_args(argv)
    console = Console()
    if args.data_dir is None or not args.data_dir.is_dir():
        console.print("[red]no data directory: give it as the first argument")
        return 2
    rows = count(args.data_dir)
    table = Table(title="How the converted code problems are judged")
    columns = ("problems", "tests_stdio", "checker", "tolerance", "neither", "neither_but_any_answer")
    for name in ("source", *columns):
        table.add_column(name, justify="left" if name == "source" else "right")
    for row in rows:
        table.add_row(f"{row['source']} ({Path(row['file']).name})", *(str(row.get(c, 0)) for c in columns))
    console.print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "judging.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
