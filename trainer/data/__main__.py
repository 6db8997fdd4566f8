"""``python -m trainer.data``: build a prompt dataset from local files and / or the generators."""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console

from trainer.data.build import DataSpecError, SourceSpec, build_dataset, parse_ratios
from trainer.data.calibrate_cli import add_policy_arguments, calibrate_file
from trainer.data.converters import CONVERTERS
from trainer.data.generated import GeneratorsUnavailable
from trainer.data.io import SourceFileError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["calibrate"]:
        from trainer.data.calibrate_cli import main as calibrate_main

        return calibrate_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m trainer.data",
        description="Convert public datasets (or generate puzzles offline) into an OpenRLHF prompt dataset. "
        "`python -m trainer.data calibrate IN OUT`: per-problem time limits from the reference solutions.",
    )
    parser.add_argument(
        "--source",
        action="append",
        required=True,
        metavar="FORMAT=PATH | gen:KIND=N",
        help=f"a source: FORMAT is one of {', '.join(CONVERTERS)}; KIND one of kk, zebra, countdown (repeatable)",
    )
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--mix", default=None, help="mix ratios, e.g. math=1,code=1,puzzle=1")
    parser.add_argument("--total", type=int, default=None, help="number of prompts (train + eval)")
    parser.add_argument("--no-dedup", action="store_true", help="keep duplicate questions")
    parser.add_argument(
        "--eval-size", type=float, default=0, help="held-out prompts: a count, or a fraction < 1"
    )
    parser.add_argument("--curriculum", type=int, default=0, help="write this many stages, easiest first")
    parser.add_argument("--reward-mode", default=None, help="reward mode written into every label")
    parser.add_argument(
        "--keep-prompt",
        action="store_true",
        help="keep each source's own prompt where it has one (the study's veRL files) instead of re-templating",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--calibrate", action="store_true",
                        help="set code rows' time limits from their reference solutions (see `calibrate --help`)")
    add_policy_arguments(parser)
    args = parser.parse_args(argv)
    try:
        files = build_dataset(
            [SourceSpec.parse(s) for s in args.source],
            args.out,
            ratios=parse_ratios(args.mix),
            total=args.total,
            dedup=not args.no_dedup,
            eval_size=args.eval_size,
            curriculum=args.curriculum,
            reward={"mode": args.reward_mode} if args.reward_mode else None,
            keep_prompt=args.keep_prompt,
            seed=args.seed,
            progress=args.progress,
        )
    except (DataSpecError, SourceFileError, GeneratorsUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(files.describe())
    if args.calibrate:
        for path in [files.train, *([files.eval] if files.eval else []), *files.stages]:
            calibrate_file(path, path, args, Console())
    print(
        json.dumps({k: files.counts[k] for k in ("train_by_domain", "eval_by_domain", "sources")}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
