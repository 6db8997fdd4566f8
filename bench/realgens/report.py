"""The real-generations report as files: JSON, Markdown, a plot, and the disagreements to read."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any


def write_reports(
    report: dict[str, Any], disagreements: list[dict[str, Any]], verdicts: list[dict[str, Any]], out: Path
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "verdicts.jsonl").open("w") as f:
        for v in verdicts:
            f.write(json.dumps(v) + "\n")
    (out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    (out / "report.md").write_text(markdown(report, disagreements))
    with (out / "disagreements.jsonl").open("w") as f:
        for d in disagreements:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    plot(report, out / "report.png")


def markdown(report: dict[str, Any], disagreements: list[dict[str, Any]]) -> str:
    lines = [
        "# Real generations: the service against the sources' verdicts",
        "",
        f"Data: `{report['data_dir']}`; {report['rows']} rows; {report['seconds']} s; "
        f"**{report['wrong_after']} wrong rewards after adjudication**.",
        "",
        "| source | domain | rows | source right | paid | agree | FP | FN | label errors | ambiguous | "
        "unread | wrong after adj. | FP after | FN after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in report["sources"]:
        share = 100.0 * s["agree"] / s["rows"] if s["rows"] else 0.0
        lines.append(
            f"| {s['source']} | {s['domain']} | {s['rows']} | {s['source_right']} | {s['paid']} | "
            f"{s['agree']} ({share:.1f}%) | {s['fp']} | {s['fn']} | {s['label_errors']} | "
            f"{s['ambiguous']} | {s['unadjudicated']} | {s['wrong_after']} | {s['fp_after']} | "
            f"{s['fn_after']} |"
        )
    classes: Counter[tuple[str, str]] = Counter()
    example: dict[tuple[str, str], dict[str, Any]] = {}
    for d in disagreements:
        entry = d["adjudication"] or {"class": "unadjudicated", "verdict": "-"}
        key = (entry["class"], entry["verdict"])
        classes[key] += 1
        example.setdefault(key, d)
    if classes:
        lines += [
            "",
            "## Disagreements by class",
            "",
            "| class | verdict | rows | example (id: the response's tail -> the service's verdict) |",
            "|---|---|---:|---|",
        ]
        for (klass, verdict), n in classes.most_common():
            d = example[(klass, verdict)]
            tail = d["response_tail"][-160:].replace("\n", " ").replace("|", "\\|")
            lines.append(f"| {klass} | {verdict} | {n} | `{d['id']}`: `{tail}` -> {d['verdict']} |")
    lines += [
        "",
        "Verdicts: `ours` the service was wrong, `label` the source's verdict was wrong, "
        "`ambiguous` either reading holds (not counted as a wrong reward).",
        "",
    ]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = report["sources"]
    names = [s["source"] for s in sources]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, max(3.5, 0.42 * len(names) + 1.5)), sharey=True)
    ys = range(len(names))
    agree = [100.0 * s["agree"] / s["rows"] if s["rows"] else 0.0 for s in sources]
    left.barh(ys, agree, color=["#4c9a2a" if s["wrong_after"] == 0 else "#c0392b" for s in sources])
    left.set_yticks(list(ys), names, fontsize=8)
    left.invert_yaxis()
    left.set_xlim(min(80.0, min(agree, default=100.0) - 2), 100.5)
    left.set_xlabel("agreement with the source's verdict, %")
    height = 0.2
    bars = (
        ("fp", "FP", "#e67e22", -1.5),
        ("fn", "FN", "#2980b9", -0.5),
        ("fp_after", "FP after adjudication", "#c0392b", 0.5),
        ("fn_after", "FN after adjudication", "#8e44ad", 1.5),
    )
    for key, label, colour, offset in bars:
        right.barh(
            [y + offset * height for y in ys],
            [s[key] for s in sources],
            height=height,
            color=colour,
            label=label,
        )
    right.set_xscale("symlog")
    right.set_xlabel("rows (symlog)")
    right.legend(fontsize=8, loc="lower right")
    fig.suptitle(
        f"Real generations: {report['rows']} rows, {report['wrong_after']} wrong rewards after adjudication"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
