"""``reward audit``: the audit's records (disagreements, failed canaries), newest first.

    reward audit                               # the local file (REWARD_AUDIT_PATH)
    reward audit --redis redis://host:6379/0   # the rq deployment's records
    reward audit --plot audit.png --export audit.jsonl

Prints the classes (domain, the two verdicts, the reason with numbers folded) with their
counts, then each record; ``--plot`` draws the classes and the records over time (png),
``--export`` writes the records as JSON lines for review.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from reward_server.audit_store import read_file, read_redis

HELP = "print, plot and export the audit's disagreements and failed canaries, newest first"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--path", type=Path, default=None,
                        help="the audit file (default: REWARD_AUDIT_PATH, else reward-audit.jsonl)")  # fmt: skip
    parser.add_argument(
        "--redis", default=None, metavar="URL", help="read the rq deployment's records from Redis"
    )
    parser.add_argument("--kind", choices=("all", "disagreement", "canary"), default="all")
    parser.add_argument("--limit", type=int, default=None, help="newest N records only")
    parser.add_argument(
        "--show", type=int, default=20, help="records printed in full (the classes count all)"
    )
    parser.add_argument(
        "--plot", type=Path, default=None, help="write a png: records per class and over time"
    )
    parser.add_argument("--export", type=Path, default=None, help="write the records as JSON lines")
    parser.add_argument(
        "--json", action="store_true", help="print the classes and records as one JSON object"
    )


def load(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.redis:
        records = read_redis(args.redis, args.limit)
    else:
        path = args.path or Path(os.environ.get("REWARD_AUDIT_PATH", "reward-audit.jsonl"))
        records = read_file(path, args.limit)
    if args.kind != "all":
        records = [r for r in records if r.get("kind") == args.kind]
    return records


def classes(records: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return Counter(str(r.get("class", "?")) for r in records).most_common()


def run(args: argparse.Namespace) -> int:
    records = load(args)
    grouped = classes(records)
    if args.json:
        print(json.dumps({"classes": dict(grouped), "records": records}, ensure_ascii=False, indent=1))
    else:
        print_report(records, grouped, args.show)
    if args.export:
        args.export.parent.mkdir(parents=True, exist_ok=True)
        with args.export.open("w", encoding="utf-8") as out:
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        print(f"exported {len(records)} records to {args.export}")
    if args.plot:
        plot(records, grouped, args.plot)
        print(f"plot: {args.plot}")
    return 0


def print_report(records: list[dict[str, Any]], grouped: list[tuple[str, int]], show: int) -> None:
    kinds = Counter(r.get("kind") for r in records)
    print(
        f"{len(records)} records: {kinds.get('disagreement', 0)} disagreements, {kinds.get('canary', 0)} failed canaries"
    )
    if not records:
        return
    print("\nclasses (most first):")
    for name, count in grouped:
        print(f"  {count:6d}  {name}")
    print(f"\nnewest first{f' (the {show} newest)' if len(records) > show else ''}:")
    for r in records[:show]:
        primary, second = r.get("primary", {}), r.get("second", {})
        print(
            f"- {r.get('time')}  {r.get('kind')}  {r.get('domain')}/{r.get('data_source')}  key {str(r.get('key'))[:16]}"
        )
        print(f"    class:    {r.get('class')}")
        print(f"    verdict:  {primary.get('verdict')} ({_short(primary.get('reason'))})")
        print(f"    second:   {second.get('verdict')} ({_short(second.get('reason'))})")
        print(f"    label:    {_short(r.get('label'), 160)}")
        print(f"    response: {_short(r.get('response'), 240)}")


def _short(text: Any, width: int = 120) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def plot(records: list[dict[str, Any]], grouped: list[tuple[str, int]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from datetime import datetime

    import matplotlib.pyplot as plt

    shown = grouped[:15]
    fig, (bars, timeline) = plt.subplots(2, 1, figsize=(11, 4 + 0.35 * max(len(shown), 1)))
    bars.barh([_short(n, 70) for n, _ in reversed(shown)], [c for _, c in reversed(shown)], color="tab:red")
    bars.set_xlabel("records")
    bars.set_title(f"audit: {len(records)} records by class, most first")
    times: dict[str, list[datetime]] = {}
    for r in records:
        try:
            times.setdefault(f"{r.get('kind')} {r.get('domain')}", []).append(
                datetime.fromisoformat(r["time"])
            )
        except (KeyError, TypeError, ValueError):
            continue
    for name, stamps in sorted(times.items()):
        stamps.sort()
        timeline.step(stamps, range(1, len(stamps) + 1), where="post", label=name)
    timeline.set_ylabel("records so far")
    if times:
        timeline.legend(fontsize="small")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
