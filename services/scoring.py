"""One item's way through the verifiers: decoded once at the edge, scored, turned into a result.

:func:`decode_item` reads the label and resolves the options once, where a request comes
in; the :class:`WorkItem` it makes carries the domain, the parsed label, the options (the
time limit included) and the item's cache key to whichever process scores it.
:func:`score` never raises for bad input, and :func:`make_result` /
:func:`failure_result` build every result, failures included.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from services.core import DomainLabel, LabelError, RunControl, Verdict, VerifierOutcome
from services.cutoff import cut_off
from services.extraction import extract
from services.labels import describe_error, parse_label
from services.registry import REGISTRY
from services.result import Result
from services.rewards import RewardOptions, compute_reward
from services.text import undecodable
from services.verdicts import UNPAID_VERDICTS

UNKNOWN_DOMAIN = "unknown"


@dataclass(frozen=True, slots=True)
class TimeLimits:
    """How much time an item gets, resolved once when it is decoded (:func:`decode_item`):
    what its options ask for (``timeout_s``), capped at ``max_s``, else the default for its
    kind. The only place these defaults live; the service's settings start from them.

    The budget is the item's own running time: a verifier process's wall clock for math,
    CountDown and puzzles; for code, the CPU its sandbox runs take together (the wait for a
    slot never counts). Each run has its own CPU limit within it (a test's ``time_limit_s``).
    """

    item_s: float = 10.0
    """Math, CountDown and puzzle items."""
    code_item_s: float = 60.0
    """Items whose work runs programs in the sandbox."""
    max_s: float = 120.0
    """Cap on what options ask for."""

    def budget_for(self, options: RewardOptions, sandbox: bool) -> float:
        if options.timeout_s is not None:
            return min(options.timeout_s, self.max_s)
        return self.code_item_s if sandbox else self.item_s


DEFAULT_LIMITS = TimeLimits()


@dataclass(slots=True)
class WorkItem:
    """One response to score, with everything read from its label and options."""

    response: str
    prompt: str | None
    domain: str
    """A registered domain, or ``unknown`` when the label could not be read."""
    label: DomainLabel | None
    options: RewardOptions
    """The server's defaults with the request's, the item's and the label's options applied."""
    key: str
    """Identity for the result caches: domain, label, prompt, options and response."""
    error: str | None = None
    """Why the item cannot be scored (a bad label or bad options); it then gets ``error``."""
    truncated: bool = False
    """The response did not finish: the length limit cut it off (verdict ``truncated``
    unless the options say ``score_truncated``)."""
    budget_s: float = field(kw_only=True)
    """The item's time budget (:class:`TimeLimits`), resolved once at decoding."""

    @property
    def sandbox(self) -> bool:
        """Its work runs programs in the sandbox."""
        domain = REGISTRY.get(self.domain)
        return domain is not None and domain.sandbox

    def to_wire(self) -> dict[str, Any]:
        """Plain JSON for a queue; :meth:`from_wire` rebuilds the item in a worker."""
        return {
            "response": self.response,
            "prompt": self.prompt,
            "domain": self.domain,
            "label": self.label.model_dump(mode="json", exclude_none=True)
            if self.label is not None
            else None,
            "options": self.options.model_dump(mode="json"),
            "key": self.key,
            "error": self.error,
            "truncated": self.truncated,
            "budget_s": self.budget_s,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> WorkItem:
        options = RewardOptions.model_validate(data["options"])
        label = None
        if data.get("label") is not None and data["domain"] in REGISTRY:
            label = REGISTRY[data["domain"]].label_model.model_validate(data["label"])
        return cls(
            data["response"],
            data.get("prompt"),
            data["domain"],
            label,
            options,
            data["key"],
            data.get("error"),
            bool(data.get("truncated", False)),
            budget_s=float(data["budget_s"]),
        )


def item_key(
    domain: str,
    label_json: str,
    prompt: str | None,
    options: RewardOptions,
    response: str,
    truncated: bool = False,
) -> str:
    h = hashlib.blake2b(digest_size=20)
    for part in (domain, label_json, "" if prompt is None else "\x01" + prompt, options.model_dump_json()):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    if truncated:
        h.update(b"\x02truncated\x00")
    h.update(response.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _layered(base: RewardOptions, layers: tuple[Any, ...]) -> tuple[RewardOptions, str | None]:
    try:
        return base.layered(*layers), None
    except ValidationError as exc:
        return base, f"options: {describe_error(exc)}"


def decode_item(
    response: str,
    raw_label: Any,
    prompt: str | None = None,
    base: RewardOptions | None = None,
    layers: tuple[dict[str, Any] | None, ...] = (),
    truncated: bool = False,
    *,
    limits: TimeLimits = DEFAULT_LIMITS,
    overrides: tuple[dict[str, Any] | None, ...] = (),
) -> WorkItem:
    """Read one item: its label, its options (``layers`` over ``base``, the label's own
    ``reward`` options, then ``overrides``: what a caller sets for every item whatever its
    label says, as ``reward eval --mode`` does) and its time budget (``limits``). Never
    raises: an unreadable item (text that is not Unicode included, :mod:`services.text`)
    carries its ``error``. ``truncated``: the response was cut off by the length limit
    (:func:`services.extraction.finished`, a finish reason)."""
    base = base or RewardOptions()
    text_error = undecodable(response, "response") or undecodable(prompt, "prompt")
    text_error = text_error or next(filter(None, (undecodable(layer, "options") for layer in layers)), None)
    if text_error is not None:
        key = item_key(UNKNOWN_DOMAIN, "", prompt, base, response)
        budget = limits.budget_for(base, sandbox=False)
        return WorkItem(response, prompt, UNKNOWN_DOMAIN, None, base, key, error=text_error, budget_s=budget)
    try:
        label = parse_label(raw_label)
    except LabelError as exc:
        options, _ = _layered(base, (*layers, *overrides))
        key = item_key(UNKNOWN_DOMAIN, repr(raw_label)[:10_000], prompt, options, response)
        budget = limits.budget_for(options, sandbox=False)
        return WorkItem(response, prompt, UNKNOWN_DOMAIN, None, options, key, error=f"label: {exc}", budget_s=budget)
    options, error = _layered(base, (*layers, label.reward, *overrides))
    key = item_key(label.domain, label.model_dump_json(), prompt, options, response, truncated)
    budget = limits.budget_for(options, sandbox=REGISTRY[label.domain].sandbox)
    return WorkItem(
        response, prompt, label.domain, label, options, key, error=error, truncated=truncated, budget_s=budget
    )


def make_result(
    outcome: VerifierOutcome, format_ok: bool, options: RewardOptions, format_reason: str | None = None
) -> Result:
    """The result of one item: reward under the mode, score, verdict, format and details."""
    verdict = outcome.resolved_verdict()
    details = dict(outcome.details)
    if outcome.reason:
        details.setdefault("reason", outcome.reason)
    if format_reason and not format_ok:
        details.setdefault("format_reason", format_reason)
    return Result(
        reward=compute_reward(verdict, outcome.score, format_ok, outcome.parsed, options),
        score=0.0 if verdict in UNPAID_VERDICTS else float(outcome.score),
        verdict=verdict,
        format_ok=bool(format_ok),
        details=details,
    )


def failure_result(item: WorkItem, verdict: Verdict, reason: str) -> Result:
    """The result of an item that could not be scored (timeout, crash, bad label, deadline)."""
    try:
        ex = extract(item.response, item.prompt, item.options)
        format_ok, format_reason = ex.format_ok, ex.format_reason
    except Exception:  # extraction is plain string work; stay safe on the failure path
        format_ok, format_reason = False, None
    return make_result(
        VerifierOutcome(score=0.0, reason=reason, verdict=verdict), format_ok, item.options, format_reason
    )


def score(item: WorkItem, run: RunControl | None = None) -> Result:
    """Score one decoded item against its label; never raises for bad input. ``run``: how
    the backend steers the item's sandbox runs (its cancel flag); by default a run context
    of the item's own budget that nobody cancels."""
    if item.error is not None or item.label is None:
        return failure_result(item, Verdict.ERROR, item.error or "no label")
    ex = extract(item.response, item.prompt, item.options)
    if not item.options.score_truncated:
        # A cut-off response holds reasoning, not an answer: whatever its tail says, it is not
        # paid. Where no finish signal came, the tail itself may show the cut.
        shown = None if item.truncated else cut_off(ex.response)
        if item.truncated or shown is not None:
            why = shown or "the length limit cut it off"
            details = {"cut_off": shown} if shown else {}
            outcome = VerifierOutcome(
                score=0.0, reason=f"the response did not finish: {why}", verdict=Verdict.TRUNCATED, details=details
            )
            return make_result(outcome, ex.format_ok, item.options)
    domain = REGISTRY[item.domain]
    try:
        if domain.sandbox:
            outcome = domain.verify(ex, item.label, item.options, run or RunControl(budget_s=item.budget_s))
        else:
            outcome = domain.verify(ex, item.label, item.options)
    except (Exception, RecursionError, MemoryError) as exc:
        reason = f"verifier failed: {type(exc).__name__}: {exc}"[:500]
        outcome = VerifierOutcome(score=0.0, verdict=Verdict.ERROR, reason=reason)
    if item.truncated:
        outcome.details["truncated"] = True
    return make_result(outcome, ex.format_ok, item.options, ex.format_reason)


def score_item(
    response: str,
    raw_label: Any,
    prompt: str | None = None,
    base: RewardOptions | None = None,
    layers: tuple[dict[str, Any] | None, ...] = (),
    truncated: bool = False,
) -> Result:
    """Decode and score in one call: for scripts and tests that hold one raw item."""
    return score(decode_item(response, raw_label, prompt, base, layers, truncated))
