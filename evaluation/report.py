"""An evaluation as files and on the terminal: ``eval.json`` (everything), ``eval.md`` (the
study's one-row table, then per benchmark and per domain), ``eval.png`` (accuracy per
benchmark and domain, pass@k curves) and a rich table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

DOMAIN_COLOURS = {"math": "#3b75af", "code": "#519e3e", "puzzle": "#ef8636", "other": "#8d8d8d"}
DOMAIN_TITLES = {"math": "Math", "code": "Code", "puzzle": "Puzzle", "other": "Other", "all": "All"}


def shown_ks(k_max: int) -> list[int]:
    """pass@k columns: 1, 2, 4, 8, ... and k_max itself (every k is in eval.json)."""
    ks = [k for k in (1 << i for i in range(12)) if k <= k_max]
    if k_max not in ks:
        ks.append(k_max)
    return ks


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def study_columns(report: dict[str, Any]) -> list[tuple[str, float]]:
    """(column, accuracy) for the study's one-row table: each domain's benchmarks then its
    average, and the overall average last."""
    columns: list[tuple[str, float]] = []
    for domain, average in report["domains"].items():
        for name in average["benchmarks"]:
            columns.append((report["benchmarks"][name]["title"], report["benchmarks"][name]["accuracy"]))
        columns.append((f"{DOMAIN_TITLES.get(domain, domain)} avg", average["accuracy"]))
    columns.append(("All", report["overall"]["accuracy"]))
    return columns


def write_reports(report: dict[str, Any], out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "eval.json", "md": out / "eval.md", "png": out / "eval.png"}
    paths["json"].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    paths["md"].write_text(markdown(report))
    plot(report, paths["png"])
    return paths


def _k_max(report: dict[str, Any]) -> int:
    return max(b["k"] for b in report["benchmarks"].values())


def markdown(report: dict[str, Any]) -> str:
    mode = report["mode"]
    lines = [
        f"# Evaluation: {report['name']}",
        "",
        f"{report['samples']} samples of {report['problems']} problems, scored {report['scoring']} "
        f"in {report['seconds']} s; reward mode `{mode}`. Accuracy is the share of samples with score 1 "
        "(avg@k; pass@1 with one sample per problem); pass@k is the unbiased estimator; domain and overall "
        "figures are plain means over benchmarks.",
        "",
        "## The study's table (accuracy, %)",
        "",
    ]
    columns = study_columns(report)
    lines += ["| " + " | ".join(c for c, _ in columns) + " |", "|" + "---:|" * len(columns),
              "| " + " | ".join(pct(v) for _, v in columns) + " |", ""]
    ks = shown_ks(_k_max(report))
    lines += [
        "## Per benchmark",
        "",
        "| benchmark | domain | problems | k | accuracy % | " + " | ".join(f"pass@{k} %" for k in ks)
        + f" | mean score | mean reward ({mode}) | format % | not scored |",
        "|---|---|---:|---:|---:|" + "---:|" * len(ks) + "---:|---:|---:|---:|",
    ]
    for b in report["benchmarks"].values():
        passes = " | ".join(pct(b["pass@k"].get(str(k))) for k in ks)
        k = str(b["k"]) if b["k"] == b["k_max"] else f"{b['k']}-{b['k_max']}"
        lines.append(
            f"| {b['title']} (`{b['benchmark']}`) | {b['domain']} | {b['problems']} | {k} | {pct(b['accuracy'])} | "
            f"{passes} | {b['mean_score']:.3f} | {b['mean_reward']:.3f} | {pct(b['format_rate'])} | {b['not_scored']} |"
        )
    lines += ["", "## Per domain and overall (means over benchmarks)", "",
              "| domain | benchmarks | accuracy % | " + " | ".join(f"pass@{k} %" for k in ks)
              + " | mean reward | format % | not scored |",
              "|---|---|---:|" + "---:|" * len(ks) + "---:|---:|---:|"]
    for domain, a in [*report["domains"].items(), ("all", report["overall"])]:
        passes = " | ".join(pct(a["pass@k"].get(str(k))) for k in ks)
        lines.append(
            f"| {DOMAIN_TITLES.get(domain, domain)} | {', '.join(a['benchmarks'])} | {pct(a['accuracy'])} | {passes} | "
            f"{a['mean_reward']:.3f} | {pct(a['format_rate'])} | {a['not_scored']} |"
        )
    lines += ["", "## Verdicts", "", "| benchmark | " + " | ".join(VERDICTS) + " |", "|---|" + "---:|" * len(VERDICTS)]
    for b in report["benchmarks"].values():
        lines.append(f"| {b['benchmark']} | " + " | ".join(str(b["verdicts"].get(v, 0)) for v in VERDICTS) + " |")
    if report.get("sources"):
        lines += ["", "## Problems from", ""]
        lines += [f"- `{name}`: {origin}" for name, origin in report["sources"].items()]
    lines += ["", f"Inputs: {', '.join(f'`{p}`' for p in report['inputs'])}.", "", "![plot](eval.png)", ""]
    return "\n".join(lines)


VERDICTS = ("correct", "partial", "wrong", "format_error", "timeout", "error", "unscored")


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    benchmarks = list(report["benchmarks"].values())
    many = _k_max(report) > 1
    fig, axes = plt.subplots(1, 2 if many else 1, figsize=(13 if many else 8, 4.8), squeeze=False)
    ax = axes[0][0]
    labels, values, colours = [], [], []
    for domain, average in report["domains"].items():
        for name in average["benchmarks"]:
            labels.append(report["benchmarks"][name]["title"])
            values.append(100 * report["benchmarks"][name]["accuracy"])
            colours.append(DOMAIN_COLOURS.get(domain, DOMAIN_COLOURS["other"]))
        labels.append(f"{DOMAIN_TITLES.get(domain, domain)} avg")
        values.append(100 * average["accuracy"])
        colours.append(DOMAIN_COLOURS.get(domain, DOMAIN_COLOURS["other"]))
    labels.append("All")
    values.append(100 * report["overall"]["accuracy"])
    colours.append("#333333")
    bars = ax.bar(range(len(labels)), values, color=colours)
    for bar, label in zip(bars, labels, strict=True):
        if label.endswith(" avg") or label == "All":
            bar.set_hatch("//")
            bar.set_edgecolor("white")
    for x, v in enumerate(values):
        ax.text(x, v + 1, f"{v:.1f}", ha="center", fontsize=7)
    ax.set_xticks(range(len(labels)), labels, rotation=40, ha="right", fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("accuracy (share of samples with score 1), %")
    ax.set_title(f"{report['name']}: accuracy per benchmark, domain and overall", fontsize=10)
    if many:
        ax2 = axes[0][1]
        for b in benchmarks:
            same_domain = [x for x in benchmarks if x["domain"] == b["domain"]]
            ks = sorted(int(k) for k in b["pass@k"])
            ax2.plot(ks, [100 * b["pass@k"][str(k)] for k in ks], marker="o", markersize=3, label=b["title"],
                     color=DOMAIN_COLOURS.get(b["domain"], DOMAIN_COLOURS["other"]),
                     linestyle=("-", "--", ":", "-.")[same_domain.index(b) % 4])
        ax2.set_xscale("log", base=2)
        ticks = shown_ks(_k_max(report))
        ax2.set_xticks(ticks, [str(k) for k in ticks])
        ax2.minorticks_off()
        ax2.set_xlabel("k")
        ax2.set_ylabel("pass@k (unbiased), %")
        ax2.set_ylim(0, 105)
        ax2.set_title("pass@k per benchmark", fontsize=10)
        ax2.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_table(console: Console, report: dict[str, Any]) -> None:
    ks = shown_ks(_k_max(report))
    table = Table(title=f"{report['name']}: {report['samples']} samples, mode {report['mode']}")
    for column in ("benchmark", "domain", "problems", "k", "acc %", *[f"pass@{k}" for k in ks],
                   "reward", "format %", "failed"):
        table.add_column(column, justify="left" if column in ("benchmark", "domain") else "right", no_wrap=True)
    for b in report["benchmarks"].values():
        table.add_row(b["title"], b["domain"], str(b["problems"]), str(b["k"]), pct(b["accuracy"]),
                      *[pct(b["pass@k"].get(str(k))) for k in ks], f"{b['mean_reward']:.3f}",
                      pct(b["format_rate"]), str(b["not_scored"]), style="red" if b["not_scored"] else None)
    table.add_section()
    for domain, a in [*report["domains"].items(), ("all", report["overall"])]:
        table.add_row(f"[bold]{DOMAIN_TITLES.get(domain, domain)} avg", "", str(a["problems"]), "", pct(a["accuracy"]),
                      *[pct(a["pass@k"].get(str(k))) for k in ks], f"{a['mean_reward']:.3f}", pct(a["format_rate"]),
                      str(a["not_scored"]))
    console.print(table)
