"""Prompt templates: the R1-style base template and the instruct chat template, per domain.

A dataset row carries both renderings of the same task so that one file serves either kind
of model: ``prompt`` (a plain string for a base model, ending in ``Assistant: <think>``) and
``messages`` (system + user messages for ``--data.apply_chat_template``). The launch config
picks one through ``--data.input_key``; a run can thus match the template it will be
evaluated with.

Both renderings ask for ``<think> ... </think> <answer> ... </answer>``; the reward service
sees ``<answer>`` in the prompt and reads the last answer block. What goes inside the answer
block depends on the domain (:data:`ANSWER_INSTRUCTIONS`).
"""

from __future__ import annotations

from typing import Literal

TemplateKind = Literal["base", "instruct"]
TEMPLATES: tuple[TemplateKind, ...] = ("base", "instruct")

R1_PREAMBLE = (
    "A conversation between User and Assistant. The User asks a question, and the Assistant solves it. "
    "The Assistant first thinks about the reasoning process in the mind and then provides the User with "
    "the answer. The reasoning process and answer are enclosed within <think> </think> and "
    "<answer> </answer> tags, respectively, i.e., <think> reasoning process here </think> "
    "<answer> answer here </answer>."
)
"""The DeepSeek-R1-Zero preamble, used verbatim by the base template and as the system prompt."""

BASE_TEMPLATE = "{preamble} User: {question}\n\n{instruction} Assistant: <think>"

INSTRUCT_SYSTEM = (
    "You are a helpful assistant. You first think about the reasoning process step by step and then "
    "provide the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., "
    "<think> reasoning process here </think> <answer> answer here </answer>."
)

ANSWER_INSTRUCTIONS: dict[str, str] = {
    "math": (
        "Show your reasoning in <think> </think> tags, then give the final answer inside "
        "<answer> </answer> tags, written as \\boxed{...}, for example <answer> \\boxed{\\frac{1}{2}} </answer>."
    ),
    "countdown": (
        "Show your work in <think> </think> tags, then give only the equation (no '=' sign and no result) "
        "inside <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>."
    ),
    "code": (
        "Think it through in <think> </think> tags, then give your complete Python solution inside "
        "<answer> </answer> tags as one fenced code block:\n<answer>\n```python\n# your code\n```\n</answer>"
    ),
    "code_in": (
        "Think it through in <think> </think> tags, then give your complete {language} solution inside "
        "<answer> </answer> tags as one fenced code block:\n<answer>\n```{fence}\n// your code\n```\n</answer>"
    ),
    "kk": (
        "Reason step by step inside <think> </think> tags, then give the final answer inside "
        "<answer> </answer> tags, one line per person, numbered, each saying what that person is, "
        "for example <answer>\n(1) NAME is {truth}\n(2) NAME is {liar}\n</answer>"
    ),
    "zebra": (
        "Reason step by step inside <think> </think> tags, then give the whole solution grid inside "
        "<answer> </answer> tags as one JSON object with every house and every attribute, for example "
        '<answer> {{"House 1": {{"Name": "...", ...}}, "House 2": {{...}}, ...}} </answer>'
    ),
    "zebra_table": (
        "Reason step by step inside <think> </think> tags, then give the whole solution table inside "
        "<answer> </answer> tags as one JSON object with a header and one row per entry, in the order "
        'given, for example <answer> {{"header": {header}, "rows": [[...], ...]}} </answer>'
    ),
}
"""What the answer block must hold, per answer style. ``kk``, ``zebra_table`` and ``code_in`` (code
in another language than Python: ``language`` as people write it, ``fence`` the code fence's tag)
take fields."""


def with_article(word: str) -> str:
    """'a knight', 'an angel'."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def answer_instruction(style: str, **fields: str) -> str:
    """The answer instruction for an answer style, with its fields filled in."""
    try:
        text = ANSWER_INSTRUCTIONS[style]
    except KeyError:
        raise ValueError(
            f"unknown answer style {style!r} (one of {', '.join(ANSWER_INSTRUCTIONS)})"
        ) from None
    if style == "kk":
        fields = {"truth": "knight", "liar": "knave", **fields}
        fields = {key: with_article(fields[key]) for key in ("truth", "liar")}
    if style == "zebra_table":
        fields = {"header": '["...", "..."]', **fields}
    if style == "code_in":
        fields = {"language": "Python", "fence": "python", **fields}
    if style in ("kk", "zebra_table", "zebra", "code_in"):
        return text.format(**fields)
    return text


def base_prompt(question: str, instruction: str) -> str:
    """The R1-style base-model prompt; it ends inside the think block (``Assistant: <think>``)."""
    return BASE_TEMPLATE.format(preamble=R1_PREAMBLE, question=question.strip(), instruction=instruction)


def chat_messages(question: str, instruction: str) -> list[dict[str, str]]:
    """System + user messages for an instruct model (``--data.apply_chat_template``)."""
    return [
        {"role": "system", "content": INSTRUCT_SYSTEM},
        {"role": "user", "content": f"{question.strip()}\n\n{instruction}"},
    ]


def render(question: str, instruction: str) -> dict[str, object]:
    """Both renderings of one task: ``prompt`` (base) and ``messages`` (instruct)."""
    return {"prompt": base_prompt(question, instruction), "messages": chat_messages(question, instruction)}


def input_key(template: TemplateKind) -> str:
    """The dataset column OpenRLHF reads for a template kind."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r} (one of {', '.join(TEMPLATES)})")
    return "prompt" if template == "base" else "messages"
