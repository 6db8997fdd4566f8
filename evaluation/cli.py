"""``reward eval``: score a checkpoint's generations on the study's benchmarks, sample them from
an OpenAI-compatible server first, or compare several checkpoints' reports.

    reward eval --generations gens.jsonl --out results/ckpt            # score (in-process)
    reward eval --generations gens.jsonl --url http://svc:8000 --out results/ckpt
    reward eval --endpoint http://gpu:8000/v1 --model ckpt --benchmarks study -n 8 --out results/ckpt
    reward eval compare results/base/eval.json results/ckpt/eval.json --out results/compare

See docs/eval.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import get_args

from rich.console import Console

from evaluation.benchmarks import BENCHMARKS, BenchmarkError, default_data_dir, parse_files, parse_names
from evaluation.generations import TEMPLATES, GenerationsError, read_generations
from services.rewards import RewardMode

HELP = "score a checkpoint on the study's benchmarks; compare checkpoints"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Score a checkpoint's generations on the study's benchmarks (sampling them from an "
                          "OpenAI-compatible server first), or compare several checkpoints' reports.")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = "benchmarks: " + "; ".join(f"{b.name}: {b.what}" for b in BENCHMARKS.values())
    what = parser.add_argument_group("what to score (one of)")
    what.add_argument("--generations", nargs="+", type=Path, metavar="FILE",
                      help="JSONL / JSON / parquet rows as `python -m trainer.data` writes them, plus response or responses")
    what.add_argument("--endpoint", help="an OpenAI-compatible server (vLLM: http://HOST:8000/v1) to sample from")
    parser.add_argument("--out", type=Path, help="results folder: eval.json, eval.md, eval.png, scores.jsonl")
    parser.add_argument("--name", help="the checkpoint's name in the report (default: the model, else the folder)")
    scoring = parser.add_argument_group("scoring")
    scoring.add_argument("--url", help="score through this reward service (default: in-process, embedded pool and sandbox)")
    scoring.add_argument("--mode", choices=get_args(RewardMode), default=None,
                         help="reward mode for the mean reward (default: the label's, else binary / the service's)")
    scoring.add_argument("--workers", type=int, default=None, help="in-process verifier processes (default: cores)")
    scoring.add_argument("--template", choices=TEMPLATES, default=None,
                         help="which prompt the responses answer: base (ends in <think>) or instruct (chat); "
                         "with --endpoint, the template to sample with (default: a row's own, else base)")
    sampling = parser.add_argument_group("sampling (--endpoint)")
    sampling.add_argument("--model", help="the model name the server serves")
    sampling.add_argument("--benchmarks", default="study",
                          help="comma-separated names, `study` (the study's seven), `humaneval-x` (its six "
                          "languages) or `all` (default: study)")
    sampling.add_argument("-n", type=int, default=1, help="samples per problem (default 1)")
    sampling.add_argument("--temperature", type=float, default=0.6)
    sampling.add_argument("--top-p", type=float, default=0.95)
    sampling.add_argument("--max-tokens", type=int, default=4096)
    sampling.add_argument("--concurrency", type=int, default=32, help="requests in flight at most (default 32)")
    sampling.add_argument("--retries", type=int, default=5, help="tries again after errors, with backoff (default 5)")
    sampling.add_argument("--request-timeout", type=float, default=1800.0, help="seconds per request")
    sampling.add_argument("--seed", type=int, default=None)
    sampling.add_argument("--stop", action="append", default=[], help="a stop string (repeatable)")
    sampling.add_argument("--keep-prompt", action="store_true",
                          help="send a dataset's own prompt when it has one (the study's files), not the template")
    sampling.add_argument("--resume", action="store_true",
                          help="keep the problems already in OUT/generations.jsonl and sample only the rest")
    sampling.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY"), help="default $OPENAI_API_KEY")
    data = parser.add_argument_group("benchmark data")
    data.add_argument("--data", type=Path, default=default_data_dir(),
                      help="the study's data layout (DIR/paper-2507.17512/..., DIR/mbpp/...; default ../shared/data)")
    data.add_argument("--file", action="append", default=[], metavar="NAME=PATH",
                      help="a benchmark's file (repeatable): zebralogic=ZebraLogic.parquet, math500=...")
    data.add_argument("--limit", type=int, default=None, help="the first N problems of each benchmark")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")

    sub = parser.add_subparsers(dest="eval_command", metavar="compare")
    compare = sub.add_parser("compare", help="a table of checkpoints (a row each, the change against a baseline)")
    compare.add_argument("reports", nargs="+", type=Path, help="eval.json files (or their folders)")
    compare.add_argument("--out", type=Path, required=True)
    compare.add_argument("--baseline", help="the baseline row's name (default: the first)")
    compare.add_argument("--names", help="comma-separated row names, one per report (default: each report's name)")


def _stdout_console() -> Console:
    """The table's console: the terminal's width, or a wide one when written to a file or pipe."""
    return Console(width=None if sys.stdout.isatty() else 160)


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    if getattr(args, "eval_command", None) == "compare":
        return _compare(args, console)
    try:
        return _evaluate(args, console)
    except (BenchmarkError, GenerationsError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2


def _compare(args: argparse.Namespace, console: Console) -> int:
    from evaluation.compare import CompareError, comparison, load_reports, print_table, write

    try:
        names = [n.strip() for n in args.names.split(",")] if args.names else None
        table = comparison(load_reports(args.reports, names), args.baseline)
    except CompareError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    paths = write(table, args.out)
    print_table(_stdout_console(), table)
    console.print(f"table: {paths['md']}, heatmap: {paths['png']}")
    return 0


def _sample(args: argparse.Namespace, console: Console) -> tuple[Path, dict]:
    from evaluation.evaluate import progress_bar
    from evaluation.sampling import SamplingConfig, SamplingError, benchmark_rows, done_ids, sample

    if not args.model:
        raise ValueError("--endpoint needs --model (the name the server serves the checkpoint under)")
    config = SamplingConfig(
        endpoint=args.endpoint, model=args.model, template=args.template or "base", n=args.n,
        temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens, concurrency=args.concurrency,
        retries=args.retries, timeout_s=args.request_timeout, seed=args.seed, stop=tuple(args.stop),
    )  # fmt: skip
    rows, origins = benchmark_rows(parse_names(args.benchmarks), args.data, parse_files(args.file), args.limit,
                                   config.template, args.keep_prompt)  # fmt: skip
    path = args.out / "generations.jsonl"
    if path.exists() and not args.resume:
        raise ValueError(f"{path} exists: --resume to keep its samples and add the rest, or another --out")
    done = done_ids(path, config)
    if path.exists() and args.resume:
        total_rows = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        if total_rows != len(done):
            raise ValueError(f"{path} holds samples of other settings (model, template, sampling): use another --out")
    todo = [row for row in rows if row["id"] not in done]
    console.print(f"{len(rows)} problems ({len(done)} already sampled), {config.n} samples each, "
                  f"{config.template} template, from {config.base_url}")  # fmt: skip
    try:
        with progress_bar(console, "sampling", args.progress) as bar:
            task = bar.add_task("sampling", total=len(todo))
            sample(todo, config, path, api_key=args.api_key, advance=lambda n: bar.advance(task, n))
    except SamplingError as exc:
        raise ValueError(f"{exc}\n  the samples so far are in {path}; run again with --resume to go on") from None
    return path, {"sampling": {**config.recorded(), "endpoint": config.base_url}, "sources": origins}


def _evaluate(args: argparse.Namespace, console: Console) -> int:
    from evaluation.evaluate import evaluate, write_records
    from evaluation.report import print_table, write_reports

    if bool(args.generations) == bool(args.endpoint):
        raise ValueError("give --generations FILE... or --endpoint URL (with --model and --benchmarks)")
    if args.out is None:
        raise ValueError("--out DIR is needed (the report's folder)")
    extra: dict = {}
    if args.endpoint:
        path, extra = _sample(args, console)
        inputs = [path]
    else:
        inputs = list(args.generations)
    problems = read_generations(inputs, template=args.template)
    name = args.name or args.model or _model_of(inputs) or args.out.resolve().name
    from reward_client import RewardServiceError

    try:
        report, records = evaluate(problems, name=name, url=args.url, mode=args.mode, workers=args.workers,
                                   console=console, progress=args.progress, inputs=[str(p) for p in inputs],
                                   extra=extra)  # fmt: skip
    except RewardServiceError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 2
    paths = write_reports(report, args.out)
    write_records(records, args.out)
    print_table(_stdout_console(), report)
    not_scored = report["overall"]["not_scored"]
    if not_scored:
        console.print(f"[yellow]{not_scored} samples could not be scored (timeout / error): counted as not correct; "
                      f"see {args.out / 'scores.jsonl'}")  # fmt: skip
    console.print(f"report: {paths['md']}, {paths['json']}, plot: {paths['png']}")
    return 0


def _model_of(paths: list[Path]) -> str | None:
    """The ``model`` the first row of a generations file names, if any."""
    import json

    try:
        with open(paths[0], encoding="utf-8") as f:
            first = json.loads(f.readline())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return first.get("model") if isinstance(first, dict) and isinstance(first.get("model"), str) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reward eval")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
