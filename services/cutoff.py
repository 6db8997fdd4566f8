"""Responses that show they were cut off, when nothing else says so.

A trainer that decodes without special tokens, or a data file that kept no finish
reason, leaves the service no signal that the length limit stopped a response. Some
responses still show it in their last characters: they stop inside a ``\\boxed{``, on
an ``=`` or an operator with nothing after it, with a bracket opened in their last
characters still open, inside the JSON object the reply opened with, on a word that
leads into more ("the", "and", "Alternatively"), or in a loop of one short piece
repeated to the end. Such a tail is reasoning in progress, and a value read from it
(``daps = 42 * (20/21) =`` read as ``42 * (20/21)``) is not an answer. Only endings that
no finished text has are read as cut off: a reply that ends on a number, a full stop or
another word is taken as finished.
"""

from __future__ import annotations

import re

from services.extraction import closing_brace

_BOX = re.compile(r"\\(?:boxed|fbox)\b")
_DANGLING = re.compile(r"(?:=|\+|/|\^|\\times|\\cdot|\\div|\\frac|\\sqrt|\\left|\\\(|\\\[|,)\s*$")
"""An operator or an opened construct with nothing after it (``-`` and ``*`` are left
out: markdown rules and emphasis end finished text with them)."""
_OPENERS, _CLOSERS = "([", ")]"
_LEADING_WORDS = frozenset(
    "an the of to and or but so if is are was were be with for from that which as at by in on "
    "then thus hence therefore because since alternatively wait also now let".split()
)
"""Words after which a sentence must go on: a text that stops on one stopped mid-sentence."""
_LAST_WORD = re.compile(r"([A-Za-z]+)\s*$")
_END_CHARS = 64
_LOOP_UNIT, _LOOP_REPEATS, _LOOP_CHARS = 40, 20, 200


def cut_off(text: str) -> str | None:
    """Why ``text`` (a response, end tokens stripped) shows it was cut off; None when it
    may have finished."""
    tail = text.rstrip()
    if not tail:
        return None
    boxes = list(_BOX.finditer(tail))
    if boxes and not _closes(tail[boxes[-1].end() :]):
        return "it ends inside a \\boxed{}"
    end = tail[-_END_CHARS:]  # the patterns run on the end only: linear in any response
    if _DANGLING.search(end):
        return f"it ends on {end.split()[-1][-12:]!r} with nothing after it"
    word = _LAST_WORD.search(end)
    if word and word.group(1).lower() in _LEADING_WORDS:
        return f"it stops on {word.group(1)!r}, mid-sentence"
    if _loops(tail):
        return "it ends in a loop, one short piece repeated up to the cut"
    last_line = end.rsplit("\n", 1)[-1]
    if sum(last_line.count(c) for c in _OPENERS) > sum(last_line.count(c) for c in _CLOSERS):
        return "a bracket opened at its end is never closed"
    opened = tail.lstrip()
    if opened.startswith("```json"):
        opened = opened[len("```json") :].lstrip()
    if opened.startswith("{") and not _closes(opened):
        return "the JSON object it opens with is never closed"
    return None


def _closes(after_command: str) -> bool:
    """Whether the group (a box's argument, a JSON object) that starts where
    ``after_command`` starts is complete; a box command followed by no ``{`` is."""
    rest = after_command.lstrip()
    if not rest.startswith("{"):
        return rest != ""
    return closing_brace(rest, 0) is not None


def _loops(tail: str) -> bool:
    """Whether ``tail`` ends with one piece of at most ``_LOOP_UNIT`` characters repeated
    ``_LOOP_REPEATS`` times or more, over ``_LOOP_CHARS`` characters at least
    (``000...``, ``\\boxed{?} \\boxed{?} ...``; a long number is not a loop)."""
    for size in range(1, _LOOP_UNIT + 1):
        repeats = max(_LOOP_REPEATS, -(-_LOOP_CHARS // size))
        if len(tail) < size * repeats:
            return False
        unit = tail[-size:]
        if all(tail[-size * (k + 1) : len(tail) - size * k] == unit for k in range(1, repeats)):
            return True
    return False
