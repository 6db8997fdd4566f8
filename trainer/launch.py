"""``python -m trainer.launch --domain kk --model Qwen/Qwen2.5-7B``: a GRPO run against the reward service.

Steps: load the domain's config (trainer/configs/DOMAIN.toml); check that the training extras
and enough GPUs are here (unless a dry run); prepare the data (converted from the files given
with ``--source``, else from the domain's public datasets, downloaded once into a cache; the
generators when asked for with ``gen:KIND=N``); check the service's
``/readyz`` at ``REWARD_URL``, or start a local ``reward serve`` when none is given; check the
command with OpenRLHF's own parser; run ``python -m openrlhf.cli.train_ppo_ray ...``.

``--dry-run`` (or ``DRY_RUN=1``) prepares the data from what is already here (never
downloads) and prints the data paths and the exact command, and trains nothing. Exit codes: 0 ok, 2 bad arguments or data, 3 training extras or
GPUs missing, 4 reward service not ready, otherwise OpenRLHF's own.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from reward_client.local import RunningService, ServiceStartError, check_ready, start_service
from trainer.config import (
    DOMAINS,
    ConfigError,
    RunPaths,
    apply_overrides,
    load_config,
    openrlhf_command,
    openrlhf_flags,
)
from trainer.data.build import DatasetFiles, DataSpecError, SourceSpec, build_dataset, parse_ratios
from trainer.data.generated import GeneratorsUnavailable
from trainer.data.hub import DatasetUnavailable
from trainer.data.io import SourceFileError
from trainer.sources import plan_sources

EXIT_USAGE, EXIT_MISSING, EXIT_SERVICE = 2, 3, 4
REPO = Path(__file__).resolve().parent.parent

TRAIN_EXTRAS: dict[str, str] = {
    # import name -> the pinned requirement of the `train` extra
    "openrlhf": "openrlhf==0.11.2",
    "torch": "torch",
    "ray": "ray[default]",
    "vllm": "vllm",
    "deepspeed": "deepspeed",
    "transformers": "transformers",
    "flash_attn": "flash-attn",
}
REQUIRED_OPENRLHF = "0.11"
DEFAULT_MODEL = "Qwen/Qwen2.5-7B"
"""The study's model (a base model: the R1 template, the configs' default)."""


class LaunchError(RuntimeError):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- environment


def missing_packages() -> list[str]:
    """Requirements of the training extra that are not importable here (or the wrong openrlhf)."""
    missing = []
    for module, requirement in TRAIN_EXTRAS.items():
        if importlib.util.find_spec(module) is None:
            missing.append(requirement)
        elif module == "openrlhf":
            from importlib.metadata import version

            installed = version("openrlhf")
            if not installed.startswith(REQUIRED_OPENRLHF):
                missing.append(f"{requirement} (found openrlhf {installed}; the flags are 0.11.x's)")
    return missing


def visible_gpus() -> tuple[int, str]:
    """(number of NVIDIA GPUs, how it was found out)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0, "`nvidia-smi` is not on PATH"
    try:
        listing = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 0, f"`nvidia-smi -L` failed: {exc}"
    gpus = [line for line in listing.stdout.splitlines() if line.startswith("GPU ")]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        allowed = [v for v in visible.split(",") if v.strip()]
        return min(
            len(gpus), len(allowed)
        ), f"`nvidia-smi -L` lists {len(gpus)}, CUDA_VISIBLE_DEVICES={visible!r}"
    return len(gpus), f"`nvidia-smi -L` lists {len(gpus)}"


def environment_problems(config: dict[str, Any], domain: str) -> list[str]:
    problems = []
    missing = missing_packages()
    if missing:
        problems.append(
            "missing training extras: "
            + ", ".join(missing)
            + " -- install them with `pip install -e '.[train]'` (CUDA GPUs needed)"
        )
    hardware = config.get("hardware", {})
    needed = int(hardware.get("gpus", 8))
    found, how = visible_gpus()
    if found < needed:
        problems.append(
            f"not enough GPUs: the {domain} config needs {needed} per node (hardware.gpus; change it with "
            f"--gpus N), found {found}: {how}"
        )
    return problems


# --------------------------------------------------------------------------- data


