"""Scoring one item: label routing, extraction, the domain verifier and the reward mode.

Everything here is a pure function of (response, label, prompt, options); the execution
backends (a local process pool, RQ workers) call :func:`score_item` and only add time
limits around it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from services.extraction import Extracted, extract
from services.labels import LabelError, parse_label
from services.rewards import RewardOptions, compute_reward

VERDICTS = ("correct", "partial", "wrong", "format_error", "timeout", "error")


@dataclass(slots=True)
class Outcome:
    """What a domain verifier found: the fraction correct and whether it could read an answer."""

    score: float
    parsed: bool = True
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    verdict: str | None = None
    """Set only to override the verdict derived from score and parsed (e.g. ``timeout``)."""

    def resolved_verdict(self) -> str:
        if self.verdict is not None:
            return self.verdict
        if not self.parsed:
            return "format_error"
        if self.score >= 1.0:
            return "correct"
        if self.score > 0.0:
            return "partial"
        return "wrong"


Verifier = Callable[[Extracted, Any, RewardOptions], Outcome]

# domain -> "module:function"; imported on first use so a domain's heavy imports
# (sympy, the sandbox) load only where that domain is scored.
VERIFIERS: dict[str, str] = {
    "math": "services.domains.math:verify",
    "countdown": "services.domains.countdown:verify",
    "code": "services.domains.code:verify",
    "kk": "services.domains.kk:verify",
    "zebra": "services.domains.zebra:verify",
}
_loaded: dict[str, Verifier] = {}


def get_verifier(domain: str) -> Verifier:
    fn = _loaded.get(domain)
    if fn is None:
        module_name, _, attr = VERIFIERS[domain].partition(":")
        fn = getattr(importlib.import_module(module_name), attr)
        _loaded[domain] = fn
    return fn


def warm_up(domains: tuple[str, ...] = ("math", "countdown")) -> None:
    """Import the verifiers (and their libraries) ahead of the first item."""
    for domain in domains:
        try:
            get_verifier(domain)
        except ImportError:
            pass


def label_domain(raw_label: Any) -> str:
    """The domain a raw label names, or 'unknown' (for metrics and timeouts)."""
    try:
        from services.labels import label_as_dict

        domain = label_as_dict(raw_label).get("domain")
        return domain if isinstance(domain, str) and domain in VERIFIERS else "unknown"
    except LabelError:
        return "unknown"


def make_result(
    outcome: Outcome, format_ok: bool, options: RewardOptions, format_reason: str | None = None
) -> dict[str, Any]:
    verdict = outcome.resolved_verdict()
    details = dict(outcome.details)
    if outcome.reason:
        details.setdefault("reason", outcome.reason)
    if format_reason and not format_ok:
        details.setdefault("format_reason", format_reason)
    return {
        "reward": compute_reward(verdict, outcome.score, format_ok, outcome.parsed, options),
        "score": float(outcome.score) if verdict not in ("timeout", "error") else 0.0,
        "verdict": verdict,
        "format_ok": bool(format_ok),
        "details": details,
    }


def resolve_options(
    base: RewardOptions, layers: tuple[dict[str, Any] | None, ...], label: Any | None
) -> RewardOptions:
    label_layer = label.reward if label is not None and getattr(label, "reward", None) else None
    return base.layered(*layers, label_layer)


def failure_result(
    verdict: str,
    reason: str,
    response: str,
    prompt: str | None,
    base: RewardOptions,
    layers: tuple[dict[str, Any] | None, ...] = (),
) -> dict[str, Any]:
    """The result of an item that could not be scored (timeout, crash, bad label)."""
    try:
        options = base.layered(*layers)
    except ValidationError:
        options = base
    try:
        ex = extract(response, prompt, options)
        format_ok, format_reason = ex.format_ok, ex.format_reason
    except Exception:  # extraction is plain string work; stay safe on the failure path
        format_ok, format_reason = False, None
    return make_result(Outcome(score=0.0, reason=reason, verdict=verdict), format_ok, options, format_reason)


def score_item(
    response: str,
    raw_label: Any,
    prompt: str | None = None,
    base: RewardOptions | None = None,
    layers: tuple[dict[str, Any] | None, ...] = (),
) -> dict[str, Any]:
    """Score one response against its label; never raises for bad input.

    ``layers`` are option dicts applied over ``base`` (request, then item); the
    label's own ``reward`` options are applied last.
    """
    base = base or RewardOptions()
    try:
        label = parse_label(raw_label)
    except LabelError as exc:
        return failure_result("error", f"label: {exc}", response, prompt, base, layers)
    try:
        options = resolve_options(base, layers, label)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return failure_result("error", f"options: {where}: {first['msg']}", response, prompt, base)
    ex = extract(response, prompt, options)
    try:
        outcome = get_verifier(label.domain)(ex, label, options)
    except (Exception, RecursionError, MemoryError) as exc:
        outcome = Outcome(score=0.0, verdict="error", reason=f"verifier failed: {type(exc).__name__}: {exc}"[:500])
    return make_result(outcome, ex.format_ok, options, ex.format_reason)
