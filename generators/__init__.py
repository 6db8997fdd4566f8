"""Puzzle and task generators: training and test data without any download.

Each generator is deterministic by seed and yields rows ``{"prompt": str, "label": dict}``
whose label follows the README's "Labels" (each domain module's label model):

- :func:`generate_kk` -- Knights-and-Knaves (reasoning-gym's generator; uniqueness re-checked
  by :func:`generators.kk.solve_kk`),
- :func:`generate_zebra` -- whole-grid Zebra puzzles with a unique solution,
- :func:`generate_countdown` -- CountDown tasks with a known solution (reasoning-gym).

``reward gen`` (see :mod:`generators.cli`) writes them as JSONL.
"""

from generators.countdown import generate_countdown
from generators.kk import generate_kk
from generators.zebra import generate_zebra

__all__ = ["generate_countdown", "generate_kk", "generate_zebra"]
