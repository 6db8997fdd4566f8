"""Reading a response: prompt removal, end tokens, think and answer regions, format.

1. The response is the query minus the prompt prefix; when the prompt is not a prefix,
   the text after the last assistant marker; else the whole query.
2. Trailing end tokens (``<|im_end|>``, ``<|endoftext|>``, ...) are stripped.
3. The prompt may end inside a tag (R1 templates end with ``Assistant: <think>``), so
   format checks look at the prompt tail plus the response.
4. The answer region is the last ``<answer>...</answer>`` when answer tags are expected,
   else the text after the last ``</think>``, else the whole response. Text inside the
   think block never counts as an answer. Reasoning models' markers read the same way:
   ``<|begin_of_thought|>...<|end_of_thought|>`` is a think block, and
   ``<|begin_of_solution|>...<|end_of_solution|>`` after it the answer region.
5. Whether a response finished (:func:`finished`): where the trainer sends special tokens,
   one that does not end with an end token was cut off by the length limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.rewards import RewardOptions

DEFAULT_END_TOKENS: tuple[str, ...] = (
    "<|im_end|>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|end|>",
    "<|return|>",
    "<end_of_turn>",
    "<｜end▁of▁sentence｜>",
    "</s>",
    "<eos>",
    "<pad>",
    "<|pad|>",
    "[PAD]",
)

# Where an assistant turn starts, in the chat templates in common use; the last wins.
ASSISTANT_MARKERS: tuple[str, ...] = (
    "<|im_start|>assistant\n",
    "<|im_start|>assistant",
    "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "<|start_header_id|>assistant<|end_header_id|>",
    "<｜Assistant｜>",
    "<|assistant|>\n",
    "<|assistant|>",
    "<start_of_turn>model\n",
    "[/INST]",
    "Assistant:",
)

# A query that holds one of these was decoded with its special tokens, so a response that
# finished carries its end token.
_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|im_start|>",
    "<|start_header_id|>",
    "<|begin_of_text|>",
    "<｜begin▁of▁sentence｜>",
    "<｜Assistant｜>",
    "<|assistant|>",
    "<start_of_turn>",
    "<bos>",
)
_THOUGHT_MARKERS = (("<|begin_of_thought|>", "<think>"), ("<|end_of_thought|>", "</think>"))
_SOLUTION_OPEN = "<|begin_of_solution|>"
_SOLUTION_CLOSE = "<|end_of_solution|>"

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"
_ANSWER_OPEN = "<answer>"
_ANSWER_CLOSE = "</answer>"
_PROMPT_TAIL = re.compile(r"<think>\s*\Z")
_TAGS_FORMAT = re.compile(
    r"\A\s*<think>(?P<think>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>\s*\Z", re.DOTALL
)
_ANSWER_ONLY_FORMAT = re.compile(r"\A\s*<answer>(?P<answer>.*?)</answer>\s*\Z", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Extracted:
    """A response cut into the parts verifiers and format checks read."""

    response: str
    """The model's output: prompt and trailing end tokens removed."""
    text: str
    """Prompt tail plus response: what format checks look at."""
    think: str | None
    """The think block's content, or None when there is none."""
    answer_region: str
    """Where an answer counts ('' when there is none)."""
    answer_tags: bool
    """Whether ``<answer>`` tags were expected."""
    format_ok: bool
    format_reason: str | None


def response_from_query(query: str, prompt: str | None) -> str:
    """The model's response inside an OpenRLHF ``query`` (prompt + response)."""
    if prompt and query.startswith(prompt):
        return query[len(prompt) :]
    best = -1
    best_len = 0
    for marker in ASSISTANT_MARKERS:
        at = query.rfind(marker)
        if at > best:
            best, best_len = at, len(marker)
    if best >= 0:
        return query[best + best_len :]
    return query


def strip_end_tokens(text: str, end_tokens: tuple[str, ...] | list[str] = DEFAULT_END_TOKENS) -> str:
    """Remove trailing end-of-turn and padding tokens (and the white space between them)."""
    changed = True
    while changed:
        changed = False
        text = text.rstrip()
        for token in end_tokens:
            if token and text.endswith(token):
                text = text[: -len(token)]
                changed = True
    return text


def finished(
    query: str, response: str, end_tokens: tuple[str, ...] | list[str] = DEFAULT_END_TOKENS
) -> bool | None:
    """Whether ``response`` (inside OpenRLHF's ``query``) ended by itself: True when it ends
    with an end token, False when the query holds special tokens but the response ends
    without one (the length limit cut it off), None when the query holds none (decoded
    without them: nothing tells)."""
    tokens = [t for t in end_tokens if t]
    if not any(t in query for t in (*tokens, *_SPECIAL_TOKENS)):
        return None
    return strip_end_tokens(response, tokens) != response.rstrip()


