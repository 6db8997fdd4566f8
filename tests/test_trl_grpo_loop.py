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
