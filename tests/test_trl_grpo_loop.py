"""A real GRPO loop: TRL's GRPOTrainer on CPU, rewarded by the running service.

Nothing is downloaded: the policy is a tiny randomly initialised Qwen2 causal LM built from
a config, its tokenizer a byte-level BPE trained here with ``tokenizers`` on the prompts,
and the prompts are the project's own conversion (trainer.data) of the study's CountDown
and Knights-and-Knaves samples in tests/fixtures/study. ``reward_funcs`` is
``reward_client.trl.make_trl_reward_func`` pointed at the live service; the trainer runs two
optimisation steps of 2 prompts x 4 completions each.

What the trainer received is read from its own completion log after each step (the
completions and the per-function rewards it computed advantages from) and sent back to the
service's ``/v1/score`` with each prompt's label: the service's rewards for the same
completions must be exactly the trainer's. A random policy answers nothing right, so the
rewards here are the failure values of each label's mode (CountDown under ``format``, KK
under ``logic-rl``), not correctness; the test is about the wiring, not learning.

Needs the ``trl`` extra (``make test`` installs it: torch 2.13.0 CPU build, trl, transformers).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip(
    "torch", reason="the trl extra is not installed: `make test` or pip install -e '.[trl]'"
)
trl = pytest.importorskip(
    "trl", reason="the trl extra is not installed: `make test` or pip install -e '.[trl]'"
)

from datasets import Dataset  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM, TrainerCallback  # noqa: E402

from reward_client.trl import make_trl_reward_func  # noqa: E402
from trainer.data.build import SourceSpec, build_dataset  # noqa: E402

STUDY = Path(__file__).resolve().parent / "fixtures" / "study"


def converted_rows(tmp_path: Path) -> list[dict]:
    """Prompt rows as `make train` writes them: CountDown under `format`, KK under `logic-rl`."""
    rows = []
    for kind, name, mode in (
        ("countdown", "countdown-train.parquet", "format"),
        ("kk", "kk-test.parquet", "logic-rl"),
    ):
        files = build_dataset(
            [SourceSpec(kind=kind, path=STUDY / name)], tmp_path / kind, reward={"mode": mode}, progress=False
        )
        rows += [json.loads(line) for line in files.train.read_text().splitlines()]
    return rows


def train_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    bpe = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=["<pad>", "<eos>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=bpe)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )


def tiny_policy(tokenizer: PreTrainedTokenizerFast) -> Qwen2ForCausalLM:
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    return Qwen2ForCausalLM(config)


class RecordReceived(TrainerCallback):
    """After each step: the completions the trainer generated and the rewards it received."""

    def __init__(self) -> None:
        self.trainer = None
        self.steps: list[dict] = []

    def on_step_end(self, args, state, control, **kwargs):
        logs = self.trainer._logs
        self.steps.append(
            {
                "prompts": list(logs["prompt"]),
                "completions": list(logs["completion"]),
                "rewards": {name: list(values) for name, values in logs["rewards"].items()},
                "advantages": list(logs["advantages"]),
            }
        )


def test_grpo_trainer_trains_on_the_services_rewards(service_url: str, client, tmp_path: Path) -> None:
    rows = converted_rows(tmp_path)
    label_of = {row["prompt"]: row["label"] for row in rows}
    dataset = Dataset.from_list([{"prompt": row["prompt"], "label": row["label"]} for row in rows])
    tokenizer = train_tokenizer([row["prompt"] for row in rows])
    model = tiny_policy(tokenizer)

    reward = make_trl_reward_func(url=service_url)
    config = trl.GRPOConfig(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        max_steps=2,
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=16,
        learning_rate=1e-2,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=0,
        dataloader_num_workers=0,
    )
    recorder = RecordReceived()
    grpo = trl.GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[recorder],
    )
    recorder.trainer = grpo
    grpo.train()

    assert grpo.state.global_step == 2
    assert len(recorder.steps) == 2
    received, sent = [], []
    for step in recorder.steps:
        assert len(step["completions"]) == 8 and set(step["rewards"]) == {reward.__name__}
        received += step["rewards"][reward.__name__]
        sent += [
            {"prompt": p, "response": c, "label": label_of[p]}
            for p, c in zip(step["prompts"], step["completions"], strict=True)
        ]
    answer = client.post("/v1/score", json={"items": sent})
    assert answer.status_code == 200, answer.text
    from_service = [r["reward"] for r in answer.json()["results"]]
    # The trainer holds rewards as float32; every reward here is exact in float32.
    assert received == torch.tensor(from_service, dtype=torch.float32).tolist()
    assert all(r["verdict"] != "error" for r in answer.json()["results"])
    # Both labels' modes reached the trainer: CountDown's format penalty and KK's logic-rl shaping.
    assert len(set(received)) >= 2


class BusyForPuzzles:
    """A backend that scores CountDown in this process and never gets to KK items, as a
    service too busy for them would: the front answers them ``unscored`` at its deadline."""

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def readiness(self) -> dict:
        return {"ok": True, "backend": "busy for kk"}

    async def execute(self, item):
        import asyncio

        from services.second_opinion import run_item

        if item.domain == "kk":
            await asyncio.Event().wait()  # cancelled by the front at the deadline
        return await asyncio.to_thread(run_item, item)


def serve_in_thread(app):
    """The app under uvicorn on a free port, on a thread of this process."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def test_unscored_samples_reach_the_trainer_as_none_and_are_left_out(tmp_path: Path) -> None:
    import math

    from reward_server.app import create_app
    from reward_server.settings import Settings

    rows = converted_rows(tmp_path)
    # One CountDown and one KK prompt: every step's two prompts are these two.
    picked = [
        next(r for r in rows if '"countdown"' in r["label"]),
        next(r for r in rows if '"kk"' in r["label"]),
    ]
    is_kk = {row["prompt"]: '"kk"' in row["label"] for row in picked}
    settings = Settings(
        queue_deadline_s=1.0, audit_rate=0.0, canary_rate=0.0, audit_path=tmp_path / "audit.jsonl"
    )
    server, thread, url = serve_in_thread(create_app(settings, backend=BusyForPuzzles()))
    try:
        dataset = Dataset.from_list([{"prompt": r["prompt"], "label": r["label"]} for r in picked])
        tokenizer = train_tokenizer([r["prompt"] for r in rows])
        reward = make_trl_reward_func(url=url)
        config = trl.GRPOConfig(
            output_dir=str(tmp_path / "out"), use_cpu=True, max_steps=1, per_device_train_batch_size=8,
            num_generations=4, max_completion_length=8, learning_rate=1e-2, logging_steps=1,
            save_strategy="no", report_to=[], seed=0, dataloader_num_workers=0,
        )  # fmt: skip
        recorder = RecordReceived()
        grpo = trl.GRPOTrainer(model=tiny_policy(tokenizer), reward_funcs=[reward], args=config,
                               train_dataset=dataset, processing_class=tokenizer, callbacks=[recorder])  # fmt: skip
        recorder.trainer = grpo
        grpo.train()
    finally:
        server.should_exit = True
        thread.join(timeout=30)

    step = recorder.steps[0]
    received = step["rewards"][reward.__name__]
    kinds = [is_kk[p] for p in step["prompts"]]
    assert sum(kinds) == 4 and len(kinds) == 8
    # What the reward function returned: None for the unscored KK samples, the reward otherwise.
    assert [r.verdict == "unscored" for r in reward.last_results] == kinds
    # TRL holds None as NaN in its reward log, and gives those samples no advantage.
    assert [math.isnan(r) for r in received] == kinds
    assert all(a == 0.0 for a, kk in zip(step["advantages"], kinds, strict=True) if kk)
    assert all(not math.isnan(a) for a in step["advantages"])
