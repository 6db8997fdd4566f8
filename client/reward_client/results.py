"""The shapes the client sends and reads back, without the service's pydantic models.

A trainer installs the client alone (httpx and nothing heavy), so it reads the service's
answers with plain dataclasses checked field by field. ``model_dump()`` gives the same
dict the service's models give, so code written against either reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Required, TypedDict


class ScoreItem(TypedDict, total=False):
    """One item of ``POST /v1/score``; ``ScoreItem(response=..., label=...)`` builds the dict."""

    response: Required[str]
    label: Required[Any]
    prompt: str
    options: dict[str, Any]
    finish_reason: str


class ShapeError(ValueError):
    """A response body that is not what the service answers; the message names the field."""


def _field(body: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in body:
        raise ShapeError(f"{where}: missing field {key!r}")
    return body[key]


def _number(value: Any, where: str) -> float:
    # bool is an int to Python, but true is not a reward.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ShapeError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ShapeError(f"{where}: expected true or false, got {value!r}")
    return value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ShapeError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _numbers(value: Any, where: str) -> list[float]:
    if not isinstance(value, list):
        raise ShapeError(f"{where}: expected a list, got {type(value).__name__}")
    return [_number(v, f"{where}[{i}]") for i, v in enumerate(value)]


@dataclass(slots=True)
class ItemResult:
    """One scored item: ``reward`` under the request's mode, ``score`` the fraction correct in [0, 1]."""

    reward: float
    score: float
    verdict: str
    format_ok: bool
    details: dict[str, Any]
    latency_ms: float
    cached: bool = False

    @classmethod
    def from_body(cls, body: Any, where: str = "result") -> ItemResult:
        body = _object(body, where)
        verdict = _field(body, "verdict", where)
        if not isinstance(verdict, str):
            raise ShapeError(f"{where}.verdict: expected a string, got {verdict!r}")
        return cls(
            reward=_number(_field(body, "reward", where), f"{where}.reward"),
            score=_number(_field(body, "score", where), f"{where}.score"),
            verdict=verdict,
            format_ok=_flag(_field(body, "format_ok", where), f"{where}.format_ok"),
            details=dict(_object(_field(body, "details", where), f"{where}.details")),
            latency_ms=_number(_field(body, "latency_ms", where), f"{where}.latency_ms"),
            cached=_flag(body.get("cached", False), f"{where}.cached"),
        )

    def model_dump(self) -> dict[str, Any]:
        return asdict(self)


def score_results(body: Any) -> list[ItemResult]:
    """The results of a ``/v1/score`` answer (``{"results": [...]}``)."""
    results = _field(_object(body, "body"), "results", "body")
    if not isinstance(results, list):
        raise ShapeError(f"body.results: expected a list, got {type(results).__name__}")
    return [ItemResult.from_body(r, f"results[{i}]") for i, r in enumerate(results)]


@dataclass(slots=True)
class RewardResponse:
    """OpenRLHF's reward answer (``POST /reward``): one reward and score per query, and per-query logs."""

    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Any) -> RewardResponse:
        body = _object(body, "body")
        logs = _object(_field(body, "extra_logs", "body"), "body.extra_logs")
        return cls(
            rewards=_numbers(_field(body, "rewards", "body"), "body.rewards"),
            scores=_numbers(_field(body, "scores", "body"), "body.scores"),
            extra_logs={str(k): _numbers(v, f"body.extra_logs[{k!r}]") for k, v in logs.items()},
        )

    def model_dump(self) -> dict[str, Any]:
        return asdict(self)
