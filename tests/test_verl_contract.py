"""reward_client/verl.py called exactly as veRL 0.9.1 calls a custom reward function.

What veRL 0.9.1 does (read from the ``verl==0.9.1`` wheel that ``make install`` puts in):

- ``verl/trainer/ppo/reward.py`` ``get_custom_reward_fn``: loads
  ``reward.custom_reward_function.path`` with ``verl.utils.import_utils.load_extern_object``
  and wraps it as ``partial(_call_with_kwargs, raw_fn, reward_kwargs)``, where
  ``_call_with_kwargs(raw_fn, extra, *args, **kwargs)`` calls ``raw_fn(*args, **{**kwargs, **extra})``
  (``reward.custom_reward_function.reward_kwargs`` win over the call's keywords).
- per sample, ``verl/experimental/reward_loop/reward_manager/naive.py`` ``run_single``
  (the default ``reward.reward_manager.name=naive``): for a sync function,
  ``loop.run_in_executor(None, lambda: compute_score(data_source=..., solution_str=...,
  ground_truth=..., extra_info=...))`` for every sample of the batch at once, where
  ``solution_str`` is the response decoded with ``skip_special_tokens=True``,
  ``ground_truth`` is ``non_tensor_batch["reward_model"]["ground_truth"]`` and
  ``extra_info`` is the row's ``extra_info`` plus ``num_turns`` and
  ``rollout_reward_scores``. A dict result gives ``score`` as the reward and every key as
  ``reward_extra_info``.
- batched, ``verl/workers/reward_manager/batch.py`` ``BatchRewardManager.verify``:
  ``compute_score(data_sources=<numpy object array>, solution_strs=<list>,
  ground_truths=<list>, extra_infos=<numpy object array of dicts, each with
  rollout_reward_scores>, **reward_kwargs)``; the result is one score (or dict) per sample.

``load_extern_object`` is veRL's own, loaded from ``verl/utils/import_utils.py`` (standard
library only) without importing the rest of veRL; the managers' calls need veRL's
``DataProto`` (torch, tensordict, ray), so they are reproduced here call for call.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections import defaultdict
from functools import partial
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.test_adapters import VERL_FILE, VERL_KEYS, verl_samples


def verl_import_utils() -> ModuleType:
    spec = importlib.util.find_spec("verl")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("verl==0.9.1 is not installed here; `make install` installs it (pip install --no-deps)")
    path = Path(next(iter(spec.submodule_search_locations))) / "utils" / "import_utils.py"
    module_spec = importlib.util.spec_from_file_location("verl_import_utils", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _call_with_kwargs(raw_fn, extra_kwargs, *args, **kwargs):
    # verl/trainer/ppo/reward.py, 0.9.1: the reward_kwargs win over the call's keywords.
    return raw_fn(*args, **{**kwargs, **extra_kwargs})


def custom_reward_fn(name: str, reward_kwargs: dict) -> partial:
    """get_custom_reward_fn of veRL 0.9.1 for reward.custom_reward_function.{path,name,reward_kwargs}."""
    raw_fn = verl_import_utils().load_extern_object(module_path=str(VERL_FILE), object_name=name)
    assert not asyncio.iscoroutinefunction(raw_fn)  # veRL takes the sync path (run_in_executor)
    return partial(_call_with_kwargs, raw_fn, reward_kwargs)


def test_the_naive_reward_manager_per_sample(service_url: str) -> None:
    compute_score = custom_reward_fn("compute_score", {"url": service_url})
    samples = verl_samples()

    async def run_single(data_source, solution_str, ground_truth, index):
        loop = asyncio.get_running_loop()
        extra_info = {"split": "train", "index": index}
        extra_info["num_turns"] = None
        extra_info["rollout_reward_scores"] = {}
        result = await loop.run_in_executor(
            None,
            lambda: compute_score(
                data_source=data_source,
                solution_str=solution_str,
                ground_truth=ground_truth,
                extra_info=extra_info,
            ),
        )
        reward_extra_info = {}
        if isinstance(result, dict):
            score = result["score"]
            for key, value in result.items():
                reward_extra_info[key] = value
        else:
            score = result
            reward_extra_info["acc"] = score
        return {"reward_score": score, "reward_extra_info": reward_extra_info}

    async def run_batch():
        return await asyncio.gather(*(run_single(s[0], s[1], s[2], i) for i, s in enumerate(samples)))

    outputs = asyncio.run(run_batch())
    assert [o["reward_score"] for o in outputs] == [s[3] for s in samples]
    assert all(set(o["reward_extra_info"]) == VERL_KEYS for o in outputs)
    assert all(isinstance(o["reward_score"], float) for o in outputs)


def test_the_batch_reward_manager(service_url: str) -> None:
    samples = verl_samples()
    compute_score = custom_reward_fn("compute_score_batch", {})
    reward_kwargs = {"url": service_url, "mode": "binary"}  # BatchRewardManager's own **reward_kwargs
    data_sources = np.array([s[0] for s in samples], dtype=object)
    extras = np.array([{"index": i} for i in range(len(samples))], dtype=object)
    rollout_reward_scores = [{} for _ in range(len(samples))]
    for i in range(len(samples)):
        extras[i]["rollout_reward_scores"] = rollout_reward_scores[i]
    scores = compute_score(
        data_sources=data_sources,
        solution_strs=[s[1] for s in samples],
        ground_truths=[s[2] for s in samples],
        extra_infos=extras,
        **reward_kwargs,
    )
    rewards, reward_extra_info = [], defaultdict(list)
    for score in scores:
        assert isinstance(score, dict)
        rewards.append(score["score"])
        for key, value in score.items():
            reward_extra_info[key].append(value)
    assert rewards == [s[3] for s in samples]
    assert set(reward_extra_info) == VERL_KEYS
    assert all(len(values) == len(samples) for values in reward_extra_info.values())


def test_reward_kwargs_win_over_the_call(service_url: str) -> None:
    """reward_kwargs from the config override what the manager passes, as veRL merges them."""
    compute_score = custom_reward_fn("compute_score", {"url": service_url, "mode": "format"})
    prompt = "Answer in <answer> </answer> tags.\nAssistant: <think>"
    result = compute_score(
        data_source="math",
        solution_str="no tags, \\boxed{5}",
        ground_truth="5",
        extra_info={"prompt": prompt, "num_turns": None, "rollout_reward_scores": {}},
        mode="binary",
    )
    assert result["score"] == -1.0 and result["verdict"] == "format_error"
    assert json.dumps(result)  # plain data: veRL keeps it in numpy object arrays and logs it
