"""What scoring gives back: an item's :class:`Result`, and a second judge's :class:`Opinion`.

Both are frozen: the scoring layer builds them (:func:`services.scoring.make_result`, the
second judges of :mod:`services.second_opinion`) and every layer above reads them by
attribute, up to the HTTP edge, which writes ``to_json()``. The queue between the API and
its workers carries the same JSON and rebuilds them with ``from_json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from services.verdicts import FAILURE_VERDICTS, Verdict


@dataclass(frozen=True, slots=True)
class Result:
    """One item's result: the reward under its mode, the fraction right, the verdict."""

    reward: float
    score: float
    verdict: Verdict
    format_ok: bool
    details: Mapping[str, Any] = field(default_factory=dict)
    latency_ms: float | None = None
    """Set by the front when it answers: the item's time in the service."""
    cached: bool = False
    """Answered from a result cache (or by an identical item in flight)."""

    @property
    def reason(self) -> str | None:
        return self.details.get("reason")

    @property
    def cacheable(self) -> bool:
        """False when the item could not be scored (timeout, error, unscored): such a result
        says something of the service at that moment, not of the answer."""
        return self.verdict not in FAILURE_VERDICTS

    def answered(self, latency_ms: float, cached: bool) -> Result:
        return replace(self, latency_ms=latency_ms, cached=cached)

    def with_details(self, **extra: Any) -> Result:
        return replace(self, details={**self.details, **extra})

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "reward": self.reward,
            "score": self.score,
            "verdict": self.verdict.value,
            "format_ok": self.format_ok,
            "details": dict(self.details),
        }
        if self.latency_ms is not None:
            data["latency_ms"] = self.latency_ms
            data["cached"] = self.cached
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Result:
        return cls(
            reward=float(data["reward"]),
            score=float(data["score"]),
            verdict=Verdict(data["verdict"]),
            format_ok=bool(data["format_ok"]),
            details=dict(data.get("details") or {}),
            latency_ms=data.get("latency_ms"),
            cached=bool(data.get("cached", False)),
        )

    def __getitem__(self, name: str) -> Any:
        """Read access in the shape of the HTTP answer, for scripts and tests
        (``result["verdict"]`` is the verdict's text)."""
        return self.to_json()[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.to_json().get(name, default)


class OpinionVerdict(StrEnum):
    CORRECT = "correct"
    WRONG = "wrong"
    ABSTAIN = "abstain"
    """The judge cannot tell (it reads no answer, or its readers disagree)."""


@dataclass(frozen=True, slots=True)
class Opinion:
    """A second judge's word on an item the verifier scored (the audit's)."""

    verdict: OpinionVerdict
    reason: str
    judge: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict.value, "reason": self.reason, "judge": self.judge, **self.details}

    def __getitem__(self, name: str) -> Any:
        """Read access in the shape of its JSON, for scripts and tests."""
        return self.to_json()[name]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Opinion:
        rest = {k: v for k, v in data.items() if k not in ("verdict", "reason", "judge")}
        return cls(OpinionVerdict(data["verdict"]), str(data["reason"]), str(data["judge"]), rest)
