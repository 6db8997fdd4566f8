"""veRL adapter: the reward service as veRL's custom reward function (pinned to veRL 0.9.x).

Per sample (veRL 0.9's default reward loop, ``reward.reward_manager.name=naive``; also
``dapo``, ``gdpo``, ``rate_limited``, which call the same way)::

    reward.custom_reward_function.path=/path/to/client/reward_client/verl.py
    reward.custom_reward_function.name=compute_score
    +reward.custom_reward_function.reward_kwargs.url=http://reward:8000

veRL then calls ``compute_score(data_source=..., solution_str=..., ground_truth=...,
extra_info=...)`` once per sample, all samples of a batch at once from a thread pool.
(veRL 0.9.1's ``main_ppo`` reads only these ``reward.*`` keys: the top-level
``custom_reward_function.*`` of earlier releases is ignored there.)

Batched, for the ``BatchRewardManager`` of releases whose reward loop selects it
(``verl/workers/reward_manager/batch.py``; 0.9.1's loop does not; one HTTP call per
rollout batch)::

    reward.custom_reward_function.name=compute_score_batch

called as ``compute_score_batch(data_sources=..., solution_strs=..., ground_truths=...,
extra_infos=..., **reward_kwargs)``. tests/test_verl_contract.py makes both calls as
veRL 0.9.1 makes them.

``solution_str`` is the response alone, decoded without special tokens; ``ground_truth``
is the row's ``reward_model.ground_truth``; :func:`reward_client.labels.label_for` turns
these into a service label. Settings come from ``reward_kwargs`` (``url``, ``api_key``,
``mode``, ``options``, ``prompt``, ``domain_map``, ``batch_size``, ``deadline_s``; veRL lets
them win over the call's keywords) or from ``$REWARD_URL`` / ``$REWARD_API_KEY``.

The result is veRL's dict form: ``score`` is the training reward; the other keys (the
same for every sample, as veRL's reward_extra_info needs) are ``acc`` (fraction correct in
[0, 1]), ``correct``, ``format_ok``, ``timeout``, ``error``, ``unscored`` (0/1) and
``verdict`` (text). ``score`` of an unscored sample is the failure reward (veRL has no way
to leave a sample out); ``unscored`` marks it, for masking (docs/training.md).
Keys veRL adds to ``extra_info`` (``num_turns``, ``rollout_reward_scores``) are ignored; a
``prompt`` there is used for format checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

try:
    import reward_client  # noqa: F401
except ImportError:
    # Loaded by file path (custom_reward_function.path) from a checkout that is not installed.
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reward_client.labels import label_for
from reward_client.results import ItemResult
from reward_client.shared import shared_client

_CLIENT_SETTINGS = ("batch_size", "deadline_s", "request_timeout_s", "max_retries", "concurrency")


def _options(mode: str | None, options: Mapping[str, Any] | None) -> dict[str, Any] | None:
    merged = dict(options or {})
    if mode is not None:
        merged["mode"] = mode
    return merged or None


def _prompt_of(extra_info: Any, default: str | None) -> str | None:
    if isinstance(extra_info, Mapping):
        prompt = extra_info.get("prompt")
        if isinstance(prompt, str):
            return prompt
    return default


def as_verl_result(result: ItemResult) -> dict[str, Any]:
    """veRL's dict form of one result: ``score`` (the reward) plus the same extra keys every time."""
    return {
        "score": result.reward,
        "acc": result.score,
        "correct": float(result.verdict == "correct"),
        "format_ok": float(result.format_ok),
        "timeout": float(result.verdict == "timeout"),
        "error": float(result.verdict == "error"),
        "unscored": float(result.verdict == "unscored"),
        "verdict": result.verdict,
    }


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None = None,
    *,
    url: str | None = None,
    api_key: str | None = None,
    mode: str | None = None,
    options: Mapping[str, Any] | None = None,
    prompt: str | None = None,
    domain_map: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """veRL's batch reward manager form: one dict per sample, in order (one scoring call, batched)."""
    n = len(solution_strs)
    if len(data_sources) != n or len(ground_truths) != n:
        raise ValueError(
            f"data_sources ({len(data_sources)}), solution_strs ({n}) and ground_truths ({len(ground_truths)}) differ in length"
        )
    infos = list(extra_infos) if extra_infos is not None else [None] * n
    if len(infos) != n:
        raise ValueError(f"extra_infos has {len(infos)} entries for {n} solutions")
    items = []
    for data_source, solution, truth, info in zip(data_sources, solution_strs, ground_truths, infos, strict=True):
        item: dict[str, Any] = {"response": str(solution), "label": label_for(data_source, truth, domain_map=domain_map)}
        sample_prompt = _prompt_of(info, prompt)
        if sample_prompt is not None:
            item["prompt"] = sample_prompt
        items.append(item)
    settings = {k: kwargs[k] for k in _CLIENT_SETTINGS if kwargs.get(k) is not None}
    client = shared_client(url, api_key, **settings)
    return [as_verl_result(r) for r in client.score(items, _options(mode, options))]


def compute_score(
    data_source: Any,
    solution_str: str,
    ground_truth: Any,
    extra_info: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """veRL's per-sample form (``custom_reward_function.name=compute_score``)."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info], **kwargs)[0]
