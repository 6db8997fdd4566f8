"""``python -m bench.humanevalx [DATA_DIR]`` (``make humanevalx``): HumanEval-X's canonical
solutions, and programs built with another problem's solution, through the service.

For each language (C++, Go, Java, JavaScript, Python, Rust) and each problem, two programs:
the canonical solution, and problem i completed with problem i+1's solution (which must
fail). Each goes two ways:

- ``POST /v1/score``: the answer as a model writes it (the prompt completed, fenced) with
  the label :mod:`trainer.data.formats.humanevalx` makes;
- ``POST /run_code``: the whole program as the dataset's harness (CodeGeeX's
  ``evaluate_humaneval_x.py``) assembles it, sent as SandboxFusion's clients send it, with
  SandboxFusion's language names (python, cpp, java, nodejs, go_test: the one test file
  ``go test`` runs; rust: SandboxFusion runs ``main``, so the test module's functions are
  called from it). A program passes with status ``Success`` (JavaScript: and nothing on
  stderr, where ``console.assert`` reports, as the harness judges it).

Reports per language and way: canonical solutions passed (each failure with its reason),
wrong ones passed (must be 0), seconds. Writes ``report.json``, ``report.md`` and
``report.png`` under ``--out`` (default ``bench/results/humanevalx``). Exits 1 when a
canonical solution that passes natively fails here, one that fails natively (the dataset's
JavaScript/112 and /155) passes, or a wrong one passes.

DATA_DIR (the folder with ``humaneval_<lang>.jsonl.gz``, or one holding ``humaneval-x/``)
defaults to ``../shared/data/humaneval-x`` when it exists; ``--url`` uses a running service.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.realdata.cases import prompt_text, response
from reward_client.client import RewardClient
from trainer.data.formats.common import SkipRow
from trainer.data.formats.humanevalx import (
    BY_KEY,
    CPP_HEADERS,
    GO_HELPER_PACKAGES,
    completed,
    convert_humanevalx,
    go_import_block,
    go_imports,
)
from trainer.data.io import read_rows

LANGUAGES = ("cpp", "go", "java", "js", "python", "rust")
RUN_CODE_NAMES = {
    "cpp": "cpp",
    "go": "go_test",
    "java": "java",
    "js": "nodejs",
    "python": "python",
    "rust": "rust",
}
NATIVE_FAILURES: dict[str, dict[int, str]] = {
    "js": {112: "the canonical solution returns (t, false), a comma expression, not [t, false]",
           155: "the canonical solution returns [0, 0] for 0 (its loop skips 0)"},
}  # fmt: skip
"""Canonical solutions that are wrong in the dataset: their tests must fail them here too."""
UNSTABLE: dict[str, dict[int, str]] = {
    "go": {95: "the canonical solution stops at the second key when it agrees with the first, so it answers "
               "true for {p, A, B} when Go's random map order gives A or B first (one run in three)"},
}  # fmt: skip
"""Canonical solutions whose result changes from run to run: reported, not judged."""
PYTHON_HELPER = (
    "import math", "import re", "import sys", "import copy", "import datetime", "import itertools",
    "import collections", "import heapq", "import statistics", "import functools", "import hashlib",
    "import numpy", "import numpy as np", "import string", "from typing import *", "from collections import *",
)  # fmt: skip
"""What CodeGeeX's harness puts before a Python program."""
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "humaneval-x"
WAYS = ("score", "run_code")
RUN_CODE_CONCURRENCY = 8


@dataclass
class ProblemOutcome:
    index: int
    """The row's place in the file read (``--limit`` and samples read part of a file)."""
    task_id: str
    kind: str
    """``canonical`` or ``wrong`` (problem i with problem i+1's solution)."""
    passed: bool
    reason: str = ""

    @property
    def number(self) -> int:
        """The problem's number in the dataset (``JavaScript/112``: 112)."""
        return int(self.task_id.rsplit("/", 1)[-1])


