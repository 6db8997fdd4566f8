"""Zebra (Einstein) grid puzzles with a unique solution, and the solver that checks them.

A puzzle has ``houses`` houses in a row and ``attributes`` characteristics (Name first, as
in ZebraLogic); every characteristic takes each of its values in exactly one house. The
generator draws a random solution, adds random clues that are true of it until the solver
finds exactly one solution, then drops every clue that is not needed for uniqueness.

The solver is a small constraint solver: each (characteristic, value) has a set of possible
houses (a bit mask); clues and the one-value-per-house rule prune the sets, and a
backtracking search counts solutions up to a limit.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from generators.progress import rows_with_progress


@dataclass(frozen=True, slots=True)
class Characteristic:
    name: str
    intro: str
    """The prompt line that lists the values."""
    reference: str
    """How a clue refers to the person with a value: a template with ``{value}``."""
    values: tuple[str, ...]


CHARACTERISTICS: tuple[Characteristic, ...] = (
    Characteristic("Name", "Each person has a unique name", "{value}",
                   ("Arnold", "Bob", "Carol", "David", "Eric", "Peter", "Alice", "Grace")),
    Characteristic("Nationality", "Each person has a different nationality", "the {value} person",
                   ("German", "British", "Swedish", "Norwegian", "Danish", "Chinese", "Brazilian", "Japanese")),
    Characteristic("Color", "Each house is painted a different color", "the person in the {value} house",
                   ("red", "green", "blue", "yellow", "white", "purple", "orange", "gray")),
    Characteristic("Pet", "Each person keeps a different pet", "the {value} owner",
                   ("cat", "dog", "bird", "fish", "horse", "rabbit", "hamster", "turtle")),
    Characteristic("Drink", "Each person has a different favorite drink", "the person who drinks {value}",
                   ("tea", "coffee", "milk", "water", "juice", "soda", "lemonade", "cocoa")),
    Characteristic("Hobby", "Each person has a different hobby", "the person who enjoys {value}",
                   ("chess", "painting", "gardening", "reading", "cooking", "hiking", "knitting", "photography")),
    Characteristic("Food", "Each person has a different favorite food", "the person who loves {value}",
                   ("pizza", "sushi", "pasta", "tacos", "soup", "salad", "curry", "stew")),
    Characteristic("Car", "Each person drives a different car", "the {value} driver",
                   ("Ford", "Toyota", "BMW", "Tesla", "Honda", "Fiat", "Mazda", "Volvo")),
    Characteristic("Occupation", "Each person has a different occupation", "the {value}",
                   ("doctor", "teacher", "engineer", "artist", "lawyer", "chef", "nurse", "pilot")),
    Characteristic("Music", "Each person likes a different kind of music", "the person who listens to {value}",
                   ("jazz", "rock", "pop", "classical", "blues", "country", "reggae", "folk")),
    Characteristic("Sport", "Each person plays a different sport", "the person who plays {value}",
                   ("tennis", "soccer", "golf", "basketball", "baseball", "hockey", "rugby", "volleyball")),
    Characteristic("Flower", "Each person has a different favorite flower", "the {value} lover",
                   ("rose", "tulip", "lily", "daisy", "orchid", "iris", "violet", "lotus")),
)
MIN_HOUSES, MAX_HOUSES = 2, 8
MIN_ATTRIBUTES, MAX_ATTRIBUTES = 1, len(CHARACTERISTICS)

# Clue kinds. "Item" = (characteristic index, value index).
AT = "at"                  # item is in house k
NOT_AT = "not_at"          # item is not in house k
SAME = "same"              # two items are in the same house
NOT_SAME = "not_same"      # two items are in different houses
LEFT_OF = "left_of"        # first item is directly left of the second
SOMEWHERE_LEFT = "somewhere_left"  # first item is somewhere left of the second
NEXT_TO = "next_to"        # the items are in neighbouring houses
ONE_BETWEEN = "one_between"  # exactly one house between the items
CLUE_KINDS = (AT, NOT_AT, SAME, NOT_SAME, LEFT_OF, SOMEWHERE_LEFT, NEXT_TO, ONE_BETWEEN)
# How often each kind is drawn; positional "at" clues are kept rare so puzzles need reasoning.
CLUE_WEIGHTS = (1, 2, 4, 2, 3, 2, 3, 2)

Item = tuple[int, int]


def _holds(kind: str, p: int, q: int) -> bool:
    """Whether a two-item clue of ``kind`` holds with the items in houses p and q (0-based)."""
    if kind == SAME:
        return p == q
    if kind == NOT_SAME:
        return p != q
    if kind == LEFT_OF:
        return p + 1 == q
    if kind == SOMEWHERE_LEFT:
        return p < q
    if kind == NEXT_TO:
        return abs(p - q) == 1
    if kind == ONE_BETWEEN:
        return abs(p - q) == 2
    raise ValueError(f"not a two-item clue: {kind}")


@dataclass(frozen=True, slots=True)
class Clue:
    kind: str
    first: Item
    second: Item | None = None
    house: int | None = None
    """0-based house for AT / NOT_AT."""

    def holds(self, positions: list[list[int]]) -> bool:
        """Whether the clue is true when ``positions[c][v]`` is the house of value v of characteristic c."""
        p = positions[self.first[0]][self.first[1]]
        if self.kind == AT:
            return p == self.house
        if self.kind == NOT_AT:
            return p != self.house
        assert self.second is not None
        return _holds(self.kind, p, positions[self.second[0]][self.second[1]])


# --------------------------------------------------------------------------- solver


class _Contradiction(Exception):
    pass


class ZebraSolver:
    """Counts the solutions of a set of clues over ``houses`` x the given characteristics."""

    def __init__(self, houses: int, values_per_characteristic: int, characteristics: int):
        self.houses = houses
        self.n_chars = characteristics
        self.n_values = values_per_characteristic
        self.full = (1 << houses) - 1
        # support[kind][p] = mask of houses q where the clue holds with the first item at p
        self.support: dict[str, list[int]] = {}
        self.reverse_support: dict[str, list[int]] = {}
        for kind in (SAME, NOT_SAME, LEFT_OF, SOMEWHERE_LEFT, NEXT_TO, ONE_BETWEEN):
            self.support[kind] = [
                sum(1 << q for q in range(houses) if _holds(kind, p, q)) for p in range(houses)
            ]
            self.reverse_support[kind] = [
                sum(1 << p for p in range(houses) if _holds(kind, p, q)) for q in range(houses)
            ]

    def _initial(self, clues: list[Clue]) -> list[list[int]]:
        domains = [[self.full] * self.n_values for _ in range(self.n_chars)]
        for clue in clues:
            c, v = clue.first
            if clue.kind == AT:
                domains[c][v] &= 1 << clue.house  # type: ignore[operator]
            elif clue.kind == NOT_AT:
                domains[c][v] &= ~(1 << clue.house)  # type: ignore[operator]
        return domains

    def _supported(self, mask: int, other: int, table: list[int]) -> int:
        kept = 0
        p = 0
        while mask >> p:
            if (mask >> p) & 1 and table[p] & other:
                kept |= 1 << p
            p += 1
        return kept

    def _propagate(self, domains: list[list[int]], pair_clues: list[Clue]) -> None:
        changed = True
        while changed:
            changed = False
            for clue in pair_clues:
                (c1, v1), (c2, v2) = clue.first, clue.second  # type: ignore[misc]
                a, b = domains[c1][v1], domains[c2][v2]
                new_a = self._supported(a, b, self.support[clue.kind])
                new_b = self._supported(b, new_a, self.reverse_support[clue.kind])
                if not new_a or not new_b:
                    raise _Contradiction
                if new_a != a or new_b != b:
                    domains[c1][v1], domains[c2][v2] = new_a, new_b
                    changed = True
            for row in domains:
                # a value fixed to a house takes that house from the other values
                for v, mask in enumerate(row):
                    if mask & (mask - 1) == 0:
                        for w in range(len(row)):
                            if w != v and row[w] & mask:
                                row[w] &= ~mask
                                if not row[w]:
                                    raise _Contradiction
                                changed = True
                # a house that only one value can take gets that value
                for house in range(self.houses):
                    bit = 1 << house
                    holders = [v for v, mask in enumerate(row) if mask & bit]
                    if not holders:
                        raise _Contradiction
                    if len(holders) == 1 and row[holders[0]] != bit:
                        row[holders[0]] = bit
                        changed = True

    def solve(self, clues: list[Clue], limit: int = 2) -> list[list[list[int]]]:
        """Up to ``limit`` solutions, each as positions[characteristic][value] -> house (0-based)."""
        pair_clues = [c for c in clues if c.second is not None]
        solutions: list[list[list[int]]] = []
        try:
            domains = self._initial(clues)
            if any(not mask for row in domains for mask in row):
                return []
            self._search(domains, pair_clues, solutions, limit)
        except _Contradiction:
            return solutions
        return solutions

    def _search(
        self, domains: list[list[int]], pair_clues: list[Clue], solutions: list[list[list[int]]], limit: int
    ) -> None:
        try:
            self._propagate(domains, pair_clues)
        except _Contradiction:
            return
        best: tuple[int, int, int] | None = None
        for c, row in enumerate(domains):
            for v, mask in enumerate(row):
                count = mask.bit_count()
                if count > 1 and (best is None or count < best[0]):
                    best = (count, c, v)
        if best is None:
            solutions.append([[mask.bit_length() - 1 for mask in row] for row in domains])
            return
        _, c, v = best
        mask = domains[c][v]
        for house in range(self.houses):
            if (mask >> house) & 1:
                branch = [list(row) for row in domains]
                branch[c][v] = 1 << house
                self._search(branch, pair_clues, solutions, limit)
                if len(solutions) >= limit:
                    return


# --------------------------------------------------------------------------- puzzle


_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


@dataclass(frozen=True, slots=True)
class ZebraPuzzle:
    houses: int
    characteristics: tuple[Characteristic, ...]
    values: tuple[tuple[str, ...], ...]
    """values[c] = the values of characteristic c used in this puzzle."""
    positions: tuple[tuple[int, ...], ...]
    """positions[c][v] = 0-based house of value v of characteristic c (the solution)."""
    clues: tuple[Clue, ...]

    def solver(self) -> ZebraSolver:
        return ZebraSolver(self.houses, self.houses, len(self.characteristics))

    def solve(self, limit: int = 2) -> list[list[list[int]]]:
        return self.solver().solve(list(self.clues), limit)

    def grid(self) -> dict[str, dict[str, str]]:
        """The solution in ZebraLogic's answer form {"House 1": {"Name": ...}, ...}."""
        return positions_to_grid(self, [list(p) for p in self.positions])

    def _ref(self, item: Item) -> str:
        c, v = item
        return self.characteristics[c].reference.format(value=self.values[c][v])

    def clue_text(self, clue: Clue) -> str:
        a = self._ref(clue.first)
        b = self._ref(clue.second) if clue.second is not None else ""
        if clue.kind == AT:
            text = f"{a} lives in the {_ORDINALS[clue.house]} house"  # type: ignore[index]
        elif clue.kind == NOT_AT:
            text = f"{a} does not live in the {_ORDINALS[clue.house]} house"  # type: ignore[index]
        elif clue.kind == SAME:
            text = f"{a} is {b}"
        elif clue.kind == NOT_SAME:
            text = f"{a} is not {b}"
        elif clue.kind == LEFT_OF:
            text = f"{a} lives directly left of {b}"
        elif clue.kind == SOMEWHERE_LEFT:
            text = f"{a} lives somewhere to the left of {b}"
        elif clue.kind == NEXT_TO:
            text = f"{a} and {b} live next to each other"
        else:
            text = f"there is one house between {a} and {b}"
        return text[0].upper() + text[1:] + "."

    def prompt(self) -> str:
        lines = [
            f"There are {self.houses} houses, numbered 1 to {self.houses} from left to right, as seen "
            "from across the street. Each house is occupied by a different person. Each house has a "
            "unique attribute for each of the following characteristics:",
        ]
        for c, characteristic in enumerate(self.characteristics):
            listed = ", ".join(f"`{v}`" for v in self.values[c])
            lines.append(f" - {characteristic.intro}: {listed}")
        lines.append("")
        lines.append("## Clues:")
        lines.extend(f"{i}. {self.clue_text(clue)}" for i, clue in enumerate(self.clues, start=1))
        example = {
            f"House {h}": {ch.name: "___" for ch in self.characteristics} for h in range(1, min(self.houses, 2) + 1)
        }
        example_text = ", ".join(
            f'"{house}": {{' + ", ".join(f'"{k}": "{v}"' for k, v in cells.items()) + "}"
            for house, cells in example.items()
        )
        lines.append("")
        lines.append(
            "Work out the whole grid. Reason step by step inside <think> </think> tags, then give the "
            "final grid inside <answer> </answer> tags as one JSON object with every house and every "
            f"characteristic, like <answer>{{{example_text}, ...}}</answer>."
        )
        return "\n".join(lines)

    def label(self) -> dict[str, Any]:
        return {"domain": "zebra", "solution": self.grid()}

    def row(self) -> dict[str, Any]:
        return {"prompt": self.prompt(), "label": self.label()}


