"""The trainer adapters against a real running service, fed the shapes each trainer passes.

- veRL: ``compute_score(data_source, solution_str, ground_truth, extra_info)`` per sample,
  ``compute_score_batch(data_sources=..., solution_strs=..., ground_truths=..., extra_infos=...)``
  with numpy arrays (veRL's non_tensor_batch), ``solution_str`` = response only, no special tokens.
- TRL: ``f(prompts=..., completions=..., completion_ids=..., trainer_state=..., **columns)``.
- OpenRLHF: the python file loaded and called by OpenRLHF 0.11.2's own executor.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from reward_client import RewardServiceUnavailable, UnmappableDataSource, label_for
from reward_client.labels import domain_of_data_source
from reward_client.local import free_port
from reward_client.trl import make_trl_reward_func
from reward_client.verl import compute_score, compute_score_batch
from tests.test_client import requests_counted
from tests.test_openrlhf_contract import load_openrlhf_agent_module

REPO = Path(__file__).resolve().parent.parent
OPENRLHF_FILE = REPO / "client" / "reward_client" / "openrlhf_reward_func.py"
VERL_FILE = REPO / "client" / "reward_client" / "verl.py"

KK_TRUTH = {
    "solution_text_format": "(1) Zoey is a knight\n(2) Oliver is a knave",
    "statements": "Zoey says Oliver is a knave. Oliver says Zoey is a knave.",
}
ZEBRA_TRUTH = {"header": ["House", "Name", "Pet"], "rows": [["1", "Arnold", "cat"], ["2", "Eric", "dog"]]}


def verl_samples() -> list[tuple[str, str, object, float]]:
    """(data_source, solution_str, ground_truth, expected reward) as veRL's data sets hold them."""
    zebra_right = json.dumps({"solution": {"House 1": {"Name": "Arnold", "Pet": "cat"}, "House 2": {"Name": "Eric", "Pet": "dog"}}})
    zebra_wrong = json.dumps({"solution": {"House 1": {"Name": "Eric", "Pet": "dog"}, "House 2": {"Name": "Arnold", "Pet": "cat"}}})
    add_two = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    return [
        ("agentica-org/DeepScaleR-Preview-Dataset", "<think>half</think> So \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}", 1.0),
        ("deepscaler", "<think>hmm</think> So \\boxed{3}.", "\\frac{1}{2}", 0.0),
        ("openai/gsm8k", "<think>6*12</think> The answer is \\boxed{72}", np.str_("72"), 1.0),
        ("countdown", "<think>try</think> <answer>(6 - 3) * 4 * 2</answer>", {"target": np.int64(24), "numbers": np.array([6, 3, 4, 2])}, 1.0),
        ("countdown", "<think>try</think> <answer>6 * 4</answer>", {"target": np.int64(24), "numbers": np.array([6, 3, 4, 2])}, 0.0),
        ("kk_logic", "<think>case split</think> <answer>(1) Zoey is a knight\n(2) Oliver is a knave</answer>", KK_TRUTH, 1.0),
        ("kk_logic", "<think>case split</think> <answer>(1) Zoey is a knave\n(2) Oliver is a knight</answer>", KK_TRUTH, 0.0),
        ("allenai/ZebraLogicBench", f"<think>grid</think> {zebra_right}", ZEBRA_TRUTH, 1.0),
        ("lpb", f"<think>grid</think> {zebra_wrong}", ZEBRA_TRUTH, 0.0),
        ("taco", f"<think>sum</think>\n{add_two}", json.dumps({"inputs": ["1 2\n", "5 7\n"], "outputs": ["3\n", "12\n"]}), 1.0),
        ("leetcode2k", "<think>inc</think>\n```python\ndef inc(x):\n    return x + 2\n```", json.dumps({"functional": "assert inc(1) == 2"}), 0.0),
        ("code", "<think>inc</think>\n```python\ndef inc(x):\n    return x + 1\n```", json.dumps({"fn_name": "inc", "inputs": [[1], [5]], "outputs": [2, 6]}), 1.0),
    ]


VERL_KEYS = {"score", "acc", "correct", "format_ok", "timeout", "error", "unscored", "verdict"}


# --------------------------------------------------------------------------- mapping


