"""Per-domain launch configs (TOML in trainer/configs/) and the OpenRLHF command built from them."""

from __future__ import annotations

import copy
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DOMAINS = ("math", "countdown", "code", "kk", "zebra", "puzzle", "mix")
OPENRLHF_ENTRY = "openrlhf.cli.train_ppo_ray"


class ConfigError(ValueError):
    """A config that cannot be loaded or used."""


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_config(domain_or_path: str, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A domain's config (or a config file), with the files it ``extends`` merged under it."""
    path = Path(domain_or_path)
    if path.suffix != ".toml":
        if domain_or_path not in DOMAINS and not (CONFIG_DIR / f"{domain_or_path}.toml").is_file():
            raise ConfigError(f"unknown domain {domain_or_path!r} (one of {', '.join(DOMAINS)})")
        path = CONFIG_DIR / f"{domain_or_path}.toml"
    path = path.resolve()
    if path in _seen:
        raise ConfigError(f"config {path} extends itself")
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no config file {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    parent = data.pop("extends", None)
    if parent:
        parent_path = parent if str(parent).endswith(".toml") else str(CONFIG_DIR / f"{parent}.toml")
        data = _merge(load_config(parent_path, (*_seen, path)), data)
    return data


def parse_value(text: str) -> Any:
    """A ``--set KEY=VALUE`` value: TOML syntax when it parses (1e-6, true, [0, 1]), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(config: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``section.key=value`` overrides; for the openrlhf table write ``openrlhf.actor.adam.lr=2e-6``."""
    config = copy.deepcopy(config)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"override {item!r}: write SECTION.KEY=VALUE")
        section, dot, name = key.strip().partition(".")
        if not dot:
            config[section] = parse_value(value)
            continue
        table = config.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"override {item!r}: {section!r} is not a table")
        table[name] = parse_value(value)
    return config


def _flag_values(flag: str, value: Any) -> list[str]:
    if value is False or value is None:
        return []
    if value is True:
        return [f"--{flag}"]
    if isinstance(value, list):
        return [f"--{flag}", *(str(v) for v in value)]
    return [f"--{flag}", str(value)]


@dataclass(frozen=True)
class RunPaths:
    train: Path
    eval: Path | None
    output_dir: Path


def openrlhf_flags(
    config: dict[str, Any], *, model: str, reward_url: str, paths: RunPaths, run_name: str
) -> dict[str, Any]:
    """Every ``train_ppo_ray`` flag of a run, by dotted name, in command order."""
    hardware = config.get("hardware", {})
    gpus, nodes = int(hardware.get("gpus", 8)), int(hardware.get("nodes", 1))
    tensor_parallel = int(hardware.get("vllm_tensor_parallel", 1))
    if gpus < 1 or nodes < 1 or tensor_parallel < 1:
        raise ConfigError("hardware.gpus, nodes and vllm_tensor_parallel must be at least 1")
    if (gpus * nodes) % tensor_parallel:
        raise ConfigError(f"{gpus * nodes} GPUs do not split into vLLM engines of {tensor_parallel}")
    template = config.get("template", "base")
    if template not in ("base", "instruct"):
        raise ConfigError(f"template must be base or instruct, got {template!r}")
    flags: dict[str, Any] = {
        "actor.model_name_or_path": model,
        "reward.remote_url": reward_url,
        "data.prompt_dataset": str(paths.train),
        "data.input_key": "prompt" if template == "base" else "messages",
        "data.apply_chat_template": template == "instruct",
        "actor.num_nodes": nodes,
        "actor.num_gpus_per_node": gpus,
        "ref.num_nodes": nodes,
        "ref.num_gpus_per_node": gpus,
        "vllm.num_engines": gpus * nodes // tensor_parallel,
        "vllm.tensor_parallel_size": tensor_parallel,
        "ckpt.output_dir": str(paths.output_dir / "model"),
        "ckpt.path": str(paths.output_dir / "checkpoints"),
        "logger.tensorboard_dir": str(paths.output_dir / "tensorboard"),
        "logger.wandb.run_name": run_name,
    }
    if paths.eval is not None:
        flags["eval.dataset"] = str(paths.eval)
    for key, value in config.get("openrlhf", {}).items():
        flags[key] = value
    return flags


def openrlhf_command(flags: dict[str, Any], python: str | None = None) -> list[str]:
    """``python -m openrlhf.cli.train_ppo_ray --flag value ...``"""
    argv = [python or sys.executable, "-m", OPENRLHF_ENTRY]
    for flag, value in flags.items():
        argv.extend(_flag_values(flag, value))
    return argv