def positions_to_grid(puzzle: ZebraPuzzle, positions: list[list[int]]) -> dict[str, dict[str, str]]:
    grid: dict[str, dict[str, str]] = {f"House {h + 1}": {} for h in range(puzzle.houses)}
    for c, characteristic in enumerate(puzzle.characteristics):
        for v, house in enumerate(positions[c]):
            grid[f"House {house + 1}"][characteristic.name] = puzzle.values[c][v]
    return {house: dict(sorted(cells.items(), key=lambda kv: _order(puzzle, kv[0]))) for house, cells in grid.items()}


def _order(puzzle: ZebraPuzzle, name: str) -> int:
    return next(i for i, ch in enumerate(puzzle.characteristics) if ch.name == name)


def _random_true_clue(rng: random.Random, houses: int, positions: list[list[int]]) -> Clue:
    """A random clue that the solution ``positions`` satisfies."""
    n_chars = len(positions)
    while True:
        kind = rng.choices(CLUE_KINDS, weights=CLUE_WEIGHTS)[0]
        c1 = rng.randrange(n_chars)
        v1 = rng.randrange(houses)
        p = positions[c1][v1]
        if kind == AT:
            return Clue(AT, (c1, v1), house=p)
        if kind == NOT_AT:
            others = [h for h in range(houses) if h != p]
            return Clue(NOT_AT, (c1, v1), house=rng.choice(others))
        if kind == SAME and n_chars < 2:
            continue
        c2 = rng.randrange(n_chars)
        if kind in (SAME, NOT_SAME) and c2 == c1:
            continue  # two values of one characteristic are never in one house: no information
        matching = [
            (c2, v2) for v2 in range(houses) if (c2, v2) != (c1, v1) and _holds(kind, p, positions[c2][v2])
        ]
        if matching:
            return Clue(kind, (c1, v1), rng.choice(matching))


