"""OpenRLHF's remote reward (``POST /reward``): samples read from its request, and the
answer shaped as it expects (``rewards``, ``scores``, ``extra_logs``)."""

from __future__ import annotations

from typing import Any

from reward_server.engine import Engine
from services.core import Verdict
from services.extraction import DEFAULT_END_TOKENS, finished, response_from_query
from services.registry import DOMAINS
from services.result import Result
from services.scoring import WorkItem

# Per-sample flags in OpenRLHF's extra_logs (one list entry per query): a verdict each, then
# the format flag and whether the result came from a cache.
VERDICT_FLAGS = (
    Verdict.CORRECT,
    Verdict.PARTIAL,
    Verdict.FORMAT_ERROR,
    Verdict.TRUNCATED,
    Verdict.TIMEOUT,
    Verdict.ERROR,
    Verdict.UNSCORED,
)
EXTRA_LOG_KEYS = (*(v.value for v in VERDICT_FLAGS), "format_ok", "cached")


def sample_item(engine: Engine, query: str, prompt: str | None, label: Any, layer: dict[str, Any] | None) -> WorkItem:
    """One OpenRLHF sample; one that the length limit cut off is marked so (the query's
    special tokens tell: a finished response ends with an end token)."""
    item = engine.decode(response_from_query(query, prompt), label, prompt, (layer,))
    end_tokens = item.options.end_tokens if item.options.end_tokens is not None else DEFAULT_END_TOKENS
    if item.error is None and finished(query, item.response, end_tokens) is False:
        item = engine.decode(item.response, label, prompt, (layer,), truncated=True)
    return item


def extra_logs(items: list[WorkItem], results: list[Result]) -> dict[str, list[float]]:
    """Per-sample numbers for OpenRLHF's logs, with the same keys on every sample.

    OpenRLHF averages each key over the batch, so in a multi-domain run the per-domain
    rates come as pairs: ``correct_<domain> / n_<domain>`` is that domain's accuracy and
    ``format_ok_<domain> / n_<domain>`` its format rate. ``run_cpu_s`` is the CPU seconds a
    code sample's programs took (0 for other domains).
    """
    logs: dict[str, list[float]] = {key: [] for key in (*EXTRA_LOG_KEYS, "run_cpu_s")}
    for domain in DOMAINS:
        for prefix in ("n", "correct", "format_ok"):
            logs[f"{prefix}_{domain}"] = []
    for item, r in zip(items, results, strict=True):
        for verdict in VERDICT_FLAGS:
            logs[verdict.value].append(float(r.verdict == verdict))
        logs["format_ok"].append(float(r.format_ok))
        logs["cached"].append(float(r.cached))
        logs["run_cpu_s"].append(float(r.details.get("cpu_ms", 0.0)) / 1000.0)
        correct = r.verdict == Verdict.CORRECT
        for d in DOMAINS:
            mine = d == item.domain
            logs[f"n_{d}"].append(float(mine))
            logs[f"correct_{d}"].append(float(mine and correct))
            logs[f"format_ok_{d}"].append(float(mine and r.format_ok))
    return logs


def answer(results: list[Result], items: list[WorkItem]) -> dict[str, Any]:
    return {
        "rewards": [r.reward for r in results],
        "scores": [r.score for r in results],
        "extra_logs": extra_logs(items, results),
    }
