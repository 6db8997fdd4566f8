"""trainer.launch: commands accepted by openrlhf 0.11.2's own parser, DRY_RUN output, the message
when training extras or GPUs are missing, and the reward-service checks against a real service."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reward_client.local import check_ready, start_service
from trainer.config import DOMAINS, RunPaths, apply_overrides, load_config, openrlhf_command, openrlhf_flags
from trainer.launch import missing_packages, service_base
from trainer.openrlhf_parser import CommandRejected, check_command, openrlhf_version

REPO = Path(__file__).resolve().parent.parent
SMALL_PUZZLE_DATA = "data.generate={kk = 12, zebra = 12}"


def launch(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trainer.launch", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def command_of(dry_run_stdout: str) -> list[str]:
    """The command a dry run prints (the lines after its '#' header)."""
    text = "\n".join(line for line in dry_run_stdout.splitlines() if not line.startswith("#"))
    return shlex.split(text.replace("\\\n", " "))


def test_openrlhf_is_the_pinned_version() -> None:
    assert openrlhf_version() == "0.11.2"


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize("template", ["base", "instruct"])
def test_every_config_gives_a_command_openrlhf_accepts(domain: str, template: str, tmp_path: Path) -> None:
    config = apply_overrides(load_config(domain), [f"template={template}"])
    flags = openrlhf_flags(
        config,
        model="Qwen/Qwen2.5-7B",
        reward_url="http://10.0.0.5:8000/reward",
        paths=RunPaths(train=tmp_path / "train.jsonl", eval=tmp_path / "eval.jsonl", output_dir=tmp_path),
        run_name="t",
    )
    args = check_command(openrlhf_command(flags))
    assert args.reward.remote_url == ["http://10.0.0.5:8000/reward"]
    assert args.algo.advantage.estimator == "group_norm"
    assert args.rollout.n_samples_per_prompt == 8
    assert args.algo.kl.use_loss is True and args.algo.kl.estimator == "k3"
    assert args.algo.dynamic_filtering_enable is True and list(args.algo.dynamic_filtering_range) == [
        0.0,
        1.0,
    ]
    assert args.data.label_key == "label"
    assert args.data.prompt_dataset == str(tmp_path / "train.jsonl")
    assert args.eval.dataset == str(tmp_path / "eval.jsonl")
    assert args.data.input_key == ("prompt" if template == "base" else "messages")
    assert args.data.apply_chat_template is (template == "instruct")
    assert args.actor.num_gpus_per_node == 8 and args.vllm.num_engines == 4


def test_openrlhf_parser_rejects_what_openrlhf_rejects() -> None:
    with pytest.raises(CommandRejected, match="unrecognized arguments: --reward.mode"):
        check_command(["--reward.mode", "binary"])
    with pytest.raises(CommandRejected, match="group_norm requires n_samples_per_prompt > 1"):
        check_command(["--algo.advantage.estimator", "group_norm", "--reward.remote_url", "http://x/reward"])
    with pytest.raises(CommandRejected, match="invalid choice"):
        check_command(["--algo.kl.estimator", "k4"])


def test_dry_run_prints_the_command_and_the_data(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = launch(
        "--domain", "puzzle", "--model", "Qwen/Qwen2.5-7B-Instruct", "--template", "instruct",
        "--out", str(out), "--set", SMALL_PUZZLE_DATA, "--gpus", "4",
        env={"DRY_RUN": "1", "REWARD_URL": "http://reward.internal:8000/get_reward"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "accepted by openrlhf 0.11.2" in result.stdout
    assert f"train: {out / 'data' / 'train.jsonl'}" in result.stdout
    assert "generating 12 kk tasks offline" in result.stderr
    argv = command_of(result.stdout)
    assert argv[:3] == [sys.executable, "-m", "openrlhf.cli.train_ppo_ray"]
    args = check_command(argv)
    assert args.reward.remote_url == ["http://reward.internal:8000/reward"]
    assert args.actor.model_name_or_path == "Qwen/Qwen2.5-7B-Instruct"
    assert args.actor.num_gpus_per_node == 4 and args.vllm.num_engines == 2
    assert args.data.apply_chat_template is True and args.data.input_key == "messages"
    rows = [json.loads(line) for line in Path(args.data.prompt_dataset).read_text().splitlines()]
    evals = [json.loads(line) for line in Path(args.eval.dataset).read_text().splitlines()]
    assert len(rows) + len(evals) == 24
    assert {r["datasource"] for r in rows} == {"kk", "zebra"}
    assert all(r["messages"][0]["role"] == "system" and isinstance(r["label"], str) for r in rows)


def test_dry_run_without_reward_url_names_the_local_service(tmp_path: Path) -> None:
    result = launch(
        "--domain", "kk", "--model", "m", "--dry-run", "--out", str(tmp_path), "--set", "data.generate={kk = 6}",
        env={"REWARD_URL": ""},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "`reward serve` would start on 127.0.0.1:8000" in result.stdout
    args = check_command(command_of(result.stdout))
    assert args.reward.remote_url == ["http://127.0.0.1:8000/reward"]
    label = json.loads(json.loads(Path(args.data.prompt_dataset).read_text().splitlines()[0])["label"])
    assert label["domain"] == "kk" and label["reward"] == {"mode": "logic-rl"}  # kk.toml's reward mode


STUDY = REPO / "tests" / "fixtures" / "study"
STUDY_SOURCES = {
    "code": [f"coder1={STUDY / 'code-r1-12k-test.parquet'}"],
    "math": [
        f"deepscaler={STUDY / 'deepscaler-train.parquet'}",
        f"countdown={STUDY / 'countdown-train.parquet'}",
    ],
    "puzzle": [f"kk={STUDY / 'kk-test.parquet'}", f"lpb={STUDY / 'zebra-train.parquet'}"],
}
STUDY_SOURCES["mix"] = [s for domain in ("code", "math", "puzzle") for s in STUDY_SOURCES[domain]]
OFFLINE = {"HF_HUB_OFFLINE": "1", "DRY_RUN": "1", "REWARD_URL": ""}


@pytest.mark.parametrize("domain", ["code", "math", "puzzle", "mix"])
def test_dry_run_with_nothing_else_prints_a_command_offline(domain: str, tmp_path: Path) -> None:
    env = {**OFFLINE, "HF_HOME": str(tmp_path / "hf"), "REWARD_DATA_CACHE": str(tmp_path / "cache")}
    result = launch("--domain", domain, "--out", str(tmp_path / "run"), env=env)
    assert result.returncode == 0, result.stderr
    assert "to download:" in result.stdout and 'SOURCES="' in result.stdout
    args = check_command(command_of(result.stdout))
    assert args.actor.model_name_or_path == "Qwen/Qwen2.5-7B"  # the study's model, base template
    assert args.data.input_key == "prompt" and args.data.apply_chat_template is False
    assert args.data.prompt_dataset == str(tmp_path / "run" / "data" / "train.jsonl")
    assert not (tmp_path / "cache").exists()  # nothing was fetched


def test_dry_run_names_each_public_dataset(tmp_path: Path) -> None:
    env = {**OFFLINE, "HF_HOME": str(tmp_path / "hf"), "REWARD_DATA_CACHE": str(tmp_path / "cache")}
    result = launch("--domain", "mix", "--out", str(tmp_path / "run"), env=env)
    for name in ("ganler/code-r1-12k", "agentica-org/DeepScaleR-Preview-Dataset", "Jiayi-Pan/Countdown-Tasks-3to4",
                 "K-and-K/knights-and-knaves", "Goodman-liyu/A-Data-Centric-Study"):  # fmt: skip
        assert name in result.stdout, name


@pytest.mark.parametrize("fmt", ["coder1", "lpb"])
def test_offline_fetch_names_the_dataset_and_the_sources_form(fmt: str, tmp_path: Path, monkeypatch) -> None:
    from trainer.data.hub import PUBLIC_DATASETS, DatasetUnavailable
    from trainer.sources import plan_sources

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("REWARD_DATA_CACHE", str(tmp_path / "cache"))
    domain = {"coder1": "code", "lpb": "zebra"}[fmt]
    with pytest.raises(DatasetUnavailable) as raised:
        plan_sources(load_config(domain), [], dry_run=False)
    message = str(raised.value)
    assert PUBLIC_DATASETS[fmt].repo_id in message and "offline" in message
    assert f'SOURCES="{fmt}=' in message


def test_generators_stay_a_source(tmp_path: Path) -> None:
    result = launch(
        "--domain", "puzzle", "--out", str(tmp_path), "--source", "gen:kk=6", "--source", "gen:zebra=6",
        env={**OFFLINE, "HF_HOME": str(tmp_path / "hf")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "to download" not in result.stdout
    rows = [json.loads(line) for line in (tmp_path / "data" / "train.jsonl").read_text().splitlines()]
    assert {r["datasource"] for r in rows} == {"kk", "zebra"}


def test_a_verl_file_is_a_source_of_any_domain(tmp_path: Path) -> None:
    """`make train SOURCES="verl=FILE"`: what `python -m trainer.data` reads, a run takes."""
    result = launch(
        "--domain", "kk", "--out", str(tmp_path), "--source", f"verl={STUDY / 'kk-test.parquet'}",
        "--set", "data.eval_size=0", env={**OFFLINE, "HF_HOME": str(tmp_path / "hf")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "to download" not in result.stdout
    rows = [json.loads(line) for line in (tmp_path / "data" / "train.jsonl").read_text().splitlines()]
    assert rows and {r["datasource"] for r in rows} == {"kk"}
    refused = launch("--domain", "kk", "--out", str(tmp_path / "x"), "--source", "coder1=x.parquet", env=OFFLINE)
    assert refused.returncode != 0 and "it takes kk, verl" in refused.stderr


@pytest.mark.parametrize("domain", ["code", "math", "puzzle", "mix"])
def test_the_studys_files_become_datasets_the_service_scores(domain: str, tmp_path: Path, client) -> None:
    sources = [arg for s in STUDY_SOURCES[domain] for arg in ("--source", s)]
    result = launch(
        "--domain", domain, "--out", str(tmp_path), *sources, "--set", "data.eval_size=0", env=OFFLINE
    )
    assert result.returncode == 0, result.stderr
    assert "to download" not in result.stdout
    args = check_command(command_of(result.stdout))
    rows = [json.loads(line) for line in Path(args.data.prompt_dataset).read_text().splitlines()]
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert all(not report["skipped"] for report in manifest["counts"]["sources"].values()), manifest
    items = [
        {"prompt": r["prompt"], "response": gold_response(json.loads(r["label"])), "label": r["label"]}
        for r in rows
    ]
    results = client.post("/v1/score", json={"items": items}).json()["results"]
    for row, item, scored in zip(rows, items, results, strict=True):
        label = json.loads(row["label"])
        assert scored["verdict"] != "error", (label, scored)
        if label["domain"] in ("math", "kk", "zebra"):
            assert scored["score"] == 1.0, (label, item["response"], scored)


def gold_response(label: dict) -> str:
    """A right answer from the label where the label holds one (math, kk, zebra), else a wrong one."""
    domain = label["domain"]
    if domain == "math":
        answer = f"\\boxed{{{label['answer']}}}"
    elif domain == "kk":
        answer = "\n".join(
            f"({i}) {name} is a {role}" for i, (name, role) in enumerate(label["solution"].items(), 1)
        )
    elif domain == "zebra":
        answer = json.dumps(label["solution"])
    elif domain == "countdown":
        answer = " + ".join(str(n) for n in label["numbers"])
    else:
        answer = "```python\nprint(0)\n```"
    return f"reasoning</think> <answer>{answer}</answer>"


def test_missing_extras_and_gpus_are_named() -> None:
    missing = missing_packages()
    no_gpu = shutil.which("nvidia-smi") is None
    if not missing and not no_gpu:
        pytest.skip("this machine has the training extras and nvidia-smi")
    result = launch("--domain", "countdown", "--model", "m", env={"DRY_RUN": ""})
    assert result.returncode == 3
    assert "cannot train on this machine" in result.stderr
    for requirement in missing:
        assert requirement.split(" ")[0] in result.stderr
    if importlib.util.find_spec("torch") is None:
        assert "torch" in result.stderr and "pip install -e '.[train]'" in result.stderr
    if no_gpu:
        assert "needs 8 per node" in result.stderr and "`nvidia-smi` is not on PATH" in result.stderr
    assert "DRY_RUN=1" in result.stderr


def test_reward_service_checks(service_url: str) -> None:
    assert service_base(f"{service_url}/reward") == service_url
    assert service_base(f"{service_url}/get_reward/") == service_url
    assert check_ready(service_url) == (True, "ready")
    ok, detail = check_ready("http://127.0.0.1:9", timeout=2)
    assert not ok and "readyz" in detail


def test_the_local_service_a_run_starts_is_ready_and_stops(tmp_path: Path) -> None:
    service = start_service(tmp_path, ready_timeout=90)
    try:
        assert check_ready(service.url) == (True, "ready")
    finally:
        service.stop()
    assert service.process.poll() is not None