# --------------------------------------------------------------------------- programs


def other_solution(rows: list[dict[str, Any]], index: int) -> str:
    return rows[(index + 1) % len(rows)]["canonical_solution"]


def harness_program(key: str, row: dict[str, Any], solution: str) -> str:
    """The whole program as CodeGeeX's harness assembles it (Rust: see :func:`rust_main_program`)."""
    prompt, test = row["prompt"], row["test"]
    if key == "python":
        return "\n".join(PYTHON_HELPER) + "\n" + prompt + solution + "\n" + test + "\n"
    if key == "cpp":
        return (
            "".join(h + "\n" for h in CPP_HEADERS if h not in prompt) + "\n" + prompt + solution + "\n" + test
        )
    if key in ("java", "js"):
        return prompt + solution + "\n" + test
    if key == "go":
        setup = row["test_setup"]
        body = prompt.replace(row["import"], "") + solution
        extra = [
            p
            for p in GO_HELPER_PACKAGES
            if p not in go_imports(setup) and p.rsplit("/", 1)[-1] + "." in solution
        ]
        return setup + "\n" + go_import_block(extra) + "\n" + body + "\n" + test
    if key == "rust":
        return rust_main_program(row, solution)
    raise ValueError(key)


def rust_main_program(row: dict[str, Any], solution: str) -> str:
    """A Rust program whose ``main`` runs the test module's tests: SandboxFusion's rust runs
    ``main`` (the harness's ``fn main(){}`` would run nothing). Commented-out tests (Rust/32's)
    stay out, as under ``cargo test``."""
    test = re.sub(r"/\*.*?\*/", "", row["test"], flags=re.DOTALL)
    names = re.findall(r"#\[test\]\s*fn\s+(\w+)", test)
    module = re.search(r"\bmod\s+(\w+)", test)
    test = re.sub(r"#\[test\]\s*fn\s+", "pub fn ", test.replace("#[cfg(test)]", ""))
    calls = "".join(f"    {module.group(1)}::{name}();\n" for name in names) if module else ""
    return f"{row['declaration']}{solution}\n{test}\nfn main() {{\n{calls}}}\n"


# --------------------------------------------------------------------------- the two ways


def through_score(
    client: RewardClient, key: str, rows: list[dict[str, Any]], advance: Any
) -> tuple[list[ProblemOutcome], dict[str, str]]:
    """Both programs of every problem as answers to ``POST /v1/score``; the rows the
    converter skips, with why."""
    language = BY_KEY[key]
    cases: list[tuple[int, str, dict[str, Any]]] = []
    skipped: dict[str, str] = {}
    for index, row in enumerate(rows):
        try:
            task = convert_humanevalx(row)
        except SkipRow as exc:
            skipped[row["task_id"]] = str(exc)
            advance(2)
            continue
        prompt = prompt_text(task)
        for kind, solution in (
            ("canonical", row["canonical_solution"]),
            ("wrong", other_solution(rows, index)),
        ):
            code = completed(language, row, solution).strip()
            answer = f"```{language.fence}\n{code}\n```"
            cases.append(
                (index, kind, {"response": response(prompt, answer), "label": task.label, "prompt": prompt})
            )
    outcomes: list[ProblemOutcome] = []
    step = 32
    for start in range(0, len(cases), step):
        chunk = cases[start : start + step]
        for (index, kind, _), result in zip(
            chunk, client.score([c[2] for c in chunk], deadline_s=3600), strict=True
        ):
            reason = "" if result.score == 1 else f"{result.verdict}: {result.details.get('reason') or ''}"
            outcomes.append(
                ProblemOutcome(index, rows[index]["task_id"], kind, result.score == 1, reason.strip()[:600])
            )
        advance(len(chunk))
    return outcomes, skipped