@pytest.mark.parametrize(
    ("data_source", "domain"),
    [
        ("DeepScaleR", "math"),
        ("agentica-org/DeepScaleR-Preview-Dataset", "math"),
        ("lighteval/MATH", "math"),
        ("openai/gsm8k", "math"),
        ("AIME-2024", "math"),
        ("math_dapo", "math"),
        ("countdown", "countdown"),
        ("Jiayi-Pan/Countdown-Tasks-3to4", "countdown"),
        ("kk_logic", "kk"),
        ("K-and-K/knights-and-knaves", "kk"),
        ("Logic-RL", "kk"),
        ("zebra_puzzles", "zebra"),
        ("allenai/ZebraLogicBench", "zebra"),
        ("LPB", "zebra"),
        ("logic_puzzle_baron", "zebra"),
        ("CodeR1", "code"),
        ("taco", "code"),
        ("leetcode2k", "code"),
        ("codecontests", "code"),
        ("code", "code"),
    ],
)
def test_data_sources_of_the_public_sets_map_to_their_domain(data_source, domain):
    assert domain_of_data_source(data_source) == domain


def test_ground_truths_map_onto_the_label_schema():
    assert label_for("deepscaler", 42) == {"domain": "math", "answer": "42"}
    assert label_for("countdown", {"target": np.int64(24), "nums": np.array([1, 2])}) == {
        "domain": "countdown",
        "target": 24,
        "numbers": [1, 2],
    }
    assert label_for("kk_logic", KK_TRUTH) == {"domain": "kk", "solution_text_format": KK_TRUTH["solution_text_format"]}
    assert label_for("kk", {"Zoey": "knight"}) == {"domain": "kk", "solution": {"Zoey": "knight"}}
    assert label_for("zebra", ZEBRA_TRUTH) == {"domain": "zebra", "solution": ZEBRA_TRUTH}
    taco = {"input_output": json.dumps({"inputs": ["1\n"], "outputs": ["1\n"]}), "difficulty": "EASY"}
    assert label_for("taco", taco) == {"domain": "code", "tests": {"inputs": ["1\n"], "outputs": ["1\n"]}}
    assert label_for("humaneval", "def check(candidate): pass\ncheck(f)") == {
        "domain": "code",
        "tests": {"functional": "def check(candidate): pass\ncheck(f)"},
    }
    label = {"domain": "math", "answer": "7", "reward": {"mode": "partial"}}
    assert label_for("anything at all", json.dumps(label)) == label  # a label passes through


def test_an_unmappable_data_source_is_an_error_naming_it():
    with pytest.raises(UnmappableDataSource, match="'hh-rlhf-private'"):
        compute_score("hh-rlhf-private", "\\boxed{1}", "1", url="http://127.0.0.1:9")  # raised before any HTTP
    with pytest.raises(UnmappableDataSource, match="'countdown'.*target and numbers"):
        label_for("countdown", {"target": 3})


# --------------------------------------------------------------------------- veRL


def test_verl_compute_score_per_sample_for_every_domain(service_url):
    for data_source, solution, truth, expected in verl_samples():
        result = compute_score(data_source, solution, truth, extra_info={"split": "train", "index": 0}, url=service_url)
        assert set(result) == VERL_KEYS, data_source
        assert result["score"] == expected, (data_source, result)
        assert result["acc"] == expected and result["correct"] == expected
        assert result["verdict"] == ("correct" if expected else "wrong"), (data_source, result)


def test_verl_batch_form_takes_numpy_columns_in_one_request(service_url):
    samples = verl_samples()
    before = requests_counted(service_url, "/v1/score", "200")
    results = compute_score_batch(
        data_sources=np.array([s[0] for s in samples], dtype=object),
        solution_strs=np.array([s[1] for s in samples], dtype=object),
        ground_truths=np.array([s[2] for s in samples], dtype=object),
        extra_infos=np.array([{"index": i} for i in range(len(samples))], dtype=object),
        url=service_url,
    )
    assert requests_counted(service_url, "/v1/score", "200") - before == 1
    assert [r["score"] for r in results] == [s[3] for s in samples]
    assert all(set(r) == VERL_KEYS for r in results)


def test_verl_reward_kwargs_mode_prompt_and_domain_map(service_url):
    r1_prompt = "Show the answer in <answer> </answer> tags.\nAssistant: <think>"
    well_formed = "reasoning</think> <answer>\\boxed{5}</answer>"
    # The R1 prompt ends inside <think>: with it (extra_info or reward_kwargs) the format is right.
    assert compute_score("math", well_formed, "5", {"prompt": r1_prompt}, url=service_url, mode="format")["score"] == 1.0
    assert compute_score("math", well_formed, "5", None, url=service_url, mode="format", prompt=r1_prompt)["score"] == 1.0
    bad_format = "no tags at all, \\boxed{5}"
    result = compute_score("math", bad_format, "5", {"prompt": r1_prompt}, url=service_url, mode="format")
    assert result["score"] == -1.0 and result["format_ok"] == 0.0 and result["verdict"] == "format_error"
    assert compute_score("my_private_set", "\\boxed{5}", "5", url=service_url, domain_map={"my_private_set": "math"})["score"] == 1.0


