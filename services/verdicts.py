"""How an item came out: the verdicts, and which of them say it could not be scored.

Its own module so that the reward modes (:mod:`services.rewards`) and the shared types
(:mod:`services.core`) both read it without importing each other.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """How one item came out. ``unscored`` is the service's own failure to reach the item
    before its deadline, never a statement about the answer. ``truncated`` is a response
    the length limit cut off: not scored unless the options ask for it."""

    CORRECT = "correct"
    PARTIAL = "partial"
    WRONG = "wrong"
    FORMAT_ERROR = "format_error"
    TIMEOUT = "timeout"
    ERROR = "error"
    UNSCORED = "unscored"
    TRUNCATED = "truncated"


FAILURE_VERDICTS = frozenset({Verdict.TIMEOUT, Verdict.ERROR, Verdict.UNSCORED})
"""Verdicts that say the item could not be scored; they earn ``failure_reward``."""

UNPAID_VERDICTS = FAILURE_VERDICTS | {Verdict.TRUNCATED}
"""Verdicts that earn ``failure_reward``: nothing was judged about the answer."""