def run_code_verdict(key: str, body: dict[str, Any]) -> tuple[bool, str]:
    run = body.get("run_result") or {}
    if body.get("status") == "Success":
        stderr = (run.get("stderr") or "").strip()
        if key == "js" and stderr:  # console.assert only prints
            return False, f"stderr: {stderr[-400:]}"
        return True, ""
    compiled = body.get("compile_result") or {}
    step, what = (compiled, "compile") if not run else (run, "run")
    said = ((step.get("stderr") or "") + (step.get("stdout") or "")).strip()
    said = said if len(said) <= 500 else f"{said[:300]} ... {said[-200:]}"  # the error and where it ended
    return (
        False,
        f"{body.get('status')}: {what} {step.get('status')} (return code {step.get('return_code')}) {said} {body.get('message') or ''}".strip(),
    )


def through_run_code(url: str, key: str, rows: list[dict[str, Any]], advance: Any) -> list[ProblemOutcome]:
    """Both programs of every problem, whole, to ``POST /run_code``."""
    jobs = [(index, kind, harness_program(key, row, solution))
            for index, row in enumerate(rows)
            for kind, solution in (("canonical", row["canonical_solution"]), ("wrong", other_solution(rows, index)))]  # fmt: skip

    with httpx.Client(base_url=url, timeout=600) as http:

        def one(job: tuple[int, str, str]) -> ProblemOutcome:
            index, kind, code = job
            answer = http.post("/run_code", json={"code": code, "language": RUN_CODE_NAMES[key]})
            if answer.status_code != 200:
                passed, reason = False, f"HTTP {answer.status_code}: {answer.text[:300]}"
            else:
                passed, reason = run_code_verdict(key, answer.json())
            advance(1)
            return ProblemOutcome(index, rows[index]["task_id"], kind, passed, reason)

        with ThreadPoolExecutor(max_workers=RUN_CODE_CONCURRENCY) as pool:
            return list(pool.map(one, jobs))


# --------------------------------------------------------------------------- figures


def summarise(
    key: str, way: str, outcomes: list[ProblemOutcome], seconds: float, skipped: dict[str, str]
) -> dict[str, Any]:
    known, unstable = NATIVE_FAILURES.get(key, {}), UNSTABLE.get(key, {})
    canonical = [o for o in outcomes if o.kind == "canonical"]
    wrong = [o for o in outcomes if o.kind == "wrong"]
    failures = [
        {**asdict(o), "known": known.get(o.number) or unstable.get(o.number)}
        for o in canonical
        if not o.passed
    ]
    return {
        "language": key, "way": way, "problems": len(canonical) + len(skipped), "skipped": skipped,
        "canonical": len(canonical), "canonical_passed": sum(o.passed for o in canonical),
        "expected_to_pass": sum(o.number not in known and o.number not in unstable for o in canonical),
        "unstable": [{"task_id": o.task_id, "passed": o.passed, "why": unstable[o.number]}
                     for o in canonical if o.number in unstable],
        "failures": failures,
        "unexpected_failures": [f for f in failures if f["known"] is None],
        "known_wrong_passed": [o.task_id for o in canonical if o.passed and o.number in known],
        "wrong": len(wrong), "wrong_passed": [asdict(o) for o in wrong if o.passed],
        "seconds": round(seconds, 1),
    }  # fmt: skip


def bad(entry: dict[str, Any]) -> bool:
    return bool(entry["unexpected_failures"] or entry["known_wrong_passed"] or entry["wrong_passed"])


