"""``reward gen``: write generated puzzles and tasks as JSONL rows {"prompt", "label"}.

The ``reward`` command finds this module through the ``reward.commands`` entry-point group
(pyproject.toml), calls :func:`add_arguments` on its ``gen`` sub-parser and
:func:`run` with the parsed arguments::

    reward gen kk --n 1000 --people 3 --seed 0 --out kk.jsonl
    reward gen zebra --n 500 --houses 4 --attributes 4 --out zebra.jsonl
    reward gen countdown --n 1000 --numbers 4 --out countdown.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

from generators.countdown import generate_countdown
from generators.kk import generate_kk
from generators.zebra import generate_zebra

HELP = "generate puzzle and CountDown data (JSONL rows with prompt and label)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``kk`` / ``zebra`` / ``countdown`` sub-commands and their options to ``parser``."""
    kinds = parser.add_subparsers(dest="gen_kind", metavar="{kk,zebra,countdown}", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--n", type=int, default=100, help="rows to write (default 100)")
        sub.add_argument("--seed", type=int, default=0, help="the same seed gives the same rows (default 0)")
        sub.add_argument("--out", default="-", help="JSONL file to write, '-' for stdout (default)")
        bar = sub.add_mutually_exclusive_group()
        bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                         help="always show a progress bar (default: from 1000 rows)")
        bar.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")

    kk = kinds.add_parser("kk", help="Knights-and-Knaves puzzles with a unique solution")
    common(kk)
    kk.add_argument("--people", type=int, default=3, help="people per puzzle, 2..12 (default 3)")
    kk.add_argument("--depth", type=int, default=2, help="statement nesting depth, 1..4 (default 2)")
    kk.add_argument("--width", type=int, default=2, help="operands per and/or, 2..4 (default 2)")

    zebra = kinds.add_parser("zebra", help="Zebra grid puzzles with a unique solution")
    common(zebra)
    zebra.add_argument("--houses", type=int, default=4, help="houses, 2..8 (default 4)")
    zebra.add_argument("--attributes", type=int, default=4, help="characteristics incl. Name, 1..12 (default 4)")

    countdown = kinds.add_parser("countdown", help="solvable CountDown tasks")
    common(countdown)
    countdown.add_argument("--numbers", type=int, default=4, help="numbers per task, 2..8 (default 4)")
    countdown.add_argument("--min-target", type=int, default=1, help="smallest target (default 1)")
    countdown.add_argument("--max-target", type=int, default=100, help="largest target (default 100)")
    countdown.add_argument("--max-value", type=int, default=100, help="largest number drawn (default 100)")


def _rows(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    if args.n < 0:
        raise ValueError(f"--n must be 0 or more, got {args.n}")
    if args.gen_kind == "kk":
        return generate_kk(args.n, args.people, args.seed, args.depth, args.width, progress=args.progress)
    if args.gen_kind == "zebra":
        return generate_zebra(args.n, args.houses, args.attributes, args.seed, progress=args.progress)
    if args.gen_kind == "countdown":
        return generate_countdown(
            args.n, args.numbers, args.seed, args.min_target, args.max_target, args.max_value, progress=args.progress
        )
    raise ValueError(f"unknown generator {args.gen_kind!r}")


def run(args: argparse.Namespace) -> int:
    """Write the rows; return the exit status (0 ok, 2 bad arguments or a failed write)."""
    try:
        rows = _rows(args)
    except ValueError as exc:
        print(f"reward gen {args.gen_kind}: {exc}", file=sys.stderr)
        return 2
    try:
        out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        print(f"reward gen: cannot write {args.out}: {exc}", file=sys.stderr)
        return 2
    written = 0
    try:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += 1
        if out is sys.stdout:
            out.flush()
    except BrokenPipeError:  # the reader went away (`reward gen ... | head`): not an error
        if out is sys.stdout:
            # stop Python's exit-time flush of stdout from failing again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        raise
    except (OSError, RuntimeError) as exc:
        print(f"reward gen {args.gen_kind}: stopped after {written} rows: {exc}", file=sys.stderr)
        return 2
    finally:
        if out is not sys.stdout:
            out.close()
    if out is not sys.stdout:
        print(f"wrote {written} {args.gen_kind} rows to {args.out}", file=sys.stderr)
    return 0
