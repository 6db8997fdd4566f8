"""Rich progress bars for long data work (generation here, conversion in trainer/), shown
for large runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

AUTO_PROGRESS_MIN_ROWS = 1000
"""With ``progress=None`` the bar is shown from this many rows on."""


@contextmanager
def progress_bar(
    description: str, total: int | None, show: bool | None = None, min_rows: int = AUTO_PROGRESS_MIN_ROWS
) -> Iterator[Callable[..., None]]:
    """A rich progress bar on stderr, shown when ``show`` (or, when None, from ``min_rows``).

    Yields ``advance(n=1)``.
    """
    visible = show if show is not None else (total or 0) >= min_rows
    if not visible:
        yield lambda n=1: None
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def rows_with_progress(
    make_row: Callable[[int], dict[str, Any]], n: int, description: str, progress: bool | None
) -> Iterator[dict[str, Any]]:
    """Yield ``make_row(i)`` for i in range(n), with a progress bar on stderr when asked."""
    with progress_bar(description, n, progress) as advance:
        for index in range(n):
            yield make_row(index)
            advance()
