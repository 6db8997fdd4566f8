"""The source formats a dataset can be built from: format name -> converter.

Each converter takes one source row (a dict, as read from parquet or JSONL) and returns a
:class:`~trainer.data.tasks.Task`, or raises :class:`SkipRow` with the reason when the row
cannot be used (the conversion counts the reasons and goes on). Formats:

- ``verl``        any veRL-style file (``prompt`` chat list, ``reward_model.ground_truth``,
                  ``data_source``, ``extra_info``), domain detected per row; the study's
                  own files (:mod:`trainer.data.formats.verl`).
- ``deepscaler``  DeepScaleR-Preview: ``problem``, ``answer`` (``solution`` ignored); or a
                  veRL-form math file (the study's).
- ``countdown``   Countdown-Tasks-3to4: ``nums``, ``target``.
- ``coder1``      CodeR1-12k (veRL style): ``reward_model.ground_truth`` a JSON string of
                  ``{"functional": test code}`` (LeetCode) or ``{"inputs", "outputs"}``
                  (TACO stdin/stdout, optional ``fn_name``); LeetCode rows get
                  LeetCodeDataset's prelude; stdin/stdout rows the row's ``checker``,
                  else the tolerance their statement states for real numbers.
- ``leetcode``    LeetCodeDataset's human-eval form: ``prompt`` (prelude), ``test``,
                  ``entry_point``, ``completion``.
- ``humaneval``   HumanEval (``prompt``, ``entry_point``, ``canonical_solution``, ``test``;
                  the ``human-eval`` package ships it).
- ``humanevalx``  HumanEval-X (``task_id`` ``CPP/0``, ``Go/0``, ``Java/0``, ``JavaScript/0``,
                  ``Python/0``, ``Rust/0``; ``prompt``, ``canonical_solution``, ``test``,
                  ``declaration``, Go's ``import`` and ``test_setup``): a task in the row's
                  language, tested by the dataset's own test program
                  (:mod:`trainer.data.formats.humanevalx`).
- ``mbpp``        MBPP, sanitized (``prompt``, ``code``, ``test_list``, ``test_imports``)
                  or full (``text``, ``test_setup_code``).
- ``kk``          Logic-RL's Knights-and-Knaves parquet (``quiz``, ``names``, ``solution``,
                  ``solution_text_format``, ``knight_knave``) or its veRL form.
- ``zebralogic``  ZebraLogic grid mode: ``puzzle``, ``size``, ``solution`` ``{header, rows}``
                  (rows are positions).
- ``lpb``         Logic Puzzle Baron grids: puzzle text and a solution table; or a
                  veRL-form LPB file (the study's: ``{"House 1": {category: value}}``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trainer.data.formats.code import convert_coder1, convert_humaneval, convert_leetcode, convert_mbpp
from trainer.data.formats.common import SkipRow
from trainer.data.formats.humanevalx import convert_humanevalx
from trainer.data.formats.math import convert_countdown, convert_deepscaler
from trainer.data.formats.puzzles import convert_kk, convert_lpb, convert_zebralogic
from trainer.data.formats.verl import convert_verl
from trainer.data.tasks import Task


def _or_verl(convert: Callable[[dict[str, Any]], Task], domain: str) -> Callable[[dict[str, Any]], Task]:
    """``convert`` for the format's own rows; a veRL-form row (``reward_model``) of the same
    domain goes through the veRL converter, so the study's files work under either name."""

    def either(row: dict[str, Any]) -> Task:
        if "reward_model" not in row:
            return convert(row)
        task = convert_verl(row)
        if task.domain != domain:
            raise SkipRow(f"a veRL row of domain {task.domain}, not {domain}")
        return task

    either.__doc__ = convert.__doc__
    return either


CONVERTERS: dict[str, Callable[[dict[str, Any]], Task]] = {
    "verl": convert_verl,
    "deepscaler": _or_verl(convert_deepscaler, "math"),
    "countdown": convert_countdown,
    "coder1": convert_coder1,
    "leetcode": convert_leetcode,
    "humaneval": convert_humaneval,
    "humanevalx": convert_humanevalx,
    "mbpp": convert_mbpp,
    "kk": convert_kk,
    "zebralogic": convert_zebralogic,
    "lpb": _or_verl(convert_lpb, "zebra"),
}
"""Source format name -> converter."""

__all__ = ["CONVERTERS", "SkipRow", "Task"]
