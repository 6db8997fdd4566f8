"""What every domain shares: verdicts, a verifier's outcome, the label base and its error.

This module imports nothing from the domains, so a domain module, the registry and the
scoring front can all import it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from services.rewards import RewardOptions
from services.verdicts import FAILURE_VERDICTS, Verdict

__all__ = ["FAILURE_VERDICTS", "DomainLabel", "LabelError", "VerifierOutcome", "RunControl", "Verdict"]


class LabelError(ValueError):
    """A label that cannot be read: not JSON, no known domain, or a bad field."""


class DomainLabel(BaseModel):
    """The fields every label has; each domain's label model extends it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    domain: str
    reward: RewardOptions | None = None


@dataclass(slots=True)
class VerifierOutcome:
    """What a domain verifier found: the fraction correct and whether it could read an answer."""

    score: float
    parsed: bool = True
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    verdict: Verdict | None = None
    """Set only to override the verdict derived from score and parsed (e.g. ``timeout``)."""

    def resolved_verdict(self) -> Verdict:
        if self.verdict is not None:
            return Verdict(self.verdict)
        if not self.parsed:
            return Verdict.FORMAT_ERROR
        if self.score >= 1.0:
            return Verdict.CORRECT
        if self.score > 0.0:
            return Verdict.PARTIAL
        return Verdict.WRONG


@dataclass(slots=True)
class RunControl:
    """How the backend steers one item's sandbox runs, handed to a sandbox domain's
    ``verify``: ``budget_s`` is the item's time budget (its runs may use this much CPU
    together), ``cancel`` is set when the item is given up (its deadline passed, its client
    left), which stops a waiting or running program; ``used_s`` counts the time its runs
    held a slot so far, and orders its next run among those waiting for a slot (least
    first, so a burst of slow programs, spinning or sleeping, cannot hold back fast ones)."""

    budget_s: float
    cancel: threading.Event = field(default_factory=threading.Event)
    used_s: float = 0.0