def print_report(console: Console, report: dict[str, Any]) -> None:
    table = Table(title="HumanEval-X through the service: canonical solutions pass, another problem's fail")
    for column in ("language", "way", "canonical passed", "expected", "wrong passed", "skipped", "seconds"):
        table.add_column(column, justify="left" if column in ("language", "way") else "right")
    for entry in report["results"]:
        table.add_row(entry["language"], entry["way"], f"{entry['canonical_passed']} / {entry['canonical']}",
                      str(entry["expected_to_pass"]), f"{len(entry['wrong_passed'])} / {entry['wrong']}",
                      str(len(entry["skipped"])), f"{entry['seconds']:.1f}", style="red" if bad(entry) else "")  # fmt: skip
    console.print(table)
    for entry in report["results"]:
        for failure in entry["failures"]:
            why = f"known: {failure['known']}" if failure["known"] else failure["reason"][:300]
            console.print(
                f"  {entry['way']} {failure['task_id']}: {why}", style="" if failure["known"] else "red"
            )


def markdown(report: dict[str, Any]) -> str:
    lines = ["# HumanEval-X through the service", "",
             f"Data: `{report['data_dir']}`; {report['seconds']} s in all. Each problem's canonical solution and the "
             "problem completed with the next problem's solution, through `POST /v1/score` (the converter's labels) "
             "and `POST /run_code` (the harness's whole program, SandboxFusion's language names).", "",
             "| language | way | canonical passed | expected to pass | wrong passed | skipped | seconds |",
             "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for e in report["results"]:
        lines.append(f"| {e['language']} | `{e['way']}` | {e['canonical_passed']} / {e['canonical']} | "
                     f"{e['expected_to_pass']} | {len(e['wrong_passed'])} / {e['wrong']} | {len(e['skipped'])} | {e['seconds']} |")  # fmt: skip
    notes = [(e, f) for e in report["results"] for f in e["failures"]]
    if notes:
        lines += ["", "## Canonical solutions that failed", ""]
        for e, f in notes:
            why = f"known: {f['known']}" if f["known"] else f["reason"].replace("\n", " ")[:300]
            lines.append(f"- {e['language']} `{e['way']}` {f['task_id']}: {why}")
    unstable = [(e, u) for e in report["results"] for u in e["unstable"]]
    if unstable:
        lines += ["", "## Reported, not judged (the result changes from run to run)", ""]
        lines += [f"- {u['task_id']} (`{e['way']}`): {'passed' if u['passed'] else 'failed'} this time; {u['why']}"
                  for e, u in unstable]  # fmt: skip
    skipped = [(e, task, why) for e in report["results"] for task, why in e["skipped"].items()]
    if skipped:
        lines += ["", "## Problems the converter skips", ""]
        lines += [f"- {task} ({e['way']}): {why}" for e, task, why in skipped]
    wrong = [(e, w) for e in report["results"] for w in e["wrong_passed"]]
    if wrong:
        lines += ["", "## Wrong programs that passed", ""]
        lines += [
            f"- {e['language']} `{e['way']}` {w['task_id']} with the next problem's solution"
            for e, w in wrong
        ]
    return "\n".join([*lines, "", "![plot](report.png)", ""])


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    languages = list(dict.fromkeys(e["language"] for e in report["results"]))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    width = 0.38
    lowest = 100.0
    marks: list[tuple[float, str, str]] = []
    for offset, way, colour in ((-width / 2, "score", "#3b75af"), (width / 2, "run_code", "#ef8636")):
        entries = {e["language"]: e for e in report["results"] if e["way"] == way}
        shown = [lang for lang in languages if lang in entries]
        xs = [languages.index(lang) + offset for lang in shown]
        passed = [
            100 * entries[lang]["canonical_passed"] / max(entries[lang]["canonical"], 1) for lang in shown
        ]
        lowest = min([lowest, *passed])
        left.bar(xs, passed, width, color=colour, label=way)
        for x, lang in zip(xs, shown, strict=True):
            e = entries[lang]
            label = f"{e['canonical_passed']}/{e['canonical']}, {len(e['wrong_passed'])} wrong passed"
            marks.append((x, label, "#c0392b" if bad(e) else "white"))
        right.bar(xs, [entries[lang]["seconds"] for lang in shown], width, color=colour, label=way)
    for ax in (left, right):
        ax.set_xticks(range(len(languages)), languages)
        ax.legend(fontsize=8, loc="upper center" if ax is left else "upper left", ncol=2 if ax is left else 1)
    bottom = max(0.0, lowest - 8)
    left.set_ylim(bottom, 102.5)
    for x, label, colour in marks:  # inside the bars, read upwards
        left.text(x, bottom + 0.4, label, rotation=90, ha="center", va="bottom", fontsize=7, color=colour)
    left.set_ylabel("canonical solutions passed, %")
    left.set_title("Canonical solutions passed; wrong programs passed (red: not as expected)", fontsize=10)
    right.set_ylabel("seconds (canonical + wrong programs)")
    right.set_title("Time per language and way", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_reports(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    (out / "report.md").write_text(markdown(report))
    plot(report, out / "report.png")


# --------------------------------------------------------------------------- main


def data_file(data_dir: Path, key: str) -> Path | None:
    for folder in (data_dir, data_dir / "humaneval-x"):
        for name in (f"humaneval_{key}.jsonl.gz", f"humaneval_{key}.jsonl"):
            if (folder / name).is_file():
                return folder / name
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.humanevalx", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "data_dir", nargs="?", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.is_dir() else None
    )
    parser.add_argument("--url", default=None, help="a running service (default: start one)")
    parser.add_argument(
        "--languages", default=",".join(LANGUAGES), help=f"comma-separated, of {', '.join(LANGUAGES)}"
    )
    parser.add_argument("--ways", default=",".join(WAYS), help="score, run_code or both")
    parser.add_argument("--limit", type=int, default=None, help="the first N problems of each language")
    parser.add_argument("--out", type=Path, default=Path("bench/results/humanevalx"))
    args = parser.parse_args(argv)
    console = Console()
    languages = [k.strip() for k in args.languages.split(",") if k.strip()]
    ways = [w.strip() for w in args.ways.split(",") if w.strip()]
    if unknown := [k for k in languages if k not in LANGUAGES] + [w for w in ways if w not in WAYS]:
        console.print(f"[red]unknown: {', '.join(unknown)}")
        return 2
    if args.data_dir is None:
        console.print("[red]no data directory: give the folder holding humaneval_<lang>.jsonl.gz")
        return 2
    files = {key: data_file(args.data_dir, key) for key in languages}
    if missing := [k for k, f in files.items() if f is None]:
        console.print(
            f"[red]missing under {args.data_dir}: {', '.join(f'humaneval_{k}.jsonl.gz' for k in missing)}"
        )
        return 2

    service, url = None, args.url
    if url is None:
        from reward_client.local import start_service

        service = start_service(Path(tempfile.mkdtemp(prefix="humanevalx-")))
        url = service.url
    report: dict[str, Any] = {"data_dir": str(args.data_dir), "url": url, "results": []}
    started = time.monotonic()
    try:
        with (
            RewardClient(url, batch_size=32, concurrency=4, deadline_s=3600) as client,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress,
        ):
            for key in languages:
                rows = list(read_rows(files[key]))[: args.limit]
                for way in ways:
                    bar = progress.add_task(f"{key:>6} {way}", total=2 * len(rows))
                    advance = lambda n, bar=bar: progress.advance(bar, n)  # noqa: E731
                    began = time.monotonic()
                    skipped: dict[str, str] = {}
                    if way == "score":
                        outcomes, skipped = through_score(client, key, rows, advance)
                    else:
                        outcomes = through_run_code(url, key, rows, advance)
                    report["results"].append(summarise(key, way, outcomes, time.monotonic() - began, skipped))
    finally:
        if service is not None:
            service.stop()
    report["seconds"] = round(time.monotonic() - started, 1)
    print_report(console, report)
    write_reports(report, args.out)
    console.print(f"report: {args.out / 'report.md'}, plot: {args.out / 'report.png'}")
    return 1 if any(bad(e) for e in report["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
