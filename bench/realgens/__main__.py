"""``python -m bench.realgens DATA`` (``make realgens DATA=DIR``): public model generations,
labelled right or wrong by their sources, scored through the service.

Per source: rows, how many of the service's verdicts agree with the source's, the false
positives (paid, the source says wrong) and false negatives (not paid, the source says
right); then, with every disagreement read by hand and recorded in
``bench/realgens/adjudication.jsonl``, or ``DATA/adjudication.jsonl`` where DATA holds one
(``{"id", "class", "verdict": "ours" | "label" | "ambiguous",
"note"}``: the service's error, the source's error, or either reading defensible), the
wrong rewards that remain and the disagreements by class. A disagreement nobody has read
yet counts as a wrong reward and is listed as ``unadjudicated``.

DATA holds ``raw/`` (the fetched sources, see :mod:`bench.realgens.sources`) and, built
from it on the first run, ``corpus/``. Writes ``report.json``, ``report.md``, ``report.png``
``disagreements.jsonl`` (each disagreement with its adjudication, for reading) and
``verdicts.jsonl`` (every row's id, the source's verdict and the service's) under
``--out`` (default ``bench/results/realgens``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bench.realgens.build import build
from bench.realgens.report import write_reports
from bench.realgens.sources import SOURCES, missing
from reward_client.client import RewardClient

VERDICTS = ("ours", "label", "ambiguous")
ADJUDICATION = Path(__file__).with_name("adjudication.jsonl")
"""The project's adjudication of the corpus, used unless DATA holds its own."""


def load_corpus(data: Path, only: str | None, limit: int | None) -> dict[str, list[dict[str, Any]]]:
    corpus: dict[str, list[dict[str, Any]]] = {}
    for source in SOURCES:
        if only and not any(s in source.name for s in only.split(",")):
            continue
        rows = [json.loads(line) for line in (data / "corpus" / f"{source.name}.jsonl").open()]
        corpus[source.name] = rows[:limit] if limit else rows
    return corpus


