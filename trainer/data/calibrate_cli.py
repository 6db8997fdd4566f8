"""``python -m trainer.data calibrate IN OUT``: per-problem time limits for a converted code
dataset from its reference solutions (see :mod:`trainer.data.calibrate`), with a report
(``OUT``'s name + ``.calibration.{md,json,png}``). ``--reset`` takes calibrated limits out
again (the service's default)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

from trainer.data.calibrate import calibrate_rows, reset_limits
from trainer.data.calibrate_report import markdown, write
from trainer.data.io import SourceFileError, read_rows, write_jsonl
from trainer.data.limits import CEILING_S, FLOOR_S, MULTIPLE, LimitPolicy


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--multiple",
        type=float,
        default=MULTIPLE,
        help=f"limit = this x the slowest reference test's CPU (default {MULTIPLE:g})",
    )
    parser.add_argument("--floor", type=float, default=FLOOR_S, help=f"least limit, s (default {FLOOR_S:g})")
    parser.add_argument(
        "--ceiling",
        type=float,
        default=CEILING_S,
        help=f"most limit, s (default {CEILING_S:g}: the service's default)",
    )
    parser.add_argument("--runs", type=int, default=3, help="measuring runs of each reference (default 3)")
    parser.add_argument(
        "--check-runs",
        type=int,
        default=0,
        help="then score each reference this many times under its new limit, loaded (default 0)",
    )
    parser.add_argument(
        "--load",
        type=int,
        default=os.cpu_count() or 1,
        help="processes spinning beside the service during the check (default: one per CPU)",
    )
    parser.add_argument("--workers", type=int, default=4, help="requests in flight (default 4)")
    parser.add_argument("--url", default=None, help="a running service (default: start one here)")


def policy_of(args: argparse.Namespace) -> LimitPolicy:
    return LimitPolicy(args.multiple, args.floor, args.ceiling)


def calibrate_file(source: Path, out: Path, args: argparse.Namespace, console: Console) -> int:
    rows = list(read_rows(source))
    if getattr(args, "reset", False):
        write_jsonl(out, reset_limits(rows))
        console.print(f"{out}: calibrated limits taken out")
        return 0
    policy = policy_of(args)
    calibration = calibrate_rows(rows, policy, runs=args.runs, check_runs=args.check_runs, load=args.load,
                                 url=args.url, workers=args.workers)  # fmt: skip
    write_jsonl(out, calibration.rows)
    data = write(calibration, policy, out, args.check_runs, args.load)
    console.print(markdown(data))
    check = data.get("check")
    failed = sum(check[k]["failed"] for k in ("reference", "oracle")) if check else 0
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.data calibrate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "source", type=Path, help="a converted dataset file (rows with a label and a reference)"
    )
    parser.add_argument("out", type=Path, help="where the calibrated rows go (JSON lines)")
    add_policy_arguments(parser)
    parser.add_argument("--reset", action="store_true", help="take calibrated limits out instead")
    args = parser.parse_args(argv)
    try:
        return calibrate_file(args.source, args.out, args, Console())
    except (SourceFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
