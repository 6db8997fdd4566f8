"""Knights-and-Knaves puzzles: reasoning-gym's generator, re-checked by our own solver.

reasoning-gym (``reasoning_gym.logic.knights_knaves``) draws statements, keeps puzzles with
exactly one consistent assignment and words them, with role words that vary (knight/knave,
saint/sinner, hero/villain, ...). We take its puzzle, check uniqueness again with
:func:`solve_kk` (a brute force over all assignments, written here), and emit the row with
our label schema and a prompt that asks for ``<think>``/``<answer>``.

Statements are reasoning-gym's nested tuples: ``("telling-truth", i)``, ``("lying", i)``,
``("not", s)``, ``("and", s1, s2, ...)``, ``("or", ...)``, ``("->", s1, s2)``,
``("<=>", s1, s2)``, person ``i`` indexing the names.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from generators.progress import rows_with_progress

MIN_PEOPLE, MAX_PEOPLE = 2, 12
ATTEMPTS_PER_PUZZLE = 8

INSTRUCTIONS = (
    "\n\nReason step by step inside <think> </think> tags, then give the final answer inside "
    "<answer> </answer> tags, one line per person, each line either \"(i) NAME is {a_truth}\" or "
    "\"(i) NAME is {a_liar}\", for example <answer>\n(1) {first} is ...\n(2) ...\n</answer>"
)


# reasoning-gym ends its question with an answer format of its own ("X is a knight/knave"),
# which would contradict INSTRUCTIONS, and a reply that copied it names both roles (a hedge).
RG_FORMAT = ' (Format your answer like: "'


def question_without_format(question: str) -> str:
    cut = question.find(RG_FORMAT)
    return question[:cut] if cut >= 0 else question


def spread_seed(seed: int, kind: str) -> int:
    """reasoning-gym seeds item i with seed + i, so runs with nearby seeds would share items;
    a hashed seed puts each run far from the others."""
    digest = hashlib.sha256(f"{kind}:{seed}".encode()).digest()
    return int.from_bytes(digest[:5], "big")


def statement_holds(statement: tuple, truthful: tuple[bool, ...]) -> bool:
    """Whether a statement is true when ``truthful[i]`` says person i tells the truth."""
    op = statement[0]
    if op == "telling-truth":
        return truthful[statement[1]]
    if op == "lying":
        return not truthful[statement[1]]
    if op == "not":
        return not statement_holds(statement[1], truthful)
    if op == "and":
        return all(statement_holds(s, truthful) for s in statement[1:])
    if op == "or":
        return any(statement_holds(s, truthful) for s in statement[1:])
    if op == "->":
        return (not statement_holds(statement[1], truthful)) or statement_holds(statement[2], truthful)
    if op == "<=>":
        return statement_holds(statement[1], truthful) == statement_holds(statement[2], truthful)
    raise ValueError(f"unknown statement operator {op!r}")


def solve_kk(statements: tuple[tuple, ...]) -> list[tuple[bool, ...]]:
    """Every assignment in which each truth-teller's statement is true and each liar's false."""
    return [
        truthful
        for truthful in itertools.product((True, False), repeat=len(statements))
        if all(statement_holds(s, truthful) == truthful[i] for i, s in enumerate(statements))
    ]


@dataclass(frozen=True, slots=True)
class KKPuzzle:
    names: tuple[str, ...]
    statements: tuple[tuple, ...]
    solution: tuple[bool, ...]
    """solution[i]: person i tells the truth."""
    roles: tuple[str, str]
    """(truth-teller word, liar word), e.g. ("knight", "knave")."""
    articles: tuple[str, str]
    """The roles with their article: ("a knight", "a knave"), ("an angel", "a devil")."""
    question: str

    def prompt(self) -> str:
        return self.question + INSTRUCTIONS.format(
            first=self.names[0], a_truth=self.articles[0], a_liar=self.articles[1]
        )

    def label(self) -> dict[str, Any]:
        return {
            "domain": "kk",
            "solution": {name: self.roles[0] if t else self.roles[1] for name, t in zip(self.names, self.solution, strict=True)},
            "roles": list(self.roles),
        }

    def row(self) -> dict[str, Any]:
        return {"prompt": self.prompt(), "label": self.label()}


def _plain(value: Any) -> Any:
    """reasoning-gym hands back numpy strings and ints; make them plain Python."""
    if isinstance(value, tuple | list):
        return tuple(_plain(v) for v in value)
    if isinstance(value, str):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    return value


def check_kk_size(people: int, depth: int, width: int) -> None:
    if not MIN_PEOPLE <= people <= MAX_PEOPLE:
        raise ValueError(f"people must be {MIN_PEOPLE}..{MAX_PEOPLE}, got {people}")
    if not 1 <= depth <= 4:
        raise ValueError(f"depth must be 1..4, got {depth}")
    if not 2 <= width <= 4:
        raise ValueError(f"width must be 2..4, got {width}")


def kk_puzzle(index: int, people: int = 3, seed: int = 0, depth: int = 2, width: int = 2) -> KKPuzzle:
    """The ``index``-th puzzle of a seeded run: unique solution, checked by :func:`solve_kk`."""
    check_kk_size(people, depth, width)
    from reasoning_gym.logic.knights_knaves import KnightsKnavesConfig, KnightsKnavesDataset

    dataset = KnightsKnavesDataset(
        KnightsKnavesConfig(n_people=people, depth_constraint=depth, width_constraint=width, seed=spread_seed(seed, "kk"), size=1)
    )
    problems: list[str] = []
    for attempt in range(ATTEMPTS_PER_PUZZLE):
        # reasoning-gym seeds item i with seed + i; later attempts move far from other indices.
        item_index = index + attempt * 1_000_003
        try:
            item = dataset[item_index]
        except IndexError:  # its sampler found no unique puzzle within its retries
            problems.append(f"attempt {attempt}: reasoning-gym found no puzzle")
            continue
        meta = item["metadata"]
        statements = _plain(meta["statements"])
        names = tuple(str(n) for n in meta["names"])
        solution = tuple(bool(v) for v in meta["solution"])
        solutions = solve_kk(statements)
        if solutions != [solution]:
            problems.append(f"attempt {attempt}: {len(solutions)} solutions by our solver")
            continue
        terms = meta["knight_knave_terms"]
        return KKPuzzle(
            names=names,
            statements=statements,
            solution=solution,
            roles=(str(terms["knight"]), str(terms["knave"])),
            articles=(str(terms["a_knight"]), str(terms["a_knave"])),
            question=question_without_format(str(item["question"])),
        )
    raise RuntimeError(f"no uniquely solvable puzzle for index {index}: {'; '.join(problems)}")


def generate_kk(
    n: int, people: int = 3, seed: int = 0, depth: int = 2, width: int = 2, progress: bool | None = None
) -> Iterator[dict[str, Any]]:
    """``n`` rows {"prompt", "label"} of Knights-and-Knaves puzzles; deterministic by ``seed``."""
    check_kk_size(people, depth, width)
    return rows_with_progress(
        lambda i: kk_puzzle(i, people, seed, depth, width).row(), n, f"kk {people} people", progress
    )