def test_verl_data_source_map_from_env(service_url, monkeypatch):
    monkeypatch.setenv("REWARD_DATA_SOURCE_DOMAINS", json.dumps({"puzzles_v2": "countdown"}))
    truth = {"target": 10, "numbers": [2, 5]}
    assert compute_score("puzzles_v2", "<think>x</think> <answer>2 * 5</answer>", truth, url=service_url)["score"] == 1.0


def test_verl_module_loaded_by_file_path_as_verl_does(service_url, monkeypatch):
    monkeypatch.setenv("REWARD_URL", service_url)
    spec = importlib.util.spec_from_file_location("custom_module", VERL_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.compute_score(data_source="openai/gsm8k", solution_str="\\boxed{8}", ground_truth="8", extra_info=None)["score"] == 1.0


# --------------------------------------------------------------------------- TRL


def call_like_grpo_trainer(reward_func, rows: list[dict], completions: list) -> list[float]:
    """TRL's GRPOTrainer calling convention: every dataset column but prompt/completion as a keyword list."""
    prompts = [row["prompt"] for row in rows]
    columns = {key: [row[key] for row in rows] for key in rows[0] if key not in ("prompt", "completion", "completion_ids")}
    completion_ids = [[1, 2, 3] for _ in completions]
    return reward_func(prompts=prompts, completions=completions, completion_ids=completion_ids, trainer_state=object(), **columns)


def test_trl_standard_format_with_a_label_column(service_url):
    reward = make_trl_reward_func(url=service_url)
    label = json.dumps({"domain": "math", "answer": "12"})
    rows = [{"prompt": "What is 3*4?", "label": label}] * 4
    completions = ["<think>3*4</think> \\boxed{12}", "<think>3*4</think> \\boxed{13}", "\\boxed{12}", "I don't know"]
    rewards = call_like_grpo_trainer(reward, rows, completions)
    assert rewards == [1.0, 0.0, 1.0, 0.0]
    assert all(isinstance(r, float) for r in rewards)
    assert reward.__name__ == "reward_service"


def test_trl_conversational_format_uses_the_prompt_messages(service_url):
    reward = make_trl_reward_func(url=service_url, mode="format")
    prompt = [
        {"role": "system", "content": "Think in <think> </think>, then answer in <answer> </answer>."},
        {"role": "user", "content": "Make 24 from 6, 3, 4, 2."},
    ]
    label = {"domain": "countdown", "target": 24, "numbers": [6, 3, 4, 2]}
    rows = [{"prompt": prompt, "label": label}] * 3
    completions = [
        [{"role": "assistant", "content": "<think>try</think> <answer>(6 - 3) * 4 * 2</answer>"}],
        [{"role": "assistant", "content": "<think>try</think> <answer>6 + 3 + 4 + 2</answer>"}],
        [{"role": "assistant", "content": "<think>try</think> (6 - 3) * 4 * 2"}],  # answer tags asked for, missing
    ]
    assert call_like_grpo_trainer(reward, rows, completions) == [1.0, 0.0, -1.0]
    assert reward.__name__ == "reward_service_format"
    assert [r.verdict for r in reward.last_results] == ["correct", "wrong", "format_error"]


def test_trl_error_samples_are_none_only_when_asked(service_url):
    rows = [{"prompt": "q", "label": {"domain": "math", "answer": "1"}}, {"prompt": "q", "label": {"domain": "math"}}]
    completions = ["\\boxed{1}", "\\boxed{1}"]
    assert call_like_grpo_trainer(make_trl_reward_func(url=service_url), rows, completions) == [1.0, 0.0]
    left_out = make_trl_reward_func(url=service_url, error_as_none=True)
    assert call_like_grpo_trainer(left_out, rows, completions) == [1.0, None]


def test_trl_answer_column_with_a_fixed_domain(service_url):
    reward = make_trl_reward_func(url=service_url, domain="math", name="gsm8k_accuracy")
    rows = [{"prompt": "q", "answer": "72"}, {"prompt": "q", "answer": "9"}]
    assert call_like_grpo_trainer(reward, rows, ["\\boxed{72}", "\\boxed{72}"]) == [1.0, 0.0]
    assert reward.__name__ == "gsm8k_accuracy"


def test_trl_data_source_and_ground_truth_columns(service_url):
    reward = make_trl_reward_func(url=service_url)
    rows = [
        {"prompt": "Answer in <answer> </answer>.", "data_source": "countdown", "ground_truth": {"target": 6, "numbers": [2, 3]}},
        {"prompt": "p", "data_source": "deepscaler", "ground_truth": "2"},
        {"prompt": "p", "data_source": "kk_logic", "ground_truth": KK_TRUTH},
    ]
    completions = [
        "<think>x</think> <answer>2 * 3</answer>",
        "<think>x</think> \\boxed{3}",
        "<think>x</think> <answer>(1) Zoey is a knight\n(2) Oliver is a knave</answer>",
    ]
    assert call_like_grpo_trainer(reward, rows, completions) == [1.0, 0.0, 1.0]


def test_trl_without_a_label_says_which_columns_it_saw(service_url):
    reward = make_trl_reward_func(url=service_url)
    with pytest.raises(ValueError, match=r"'label' column.*\['question_id'\]"):
        call_like_grpo_trainer(reward, [{"prompt": "p", "question_id": 1}], ["x"])
    with pytest.raises(UnmappableDataSource, match="'my_set'"):
        call_like_grpo_trainer(reward, [{"prompt": "p", "data_source": "my_set", "answer": "1"}], ["x"])


# --------------------------------------------------------------------------- OpenRLHF python-file form


def openrlhf_sample(i: int) -> tuple[str, str, str, float]:
    prompt = f"User: what is {i} + {i}? Put it in <answer> </answer>.\nAssistant: <think>"
    right = i % 2 == 0
    query = prompt + f" adding</think> <answer>\\boxed{{{2 * i if right else 2 * i + 1}}}</answer><|im_end|>"
    return prompt, query, json.dumps({"domain": "math", "answer": str(2 * i)}), 1.0 if right else 0.0


@pytest.fixture
def openrlhf_agent():
    """OpenRLHF's agent module, with sys.modules put back afterwards (the loader stubs the openrlhf
    package, and a second load in the same process would find that stub without a __spec__)."""
    names = ("openrlhf", "openrlhf.utils", "openrlhf.utils.logging_utils", "openrlhf.utils.agent")
    saved = {name: sys.modules[name] for name in names if name in sys.modules}
    yield load_openrlhf_agent_module()
    for name in names:
        sys.modules.pop(name, None)
    sys.modules.update(saved)


def test_openrlhf_executor_loads_the_file_and_gets_what_the_url_form_gets(service_url, monkeypatch, openrlhf_agent):
    monkeypatch.setenv("REWARD_URL", service_url)
    executor = openrlhf_agent.SingleTurnAgentExecutor(remote_rm_url=str(OPENRLHF_FILE))
    assert executor.reward_func is not None
    samples = [openrlhf_sample(i) for i in range(32)]

    async def run():
        # One sample per call, all at once, as the executor does for a rollout batch.
        return await asyncio.gather(*(executor._fetch_rewards_via_func([q], [p], [label]) for p, q, label, _ in samples))

    answers = asyncio.run(run())
    for (prompt, query, label, expected), [info] in zip(samples, answers, strict=True):
        assert info["rewards"] == [expected] and info["scores"] == [expected]
        via_url = httpx.post(f"{service_url}/reward", json={"query": [query], "prompts": [prompt], "labels": [label]}, timeout=60).json()
        assert set(info) == set(via_url) == {"rewards", "scores", "extra_logs"}
        assert info["rewards"] == via_url["rewards"] and info["scores"] == via_url["scores"]
        assert set(info["extra_logs"]) == set(via_url["extra_logs"])


def test_openrlhf_file_with_the_service_down_raises_naming_the_url(monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("REWARD_URL", url)
    monkeypatch.setenv("REWARD_DEADLINE_S", "1")
    spec = importlib.util.spec_from_file_location("reward_func", OPENRLHF_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    prompt, query, label, _ = openrlhf_sample(1)
    with pytest.raises(RewardServiceUnavailable, match=f"{url}/reward"):
        module.reward_func([query], [prompt], [label])


def test_openrlhf_file_works_from_an_uninstalled_checkout(service_url, tmp_path):
    """Loaded by path in a process where reward_client is not importable (no PYTHONPATH, other cwd)."""
    prompt, query, label, expected = openrlhf_sample(4)
    script = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('reward_func', {str(OPENRLHF_FILE)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        f"print(json.dumps(module.reward_func([{query!r}], [{prompt!r}], [{label!r}])))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"REWARD_URL": service_url}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rewards"] == [expected]
