"""The domains the service scores, each declared once.

A domain is a module under ``services/domains/`` that defines ``Label`` (its pydantic
label model, a :class:`services.core.DomainLabel`) and ``verify(extracted, label, options)
-> VerifierOutcome``, plus one line in :data:`REGISTRY` saying whether its work runs in the
sandbox. Everything else (label parsing, the list of domains, metrics labels, which
backend runs an item) is derived from this table. Modules are imported on first use, so
a domain's heavy libraries (sympy, the sandbox) load only where that domain is scored.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from services.core import DomainLabel, VerifierOutcome


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    module: str
    sandbox: bool = False
    """Its items run programs: they wait for sandbox slots, not verifier processes."""

    @property
    def label_model(self) -> type[DomainLabel]:
        return _load(self.module).Label

    @property
    def verify(self) -> Callable[[Any, Any, Any], VerifierOutcome]:
        return _load(self.module).verify


REGISTRY: dict[str, Domain] = {
    d.name: d
    for d in (
        Domain("math", "services.domains.math"),
        Domain("countdown", "services.domains.countdown"),
        Domain("code", "services.domains.code", sandbox=True),
        Domain("kk", "services.domains.kk"),
        Domain("zebra", "services.domains.zebra"),
    )
}
DOMAINS: tuple[str, ...] = tuple(REGISTRY)


@cache
def _load(module: str) -> Any:
    return importlib.import_module(module)


def warm_up(domains: tuple[str, ...] = ("math", "countdown")) -> None:
    """Import these domains' verifiers (and their libraries) ahead of the first item."""
    for name in domains:
        domain = REGISTRY[name]
        warm = getattr(_load(domain.module), "warm_up", None)
        if warm is not None:
            warm()
