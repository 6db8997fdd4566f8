"""Reading a label: a JSON object, or a string holding one, whose ``domain`` names a
registered domain (:mod:`services.registry`); that domain's label model validates the
rest. Any label may carry ``"reward": {...}`` options (see :mod:`services.rewards`).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from services.core import DomainLabel, LabelError
from services.registry import DOMAINS, REGISTRY
from services.text import undecodable


def describe_error(err: ValidationError) -> str:
    """A pydantic error as one readable line naming the fields."""
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


def parse_label(raw: Any) -> DomainLabel:
    """Parse and validate a label, raising :class:`LabelError` with a readable reason."""
    data = label_as_dict(raw)
    # Checked after decoding: a label given as a string may spell a lone surrogate as an escape.
    problem = undecodable(data, "label")
    if problem is not None:
        raise LabelError(problem)
    domain = data.get("domain")
    if domain is None:
        raise LabelError(f"label has no 'domain' (one of {', '.join(DOMAINS)})")
    if not isinstance(domain, str) or domain not in REGISTRY:
        raise LabelError(f"unknown domain {domain!r} (one of {', '.join(DOMAINS)})")
    try:
        return REGISTRY[domain].label_model.model_validate(data)
    except ValidationError as exc:
        raise LabelError(f"invalid {domain} label: {describe_error(exc)}") from None
    except ValueError as exc:  # a gold answer a domain cannot normalise
        raise LabelError(f"invalid {domain} label: {exc}") from None
