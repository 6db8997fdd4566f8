"""Offline data from the puzzle generators in :mod:`generators` (KK, Zebra, CountDown).

The generators write prompts with their own answer instructions; a task needs the bare
question (the templates add the instructions), so the instructions are cut off at the
generator's known marker, and the CountDown question is rebuilt from the label.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from trainer.data.formats.math import countdown_question
from trainer.data.tasks import Task

GENERATED = ("kk", "zebra", "countdown")

DEFAULT_SIZES: dict[str, list[Any]] = {
    "kk": [3, 4, 5, 6, 7],  # people, as in Logic-RL's curriculum
    "zebra": [[3, 3], [4, 3], [4, 4], [5, 4], [5, 5]],  # [houses, attributes]
    "countdown": [3, 4],  # numbers
}

_INSTRUCTION_MARKERS = {
    "kk": "\n\nReason step by step",
    "zebra": "\n\nWork out the whole grid",
}


class GeneratorsUnavailable(RuntimeError):
    """The generators package is missing or lacks the API this module uses."""


def _generators() -> Any:
    try:
        import generators
    except ImportError as exc:
        raise GeneratorsUnavailable(
            "offline KK / Zebra / CountDown data needs the puzzle generators (the generators "
            f"package), which cannot be imported here ({exc}); pass source files instead "
            "(--source kk=FILE.parquet, zebralogic=..., countdown=...)"
        ) from None
    missing = [
        name
        for name in ("generate_kk", "generate_zebra", "generate_countdown")
        if not hasattr(generators, name)
    ]
    if missing:
        raise GeneratorsUnavailable(
            f"the generators package lacks {', '.join(missing)}; pass source files instead"
        )
    return generators


def _question(kind: str, prompt: str) -> str:
    marker = _INSTRUCTION_MARKERS[kind]
    cut = prompt.find(marker)
    return prompt[:cut] if cut >= 0 else prompt


def _split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def generated_tasks(kind: str, n: int, seed: int = 0, sizes: Sequence[Any] | None = None) -> Iterator[Task]:
    """``n`` tasks of a generated kind, spread evenly over ``sizes`` (see :data:`DEFAULT_SIZES`)."""
    if kind not in GENERATED:
        raise ValueError(f"unknown generated kind {kind!r} (one of {', '.join(GENERATED)})")
    generators = _generators()
    sizes = list(sizes or DEFAULT_SIZES[kind])
    for size, count in zip(sizes, _split(n, len(sizes)), strict=True):
        if count == 0:
            continue
        if kind == "kk":
            for row in generators.generate_kk(count, people=int(size), seed=seed):
                label = row["label"]
                roles = label.get("roles") or ["knight", "knave"]
                if list(roles) == ["knight", "knave"]:
                    label = {k: v for k, v in label.items() if k != "roles"}
                yield Task(
                    domain="kk",
                    question=_question("kk", row["prompt"]),
                    label=label,
                    source="gen:kk",
                    answer_style="kk",
                    style_fields={"truth": roles[0], "liar": roles[1]},
                    difficulty=float(size),
                )
        elif kind == "zebra":
            houses, attributes = (int(x) for x in size)
            for row in generators.generate_zebra(count, houses=houses, attributes=attributes, seed=seed):
                yield Task(
                    domain="zebra",
                    question=_question("zebra", row["prompt"]),
                    label=row["label"],
                    source="gen:zebra",
                    answer_style="zebra",
                    difficulty=float(houses * attributes),
                )
        else:
            for row in generators.generate_countdown(count, numbers=int(size), seed=seed):
                label = row["label"]
                yield Task(
                    domain="countdown",
                    question=countdown_question(label["numbers"], label["target"]),
                    label=label,
                    source="gen:countdown",
                    answer_style="countdown",
                    difficulty=float(size),
                )