def closing_brace(text: str, at: int) -> int | None:
    """The index of the ``}`` that closes the ``{`` at ``text[at]``; None when the text ends
    first (a group the response never closed)."""
    depth = 0
    for j in range(at, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return None


def _solution(after_think: str) -> tuple[str, str | None]:
    """The text after the think block with solution markers removed, and the content of
    its last ``<|begin_of_solution|>`` block (None when there is none)."""
    at = after_think.rfind(_SOLUTION_OPEN)
    if at < 0:
        return after_think, None
    end = after_think.find(_SOLUTION_CLOSE, at)
    solution = after_think[at + len(_SOLUTION_OPEN) : end if end >= 0 else len(after_think)]
    return after_think.replace(_SOLUTION_OPEN, "").replace(_SOLUTION_CLOSE, ""), solution


def _count(text: str, tag: str) -> int:
    return text.count(tag)


def extract(response: str, prompt: str | None, options: RewardOptions) -> Extracted:
    """Cut a response into think block, answer region and format verdict."""
    end_tokens = tuple(options.end_tokens) if options.end_tokens is not None else DEFAULT_END_TOKENS
    response = strip_end_tokens(response, end_tokens)
    for marker, tag in _THOUGHT_MARKERS:
        response = response.replace(marker, tag)
    # An R1 prompt ends in "<think>"; a response that opens its own block is not doubled.
    opens_think = response.lstrip().startswith(_THINK_OPEN)
    prompt_opens = bool(prompt) and bool(_PROMPT_TAIL.search(prompt.replace(*_THOUGHT_MARKERS[0])))
    tail = _THINK_OPEN if prompt_opens and not opens_think else ""
    text = tail + response

    if options.answer_tags is not None:
        answer_tags = options.answer_tags
    elif prompt:
        answer_tags = _ANSWER_OPEN in prompt
    else:
        answer_tags = _ANSWER_OPEN in response

    # The think block: up to the last </think>; an unclosed <think> swallows the rest.
    think: str | None = None
    close = text.rfind(_THINK_CLOSE)
    if close >= 0:
        open_at = text.find(_THINK_OPEN)
        start = open_at + len(_THINK_OPEN) if 0 <= open_at < close else 0
        think = text[start:close]
        after_think = text[close + len(_THINK_CLOSE) :]
    elif _THINK_OPEN in text:
        think = text[text.find(_THINK_OPEN) + len(_THINK_OPEN) :]
        after_think = ""
    else:
        after_think = text
    after_think, solution = _solution(after_think)
    if solution is not None:
        text = text.replace(_SOLUTION_OPEN, "").replace(_SOLUTION_CLOSE, "")

    # The answer region.
    if answer_tags:
        a_open = after_think.rfind(_ANSWER_OPEN)
        if a_open >= 0:
            a_close = after_think.find(_ANSWER_CLOSE, a_open)
            end = a_close if a_close >= 0 else len(after_think)
            answer_region = after_think[a_open + len(_ANSWER_OPEN) : end].strip()
        else:
            answer_region = ""
    elif solution is not None:
        answer_region = solution.strip()
    else:
        answer_region = after_think.strip()

    format_ok, reason = _check_format(text, think, after_think, answer_region, answer_tags, options)
    return Extracted(
        response=response,
        text=text,
        think=think,
        answer_region=answer_region,
        answer_tags=answer_tags,
        format_ok=format_ok,
        format_reason=reason,
    )


def _check_format(
    text: str,
    think: str | None,
    after_think: str,
    answer_region: str,
    answer_tags: bool,
    options: RewardOptions,
) -> tuple[bool, str | None]:
    n_think_open, n_think_close = _count(text, _THINK_OPEN), _count(text, _THINK_CLOSE)
    if n_think_open != n_think_close or n_think_open > 1:
        if n_think_open > n_think_close:
            return False, "unclosed <think> block"
        return False, f"expected one think block, found {n_think_open} <think> and {n_think_close} </think>"
    if answer_tags:
        n_open, n_close = _count(text, _ANSWER_OPEN), _count(text, _ANSWER_CLOSE)
        if n_open != 1 or n_close != 1:
            return (
                False,
                f"expected one <answer>...</answer>, found {n_open} <answer> and {n_close} </answer>",
            )
        pattern = _TAGS_FORMAT if options.require_think else None
        if pattern is not None and not pattern.match(text):
            return False, "expected <think>...</think> then <answer>...</answer> and nothing after"
        if pattern is None and not (_TAGS_FORMAT.match(text) or _ANSWER_ONLY_FORMAT.match(after_think)):
            return False, "expected <answer>...</answer> and nothing after"
    if not answer_region:
        return (
            False,
            "empty answer" if think is None or after_think.strip() else "no answer after the think block",
        )
    return True, None
