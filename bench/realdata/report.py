"""The real-data report as files: JSON (everything), Markdown (the tables) and a plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_reports(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    (out / "report.md").write_text(markdown(report))
    plot(report, out / "report.png")


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Real data: right answers score 1, altered ones less", "",
             f"Data: `{report['data_dir']}`; {report['seconds']} s.", "",
             "| file | rows | skipped | source | form | expect | hold / cases | % | not scored |",
             "|---|---:|---:|---|---|---|---:|---:|---:|"]
    for file in report["files"]:
        skipped = ", ".join(f"{n} {why}" for why, n in file["skipped"].items()) or "0"
        for i, form in enumerate(file["forms"]):
            share = 100.0 * form["hold"] / form["cases"] if form["cases"] else 0.0
            lines.append(
                f"| {file['file'] if i == 0 else ''} | {file['converted'] if i == 0 else ''} | "
                f"{skipped if i == 0 else ''} | {form['source']} | {form['form']} | {form['expect']} | "
                f"{form['hold']} / {form['cases']} | {share:.1f} | {form['failed_to_score']} |"
            )
    mv = report.get("math_verify")
    if mv:
        lines += ["", f"Math-Verify's own test cases (commit {mv['commit']}): {mv['agree']} / {mv['cases']} agree "
                  f"({100 * mv['agree'] / mv['cases']:.1f}%).", ""]
        if mv["disagreements"]:
            lines += ["| gold | answer (tail) | Math-Verify says | here |", "|---|---|---:|---|"]
            for d in mv["disagreements"]:
                cells = [d["gold"], d["pred"]]
                cells = [c.replace("|", "\\|").replace("\n", " ") for c in cells]
                lines.append(f"| `{cells[0]}` | `{cells[1]}` | {d['expected']} | {d['verdict']} |")
    misses = [(file["file"], form) for file in report["files"] for form in file["forms"] if form["misses"]]
    if misses:
        lines += ["", "## Cases that did not hold (first five per form)", ""]
        for name, form in misses:
            lines.append(f"- {name}, {form['source']}, {form['form']}:")
            for miss in form["misses"]:
                answer = miss["answer"].replace("\n", " ")[:160]
                lines.append(f"  - `{answer}` -> {miss['verdict']}: {miss['reason'][:200]}")
    return "\n".join(lines) + "\n"


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, shares, colours = [], [], []
    for file in report["files"]:
        short = "/".join(Path(file["file"]).with_suffix("").parts[-2:])
        for form in file["forms"]:
            labels.append(f"{short}: {form['source'].split('/')[-1]}: {form['form']}")
            shares.append(100.0 * form["hold"] / form["cases"] if form["cases"] else 0.0)
            held = form["hold"] == form["cases"]
            colours.append("#4c9a2a" if held else "#999999" if form["expect"] == "report" else "#c0392b")
    height = max(4.0, 0.22 * len(labels) + 1.5)
    fig, ax = plt.subplots(figsize=(10, height))
    ax.barh(range(len(labels)), shares, color=colours)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(min(90.0, min(shares, default=100.0) - 1), 100.5)
    ax.set_xlabel("cases that hold, %")
    ax.set_title("Real data: each answer form and alteration\n(green: all hold; red: some do not; grey: the dataset's own answers, reported)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