def prepare_data(
    config: dict[str, Any], sources: list[SourceSpec], data_dir: Path, progress: bool | None
) -> DatasetFiles:
    """Build the dataset, or reuse the one in ``data_dir`` when it was built with the same options."""
    data = config.get("data", {})
    reward = {"mode": config["reward"]["mode"]} if config.get("reward", {}).get("mode") else None
    ratios = parse_ratios(data.get("mix")) or None
    options = {
        "sources": [
            {"kind": s.kind, "path": str(s.path) if s.path else None, "count": s.count, "sizes": s.sizes}
            for s in sources
        ],
        "ratios": ratios,
        "total": data.get("total"),
        "dedup": bool(data.get("dedup", True)),
        "eval_size": data.get("eval_size", 0),
        "curriculum": int(data.get("curriculum", 0)),
        "reward": reward,
        "keep_prompt": bool(data.get("keep_prompt", False)),
        "seed": int(data.get("seed", 0)),
    }
    manifest = data_dir / "manifest.json"
    if manifest.is_file():
        previous = json.loads(manifest.read_text())
        if previous.get("options") == json.loads(json.dumps(options)):
            counts = previous["counts"]
            eval_path = data_dir / "eval.jsonl" if counts.get("eval") else None
            stages = [data_dir / f"train.stage{i}.jsonl" for i in range(1, len(counts.get("stages", [])) + 1)]
            files = [data_dir / "train.jsonl", *(p for p in [eval_path] if p), *stages]
            if all(p.is_file() for p in files):
                return DatasetFiles(data_dir / "train.jsonl", eval_path, stages, manifest, counts)
    return build_dataset(
        sources,
        data_dir,
        ratios=ratios,
        total=options["total"],
        dedup=options["dedup"],
        eval_size=options["eval_size"],
        curriculum=options["curriculum"],
        reward=reward,
        keep_prompt=options["keep_prompt"],
        seed=options["seed"],
        progress=progress,
    )


def planned_files(config: dict[str, Any], data_dir: Path) -> DatasetFiles:
    """The files a real run would write (a dry run whose data is still to be downloaded)."""
    data = config.get("data", {})
    eval_path = data_dir / "eval.jsonl" if data.get("eval_size", 0) else None
    stages = [data_dir / f"train.stage{i}.jsonl" for i in range(1, int(data.get("curriculum", 0)) + 1)]
    counts: dict[str, Any] = {"train": "to be built", "eval": "to be built"}
    return DatasetFiles(data_dir / "train.jsonl", eval_path, stages, data_dir / "manifest.json", counts)


# --------------------------------------------------------------------------- reward service


def service_base(url: str) -> str:
    """The service's base URL from REWARD_URL (which may end in /reward or /get_reward)."""
    return re.sub(r"/(get_)?reward/?$", "", url.strip()).rstrip("/")


# --------------------------------------------------------------------------- main


def format_command(argv: list[str]) -> str:
    """The command as a shell line per flag, ready to paste."""
    lines = [shlex.join(argv[:3])]
    current: list[str] = []
    for token in argv[3:]:
        if token.startswith("--") and current:
            lines.append(shlex.join(current))
            current = []
        current.append(token)
    if current:
        lines.append(shlex.join(current))
    return " \\\n    ".join(lines)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m trainer.launch", description=__doc__.split("\n\n")[0])
    parser.add_argument("--domain", required=True, choices=DOMAINS)
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"HF model name or local path (default: {DEFAULT_MODEL})"
    )
    parser.add_argument(
        "--template", choices=("base", "instruct"), default=None, help="default: the config's"
    )
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="FORMAT=PATH",
        help="a local data file (deepscaler, countdown, coder1, kk, zebralogic, lpb) or gen:KIND=N; repeatable "
        "(default: the domain's public datasets, downloaded into a cache)",
    )
    parser.add_argument("--config", default=None, help="a config file instead of trainer/configs/DOMAIN.toml")
    parser.add_argument(
        "--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="config override"
    )
    parser.add_argument("--gpus", type=int, default=None, help="GPUs per node (hardware.gpus)")
    parser.add_argument("--stage", type=int, default=None, help="train on this curriculum stage's file")
    parser.add_argument(
        "--reward-url", default=None, help="the reward service (default: $REWARD_URL; none: start one)"
    )
    parser.add_argument("--out", default=None, help="run directory (default: runs/DOMAIN-MODEL-TEMPLATE)")
    parser.add_argument(
        "--dry-run", action="store_true", default=None, help="print the command; default: $DRY_RUN"
    )
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    return parser