def check_zebra_size(houses: int, attributes: int) -> None:
    if not MIN_HOUSES <= houses <= MAX_HOUSES:
        raise ValueError(f"houses must be {MIN_HOUSES}..{MAX_HOUSES}, got {houses}")
    if not MIN_ATTRIBUTES <= attributes <= MAX_ATTRIBUTES:
        raise ValueError(f"attributes must be {MIN_ATTRIBUTES}..{MAX_ATTRIBUTES}, got {attributes}")


def make_zebra_puzzle(houses: int, attributes: int, rng: random.Random) -> ZebraPuzzle:
    """A puzzle with ``houses`` houses and ``attributes`` characteristics (Name first), one solution."""
    check_zebra_size(houses, attributes)
    chosen = (CHARACTERISTICS[0], *rng.sample(CHARACTERISTICS[1:], attributes - 1))
    values = tuple(tuple(rng.sample(ch.values, houses)) for ch in chosen)
    # positions[c][v]: value v of characteristic c is in house positions[c][v]
    positions = [rng.sample(range(houses), houses) for _ in chosen]
    solver = ZebraSolver(houses, houses, attributes)

    clues: list[Clue] = []
    seen: set[Clue] = set()
    while True:
        clue = _random_true_clue(rng, houses, positions)
        if clue in seen:
            continue
        seen.add(clue)
        clues.append(clue)
        if len(solver.solve(clues, limit=2)) == 1:
            break
    # Drop every clue the unique solution does not need, in random order.
    order = list(range(len(clues)))
    rng.shuffle(order)
    kept = list(clues)
    for index in order:
        candidate = [c for c in kept if c is not clues[index]]
        if len(solver.solve(candidate, limit=2)) == 1:
            kept = candidate
    rng.shuffle(kept)
    return ZebraPuzzle(
        houses=houses,
        characteristics=chosen,
        values=values,
        positions=tuple(tuple(p) for p in positions),
        clues=tuple(kept),
    )


def zebra_puzzle(index: int, houses: int, attributes: int, seed: int) -> ZebraPuzzle:
    """The ``index``-th puzzle of a seeded run (the same for the same arguments)."""
    return make_zebra_puzzle(houses, attributes, random.Random(f"zebra:{seed}:{houses}:{attributes}:{index}"))


def generate_zebra(
    n: int, houses: int = 4, attributes: int = 4, seed: int = 0, progress: bool | None = None
) -> Iterator[dict[str, Any]]:
    """``n`` rows {"prompt", "label"} of Zebra puzzles; deterministic by ``seed``."""
    check_zebra_size(houses, attributes)
    return rows_with_progress(
        lambda i: zebra_puzzle(i, houses, attributes, seed).row(), n, f"zebra {houses}x{attributes}", progress
    )
