"""The label schema: how a sample says what it is and what counts as right.

A label is a JSON object, or a string holding one, with a ``domain`` key that routes
it to a verifier. Each domain has its own pydantic model; any label may carry
``"reward": {...}`` options (see :mod:`services.rewards`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from services.rewards import RewardOptions


class LabelError(ValueError):
    """A label that cannot be read: not JSON, no known domain, or a bad field."""


class _LabelBase(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    reward: RewardOptions | None = None


class MathLabel(_LabelBase):
    domain: Literal["math"]
    answer: str

    @field_validator("answer", mode="before")
    @classmethod
    def _answer_as_text(cls, value: Any) -> Any:
        # Datasets store answers as numbers as often as strings.
        if isinstance(value, bool):
            raise ValueError("answer must be a string or a number")
        if isinstance(value, int | float):
            return str(value)
        return value


class CountdownLabel(_LabelBase):
    domain: Literal["countdown"]
    target: int
    numbers: list[int] = Field(min_length=1, max_length=16)


class CodeTests(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: list[Any] | None = None
    outputs: list[Any] | None = None
    fn_name: str | None = None
    functional: str | None = None


class CodeLabel(_LabelBase):
    domain: Literal["code"]
    tests: CodeTests
    language: str = "python"
    time_limit_s: float | None = Field(default=None, gt=0, le=60)
    memory_mb: int | None = Field(default=None, gt=0, le=16384)
    float_tolerance: float | None = Field(default=None, ge=0)
    """stdin/stdout tests: numeric tokens may differ by this much (absolute or relative)."""


class KKLabel(_LabelBase):
    """Knights and Knaves: ``solution`` {name: role}; or Logic-RL's ``names`` + boolean
    ``solution`` list, or ``solution_text_format`` / ``solution_text`` (given as the solution
    or as extra fields). ``roles`` = [truth-teller word, liar word] when not knight/knave."""

    domain: Literal["kk"]
    solution: dict[str, Any] | list[Any] | str | None = None
    roles: list[str] | None = None

    @model_validator(mode="after")
    def _solution_is_readable(self) -> KKLabel:
        from services.domains.kk import gold_of  # the one place KK label forms are normalised

        gold_of(self)
        return self


class ZebraLabel(_LabelBase):
    """Zebra grid: ``solution`` {"House 1": {"Name": ...}, ...} or {"header": [...], "rows": [...]}."""

    domain: Literal["zebra"]
    solution: dict[str, Any]

    @model_validator(mode="after")
    def _solution_is_readable(self) -> ZebraLabel:
        from services.domains.zebra import gold_grid  # the one place Zebra grid forms are normalised

        gold_grid(self.solution)
        return self


Label = Annotated[
    MathLabel | CountdownLabel | CodeLabel | KKLabel | ZebraLabel,
    Field(discriminator="domain"),
]
_label_adapter: TypeAdapter[Any] = TypeAdapter(Label)

DOMAINS = ("math", "countdown", "code", "kk", "zebra")


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:5]:
        loc = ".".join(str(p) for p in e["loc"]) or "label"
        parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def label_as_dict(raw: Any) -> dict[str, Any]:
    """Decode a label given as an object or as a string holding a JSON object."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise LabelError(f"label is a string but not JSON: {exc.msg} at position {exc.pos}") from None
        # Some datasets double-encode: a JSON string holding a JSON object.
        if isinstance(raw, str):
            return label_as_dict(raw)
    if not isinstance(raw, dict):
        raise LabelError(f"label must be a JSON object (or a string holding one), got {type(raw).__name__}")
    return raw


def parse_label(raw: Any) -> MathLabel | CountdownLabel | CodeLabel | KKLabel | ZebraLabel:
    """Parse and validate a label, raising :class:`LabelError` with a readable reason."""
    data = label_as_dict(raw)
    domain = data.get("domain")
    if domain is None:
        raise LabelError(f"label has no 'domain' (one of {', '.join(DOMAINS)})")
    if domain not in DOMAINS:
        raise LabelError(f"unknown domain {domain!r} (one of {', '.join(DOMAINS)})")
    # ZebraLogic ships its grid as {"header": [...], "rows": [...]} at top level too.
    if domain == "zebra" and "solution" not in data and "header" in data and "rows" in data:
        data = {**data, "solution": {"header": data["header"], "rows": data["rows"]}}
    try:
        return _label_adapter.validate_python(data)
    except ValidationError as exc:
        raise LabelError(f"invalid {domain} label: {_describe(exc)}") from None