def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    dry_run = args.dry_run if args.dry_run is not None else _truthy(os.environ.get("DRY_RUN"))
    reward_url = args.reward_url or os.environ.get("REWARD_URL") or None

    config = load_config(args.config or args.domain)
    overrides = list(args.set)
    if args.template:
        overrides.append(f"template={args.template}")
    if args.gpus is not None:
        overrides.append(f"hardware.gpus={args.gpus}")
    config = apply_overrides(config, overrides)
    template = config.get("template", "base")
    model_name = Path(args.model.rstrip("/")).name or "model"
    out_dir = Path(args.out or Path("runs") / f"{args.domain}-{model_name}-{template}").resolve()

    if not dry_run:
        problems = environment_problems(config, args.domain)
        if problems:
            raise LaunchError(
                "cannot train on this machine:\n"
                + "\n".join(f"  - {p}" for p in problems)
                + "\nDRY_RUN=1 prints the command and prepares the data without training.",
                EXIT_MISSING,
            )

    plan = plan_sources(config, [SourceSpec.parse(s) for s in args.source], dry_run=dry_run)
    for note in plan.notes:
        print(f"note: {note}", file=sys.stderr)
    if plan.pending:
        # A dry run without the data: the command names the files a real run writes.
        files = planned_files(config, out_dir / "data")
    else:
        files = prepare_data(config, plan.sources, out_dir / "data", args.progress)
    train_path = files.train
    if args.stage is not None and not plan.pending:
        if not 1 <= args.stage <= len(files.stages):
            raise LaunchError(
                f"--stage {args.stage}: the data has {len(files.stages)} curriculum stages (set data.curriculum)",
                EXIT_USAGE,
            )
        train_path = files.stages[args.stage - 1]

    local_port = int(config.get("service", {}).get("port", 8000))
    remote_url = (
        f"{service_base(reward_url)}/reward" if reward_url else f"http://127.0.0.1:{local_port}/reward"
    )
    paths = RunPaths(train=train_path, eval=files.eval, output_dir=out_dir)
    run_name = f"grpo-{args.domain}-{model_name}-{template}"
    flags = openrlhf_flags(config, model=args.model, reward_url=remote_url, paths=paths, run_name=run_name)
    command = openrlhf_command(flags)

    if dry_run:
        print(f"# dry run: domain {args.domain}, template {template}, model {args.model}")
        print("# data")
        for dataset in plan.pending:
            print(
                f'#   to download: {dataset.name} ({dataset.where}); offline, pass SOURCES="{dataset.format}=FILE"'
            )
        if plan.pending:
            print(f"#   train: {files.train} (written by a real run, after the download)")
            if files.eval:
                print(f"#   eval:  {files.eval}")
        else:
            for line in files.describe().splitlines():
                print(f"#   {line}")
            print(f"#   by domain: {json.dumps(files.counts['train_by_domain'])}")
        if reward_url:
            print(f"# reward service: {remote_url} (REWARD_URL; /readyz is checked before training)")
        else:
            print(
                f"# reward service: none given; `reward serve` would start on 127.0.0.1:{local_port} (or a free port)"
            )
        print(f"# openrlhf parser: {_parser_verdict(command)}")
        print(format_command(command))
        return 0

    from trainer.openrlhf_parser import CommandRejected, check_command

    try:
        check_command(command)
    except CommandRejected as exc:
        raise LaunchError(f"OpenRLHF refuses the command: {exc}", EXIT_USAGE) from None

    service: RunningService | None = None
    if reward_url:
        ok, detail = check_ready(service_base(reward_url))
        if not ok:
            raise LaunchError(f"the reward service at REWARD_URL is not ready: {detail}", EXIT_SERVICE)
    else:
        ready_timeout = float(config.get("service", {}).get("ready_timeout_s", 180))
        try:
            service = start_service(out_dir / "reward-service", ready_timeout=ready_timeout, port=local_port)
        except ServiceStartError as exc:
            raise LaunchError(str(exc), EXIT_SERVICE) from None
        if not service.url.endswith(f":{local_port}"):
            flags["reward.remote_url"] = f"{service.url}/reward"
            command = openrlhf_command(flags)
        print(
            f"reward service: started `reward serve` at {service.url} (log {service.log_path})",
            file=sys.stderr,
        )
    try:
        print(format_command(command), file=sys.stderr)
        return subprocess.call(command)
    finally:
        if service is not None:
            service.stop()


def _parser_verdict(command: list[str]) -> str:
    from trainer.openrlhf_parser import CommandRejected, OpenRLHFUnavailable, check_command, openrlhf_version

    try:
        check_command(command)
    except OpenRLHFUnavailable as exc:
        return f"not checked ({exc})"
    except CommandRejected as exc:
        raise LaunchError(f"OpenRLHF refuses the command: {exc}", EXIT_USAGE) from None
    return f"accepted by openrlhf {openrlhf_version()}'s train_ppo_ray argument parser and checks"


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except LaunchError as exc:
        print(f"make train: {exc}", file=sys.stderr)
        return exc.code
    except (ConfigError, DataSpecError, SourceFileError, GeneratorsUnavailable, DatasetUnavailable) as exc:
        print(f"make train: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
