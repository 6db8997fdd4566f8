"""A rich progress bar around row generation, shown for large runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

AUTO_PROGRESS_MIN_ROWS = 1000
"""With ``progress=None`` the bar is shown from this many rows on."""


def rows_with_progress(
    make_row: Callable[[int], dict[str, Any]], n: int, description: str, progress: bool | None
) -> Iterator[dict[str, Any]]:
    """Yield ``make_row(i)`` for i in range(n), with a progress bar on stderr when asked."""
    show = progress if progress is not None else n >= AUTO_PROGRESS_MIN_ROWS
    if not show:
        for index in range(n):
            yield make_row(index)
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with bar:
        task = bar.add_task(description, total=n)
        for index in range(n):
            yield make_row(index)
            bar.advance(task)
