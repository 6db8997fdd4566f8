"""Several checkpoints' reports as the study's table: a row per checkpoint, each cell its
accuracy and the change against a baseline row, and a heatmap of the changes.

``reward eval compare base/eval.json math-rl/eval.json ... --out DIR [--baseline NAME]``
writes ``DIR/compare.md``, ``DIR/compare.json`` and ``DIR/compare.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from evaluation.report import study_columns


class CompareError(ValueError):
    """Reports that cannot be compared (missing, not a report, too few)."""


def load_reports(paths: list[Path], names: list[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    if len(paths) < 2:
        raise CompareError("compare needs at least two eval.json files (a baseline and one more)")
    if names and len(names) != len(paths):
        raise CompareError(f"{len(names)} names for {len(paths)} reports")
    loaded = []
    for index, path in enumerate(paths):
        path = path / "eval.json" if path.is_dir() else path
        try:
            report = json.loads(path.read_text())
        except FileNotFoundError:
            raise CompareError(f"{path}: no such file") from None
        except json.JSONDecodeError as exc:
            raise CompareError(f"{path}: not JSON ({exc.msg})") from None
        if not isinstance(report, dict) or not {"benchmarks", "domains", "overall"} <= set(report):
            raise CompareError(f"{path}: not a report of reward eval (no benchmarks / domains / overall)")
        name = names[index] if names else str(report.get("name") or path.parent.name)
        loaded.append((name, report))
    seen: dict[str, int] = {}
    unique = []
    for name, report in loaded:  # two runs of one model still get a row each
        seen[name] = seen.get(name, 0) + 1
        unique.append((name if seen[name] == 1 else f"{name} ({seen[name]})", report))
    return unique


def comparison(reports: list[tuple[str, dict[str, Any]]], baseline: str | None = None) -> dict[str, Any]:
    """Columns (each benchmark, the domain averages, All) in the study's order, a row of
    accuracies per checkpoint, and each row's change against the baseline, in points."""
    names = [name for name, _ in reports]
    base = baseline or names[0]
    if base not in names:
        raise CompareError(f"baseline {base!r} is none of {', '.join(names)}")
    columns: list[str] = []
    values: dict[str, dict[str, float]] = {}
    for name, report in reports:
        values[name] = {}
        for column, value in study_columns(report):
            if column not in columns:
                columns.append(column)
            values[name][column] = 100 * value
    ordered = [c for c in columns if not (c.endswith(" avg") or c == "All")]
    averages = [c for c in columns if c.endswith(" avg")]
    columns = ordered + averages + (["All"] if "All" in columns else [])
    deltas = {
        name: {c: row[c] - values[base][c] for c in columns if c in row and c in values[base]}
        for name, row in values.items() if name != base
    }  # fmt: skip
    return {"baseline": base, "columns": columns, "rows": values, "deltas": deltas}


def markdown(table: dict[str, Any]) -> str:
    columns, base = table["columns"], table["baseline"]
    lines = ["# Checkpoints compared", "",
             f"Accuracy (%, share of samples with score 1); in brackets the change against `{base}`, in points.", "",
             "| checkpoint | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for name, row in table["rows"].items():
        cells = []
        for column in columns:
            if column not in row:
                cells.append("-")
            elif name == base or column not in table["deltas"].get(name, {}):
                cells.append(f"{row[column]:.1f}")
            else:
                cells.append(f"{row[column]:.1f} ({table['deltas'][name][column]:+.1f})")
        lines.append(f"| {'**' + name + '** (baseline)' if name == base else name} | " + " | ".join(cells) + " |")
    lines += ["", "![changes against the baseline](compare.png)", ""]
    return "\n".join(lines)


def plot(table: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(table["deltas"])
    columns = table["columns"]
    grid = np.array([[table["deltas"][n].get(c, np.nan) for c in columns] for n in names], dtype=float)
    limit = max(1.0, float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(columns) + 2), 0.6 * len(names) + 2))
    image = ax.imshow(grid, cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(columns)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:+.1f}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label="change, points")
    ax.set_title(f"Change against {table['baseline']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(table: dict[str, Any], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "compare.json", "md": out / "compare.md", "png": out / "compare.png"}
    paths["json"].write_text(json.dumps(table, indent=1) + "\n")
    paths["md"].write_text(markdown(table))
    plot(table, paths["png"])
    return paths


def print_table(console: Console, table: dict[str, Any]) -> None:
    rich_table = Table(title=f"accuracy %, change against {table['baseline']}")
    rich_table.add_column("checkpoint", no_wrap=True)
    for column in table["columns"]:
        rich_table.add_column(column, justify="right")
    for name, row in table["rows"].items():
        cells = []
        for column in table["columns"]:
            delta = table["deltas"].get(name, {}).get(column)
            if column not in row:
                cells.append("-")
            elif delta is None:
                cells.append(f"{row[column]:.1f}")
            else:
                colour = "green" if delta > 0 else "red" if delta < 0 else "white"
                cells.append(f"{row[column]:.1f} [{colour}]({delta:+.1f})[/]")
        rich_table.add_row(name, *cells)
    console.print(rich_table)