def load_adjudication(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    entries = {}
    for n, line in enumerate(path.open(), 1):
        if not line.strip():
            continue
        entry = json.loads(line)
        if entry.get("verdict") not in VERDICTS or not entry.get("class"):
            raise ValueError(f"{path}:{n}: needs a class and a verdict of {', '.join(VERDICTS)}")
        entries[entry["id"]] = entry
    return entries


def score_rows(
    client: RewardClient, rows: list[dict[str, Any]], progress: Progress, name: str
) -> list[dict[str, Any]]:
    task = progress.add_task(name, total=len(rows))
    results: list[dict[str, Any]] = []
    step = 128
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        items = [{"response": r["response"], "label": r["label"], "prompt": r.get("prompt")} for r in chunk]
        results += [res.model_dump() for res in client.score(items, deadline_s=3600)]
        progress.advance(task, len(chunk))
    return results


def truth(row: dict[str, Any], entry: dict[str, Any] | None) -> bool | None:
    """Whether the generation is right after adjudication; None where it is ambiguous."""
    if entry is None or entry["verdict"] == "ours":
        return row["expected"]
    return None if entry["verdict"] == "ambiguous" else not row["expected"]


def compare(
    name: str,
    rows: list[dict[str, Any]],
    results: list[dict[str, Any]],
    adjudication: dict[str, dict[str, Any]],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    summary: dict[str, Any] = {
        "source": name,
        "domain": rows[0]["domain"] if rows else "",
        "rows": len(rows),
        "source_right": 0,
        "paid": 0,
        "agree": 0,
        "fp": 0,
        "fn": 0,
        "wrong_after": 0,
        "fp_after": 0,
        "fn_after": 0,
        "label_errors": 0,
        "ambiguous": 0,
        "unadjudicated": 0,
        "not_scored": 0,
        "verdicts": Counter(),
        "classes": Counter(),
    }
    disagreements = []
    for row, result in zip(rows, results, strict=True):
        paid = result["verdict"] == "correct"
        summary["source_right"] += row["expected"]
        summary["paid"] += paid
        summary["verdicts"][result["verdict"]] += 1
        summary["not_scored"] += result["verdict"] in ("timeout", "error", "unscored")
        entry = adjudication.get(row["id"])
        right = truth(row, entry)
        if paid == row["expected"]:
            summary["agree"] += 1
        else:
            summary["fp" if paid else "fn"] += 1
            klass = entry["class"] if entry else "unadjudicated"
            summary["classes"][klass] += 1
            summary["unadjudicated"] += entry is None
            summary["label_errors"] += bool(entry and entry["verdict"] == "label")
            disagreements.append(
                {
                    "id": row["id"],
                    "source": name,
                    "expected": row["expected"],
                    "verdict": result["verdict"],
                    "reason": str(result["details"].get("reason"))[:400],
                    "label": row["label"],
                    "response_tail": row["response"][-600:],
                    "adjudication": entry,
                }
            )
        if entry and entry["verdict"] == "ambiguous" and paid != row["expected"]:
            summary["ambiguous"] += 1
        elif right is not None and paid != right:
            summary["wrong_after"] += 1
            summary["fp_after" if paid else "fn_after"] += 1
    summary["verdicts"] = dict(summary["verdicts"])
    summary["classes"] = dict(summary["classes"].most_common())
    return summary, disagreements


def print_report(console: Console, report: dict[str, Any]) -> None:
    table = Table(title="Real generations: the service against the sources' verdicts")
    columns = (
        "source",
        "domain",
        "rows",
        "source right",
        "paid",
        "agree %",
        "FP",
        "FN",
        "label errors",
        "ambiguous",
        "unread",
        "wrong after adj.",
        "FP after",
        "FN after",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("source", "domain") else "right")
    for s in report["sources"]:
        share = 100.0 * s["agree"] / s["rows"] if s["rows"] else 0.0
        style = "red" if s["wrong_after"] else ""
        table.add_row(
            s["source"],
            s["domain"],
            str(s["rows"]),
            str(s["source_right"]),
            str(s["paid"]),
            f"{share:.1f}",
            str(s["fp"]),
            str(s["fn"]),
            str(s["label_errors"]),
            str(s["ambiguous"]),
            str(s["unadjudicated"]),
            str(s["wrong_after"]),
            str(s["fp_after"]),
            str(s["fn_after"]),
            style=style,
        )
    console.print(table)
    classes: Counter[str] = Counter()
    for s in report["sources"]:
        classes.update(s["classes"])
    if classes:
        console.print("disagreements by class: " + ", ".join(f"{k} {n}" for k, n in classes.most_common()))
    console.print(
        f"{report['wrong_after']} wrong rewards after adjudication over {report['rows']} rows; "
        f"{report['seconds']} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.realgens", description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, nargs="?")
    parser.add_argument("--url", default=None, help="a running service (default: start one)")
    parser.add_argument("--only", default=None, help="comma-separated substrings of the source names")
    parser.add_argument("--limit", type=int, default=None, help="rows per source")
    parser.add_argument("--rebuild", action="store_true", help="build corpus/ from raw/ again")
    parser.add_argument("--out", type=Path, default=Path("bench/results/realgens"))
    args = parser.parse_args(argv)
    console = Console()
    if args.data is None or not args.data.is_dir():
        console.print(
            "[red]no data directory: make realgens DATA=DIR, where DIR holds raw/ "
            "(the fetched sources; docs/eval.md says which) and, once built, corpus/"
        )
        return 2
    built = all((args.data / "corpus" / f"{s.name}.jsonl").is_file() for s in SOURCES)
    if args.rebuild or not built:
        lacking = missing(args.data)
        if lacking:
            console.print(f"[red]{args.data} holds no corpus/ and its raw/ lacks: " + ", ".join(lacking))
            console.print(
                "lay raw/ out from clones of the source repositories with "
                "python -m bench.realgens.build DIR --from-clones CLONES (docs/eval.md)"
            )
            return 2
        build(args.data)
    corpus = load_corpus(args.data, args.only, args.limit)
    own = args.data / "adjudication.jsonl"
    adjudication = load_adjudication(own if own.is_file() else ADJUDICATION)
    if not adjudication:
        console.print(f"[yellow]no {own} nor {ADJUDICATION}: every disagreement counts as unadjudicated")

    service = None
    url = args.url
    if url is None:
        from reward_client.local import start_service

        service = start_service(Path(tempfile.mkdtemp(prefix="realgens-")))
        url = service.url
    started = time.monotonic()
    report: dict[str, Any] = {"data_dir": str(args.data), "url": url, "sources": []}
    disagreements: list[dict[str, Any]] = []
    verdicts: list[dict[str, Any]] = []
    try:
        with (
            RewardClient(url, batch_size=64, concurrency=4, deadline_s=3600) as client,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress,
        ):
            for name, rows in corpus.items():
                results = score_rows(client, rows, progress, name)
                summary, found = compare(name, rows, results, adjudication)
                report["sources"].append(summary)
                disagreements += found
                verdicts += [
                    {
                        "id": r["id"],
                        "expected": r["expected"],
                        "verdict": res["verdict"],
                        "score": res["score"],
                    }
                    for r, res in zip(rows, results, strict=True)
                ]
    finally:
        if service is not None:
            service.stop()
    report["seconds"] = round(time.monotonic() - started, 1)
    report["rows"] = sum(s["rows"] for s in report["sources"])
    report["wrong_after"] = sum(s["wrong_after"] for s in report["sources"])
    print_report(console, report)
    write_reports(report, disagreements, verdicts, args.out)
    console.print(
        f"report: {args.out / 'report.md'}, plot: {args.out / 'report.png'}, "
        f"disagreements: {args.out / 'disagreements.jsonl'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
