"""CountDown tasks that are solvable: reasoning-gym's generator, its witness re-checked here.

reasoning-gym (``reasoning_gym.games.countdown``) builds a random expression over the
numbers and takes its value as the target, so every task comes with a witness expression.
Each witness is evaluated by the verifier's own exact evaluator
(:func:`services.domains.countdown.evaluate_equation`) and must use exactly the task's
numbers before a row is emitted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from generators.kk import spread_seed
from generators.progress import rows_with_progress
from services.domains.countdown import evaluate_equation

MIN_NUMBERS, MAX_NUMBERS = 2, 8
ATTEMPTS_PER_TASK = 8

PROMPT = (
    "Using the numbers {numbers}, create an equation that equals {target}. You can use basic "
    "arithmetic operations (+, -, *, /) and each number must be used exactly once. Show your work "
    "in <think> </think> tags. And return the final answer in <answer> </answer> tags, for example "
    "<answer> (1 + 2) / 3 </answer>."
)


@dataclass(frozen=True, slots=True)
class CountdownTask:
    numbers: tuple[int, ...]
    target: int
    witness: str
    """One expression that reaches the target with every number once."""

    def prompt(self) -> str:
        return PROMPT.format(numbers=list(self.numbers), target=self.target)

    def label(self) -> dict[str, Any]:
        return {"domain": "countdown", "target": self.target, "numbers": list(self.numbers)}

    def row(self) -> dict[str, Any]:
        return {"prompt": self.prompt(), "label": self.label()}


def check_countdown_size(numbers: int, min_target: int, max_target: int, max_value: int) -> None:
    if not MIN_NUMBERS <= numbers <= MAX_NUMBERS:
        raise ValueError(f"numbers must be {MIN_NUMBERS}..{MAX_NUMBERS}, got {numbers}")
    if not 1 <= min_target <= max_target:
        raise ValueError(f"need 1 <= min_target <= max_target, got {min_target}..{max_target}")
    if max_value < 1:
        raise ValueError(f"max_value must be at least 1, got {max_value}")


def countdown_task(
    index: int, numbers: int = 4, seed: int = 0, min_target: int = 1, max_target: int = 100, max_value: int = 100
) -> CountdownTask:
    """The ``index``-th task of a seeded run, with a witness checked by :func:`~services.domains.countdown.evaluate_equation`, the verifier's own evaluator,."""
    check_countdown_size(numbers, min_target, max_target, max_value)
    from reasoning_gym.games.countdown import CountdownConfig, CountdownDataset

    dataset = CountdownDataset(
        CountdownConfig(
            min_numbers=numbers,
            max_numbers=numbers,
            min_value=1,
            max_value=max_value,
            min_target=min_target,
            max_target=max_target,
            seed=spread_seed(seed, "countdown"),
            size=1,
        )
    )
    problems: list[str] = []
    for attempt in range(ATTEMPTS_PER_TASK):
        try:
            item = dataset[index + attempt * 1_000_003]
        except ValueError as exc:  # reasoning-gym gave up drawing a target in range
            problems.append(f"attempt {attempt}: {exc}")
            continue
        meta = item["metadata"]
        task_numbers = tuple(int(v) for v in meta["numbers"])
        target = int(meta["target"])
        witness = str(meta["expression"])
        try:
            reached, used = evaluate_equation(witness)
        except (ValueError, ZeroDivisionError, SyntaxError) as exc:
            problems.append(f"attempt {attempt}: witness {witness!r} unreadable: {exc}")
            continue
        if reached != target or Counter(used) != Counter(task_numbers):
            problems.append(f"attempt {attempt}: witness {witness!r} does not solve {task_numbers} -> {target}")
            continue
        return CountdownTask(numbers=task_numbers, target=target, witness=witness)
    raise RuntimeError(f"no solvable countdown task for index {index}: {'; '.join(problems)}")


def generate_countdown(
    n: int,
    numbers: int = 4,
    seed: int = 0,
    min_target: int = 1,
    max_target: int = 100,
    max_value: int = 100,
    progress: bool | None = None,
) -> Iterator[dict[str, Any]]:
    """``n`` rows {"prompt", "label"} of solvable CountDown tasks; deterministic by ``seed``."""
    check_countdown_size(numbers, min_target, max_target, max_value)
    return rows_with_progress(
        lambda i: countdown_task(i, numbers, seed, min_target, max_target, max_value).row(),
        n,
        f"countdown {numbers} numbers",
        progress,
    )
