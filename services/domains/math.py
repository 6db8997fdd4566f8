"""Math answers checked symbolically with math-verify.

- The last ``\\boxed{}`` (or ``\\fbox{}``) in the answer region is the answer; without
  one, the tail of the answer region is parsed. Answers inside the think block never
  count (the answer region excludes it).
- Several boxed answers that disagree are hedging and score 0 (``max_boxed`` distinct
  answers are allowed, default 1).
- The gold answer is parsed once per process and cached.
- math-verify's own SIGALRM timeouts are turned off: they fail off the main thread and
  cannot stop big-integer arithmetic. The execution backend kills the worker instead.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse
from math_verify import verify as mv_verify

from services.extraction import Extracted
from services.rewards import RewardOptions
from services.scoring import Outcome

_BOX_COMMANDS = ("\\boxed", "\\fbox")
# Beyond this many distinct boxed answers the response is spam: no need to compare them.
_MAX_BOXED_COMPARED = 8
# Without a boxed answer, only the tail of the answer region is handed to the parser.
_UNBOXED_TAIL_CHARS = 4000
# The backend enforces time limits by killing the worker; the library's reminder of that
# would otherwise be logged on every call.
logging.getLogger("math_verify").setLevel(logging.ERROR)
_GOLD_CONFIG = (LatexExtractionConfig(), ExprExtractionConfig())
_PRED_CONFIG = (LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig())


def boxed_answers(text: str) -> list[str]:
    """Contents of every ``\\boxed{...}`` / ``\\fbox{...}`` in order, braces matched."""
    found: list[tuple[int, str]] = []
    for command in _BOX_COMMANDS:
        start = 0
        while True:
            at = text.find(command, start)
            if at < 0:
                break
            i = at + len(command)
            while i < len(text) and text[i] == " ":
                i += 1
            if i >= len(text) or text[i] != "{":
                start = at + len(command)
                continue
            depth, j = 0, i
            while j < len(text):
                ch = text[j]
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if depth != 0:  # unbalanced: the rest of the text is not an answer
                break
            found.append((at, text[i + 1 : j]))
            start = j + 1
    found.sort()
    return [content for _, content in found]


@lru_cache(maxsize=65536)
def parse_gold(answer: str) -> tuple[Any, ...]:
    """The gold answer parsed once per process (gold answers repeat across a GRPO group)."""
    text = answer.strip()
    parsed = parse(f"${text}$", extraction_config=_GOLD_CONFIG, parsing_timeout=None)
    if not parsed:
        parsed = parse(f"\\boxed{{{text}}}", extraction_config=_GOLD_CONFIG, parsing_timeout=None)
    if not parsed:
        parsed = [text]
    return tuple(parsed)


def _parse_prediction(text: str) -> list[Any]:
    return parse(
        text, extraction_config=_PRED_CONFIG, extraction_mode="first_match", parsing_timeout=None
    )


def _equivalent(gold: tuple[Any, ...], pred: list[Any]) -> bool:
    return bool(mv_verify(list(gold), pred, timeout_seconds=None))


def verify(extracted: Extracted, label: Any, options: RewardOptions) -> Outcome:
    region = extracted.answer_region
    if not region.strip():
        return Outcome(score=0.0, parsed=False, reason="no answer outside the think block")
    gold = parse_gold(label.answer)

    boxes = [b.strip() for b in boxed_answers(region)]
    boxes = [b for b in boxes if b]
    if boxes:
        answer_text = boxes[-1]
        distinct = list(dict.fromkeys(boxes))
        if len(distinct) > _MAX_BOXED_COMPARED:
            return Outcome(
                score=0.0,
                reason=f"hedging: {len(distinct)} different boxed answers",
                details={"boxed_answers": len(distinct)},
            )
        pred = _parse_prediction(f"\\boxed{{{answer_text}}}")
        if len(distinct) > options.max_boxed:
            # Several boxed answers count only when they all say the same thing.
            for other in distinct[:-1]:
                other_pred = _parse_prediction(f"\\boxed{{{other}}}")
                if not (other_pred and pred and mv_verify(pred, other_pred, timeout_seconds=None)):
                    return Outcome(
                        score=0.0,
                        reason=f"hedging: {len(distinct)} boxed answers that disagree",
                        details={"boxed_answers": len(distinct)},
                    )
    else:
        answer_text = region[-_UNBOXED_TAIL_CHARS:]
        pred = _parse_prediction(answer_text)

    if not pred:
        return Outcome(score=0.0, parsed=False, reason="no parseable math answer", details={"boxed": bool(boxes)})
    correct = _equivalent(gold, pred)
    return Outcome(
        score=1.0 if correct else 0.0,
        details={"boxed": bool(boxes), "extracted": str(pred[-1])[:200]},
    )
