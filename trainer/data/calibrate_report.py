"""The calibration's report: where the limits came from, their distribution (a histogram),
and how the references fared under load at their own limit and at other multiples."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from trainer.data.calibrate import Calibration, Probe, label_of
from trainer.data.limits import LimitPolicy

MULTIPLES = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
"""The multiples the check reports on besides the one chosen."""


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    pick = {"min": 0.0, "p50": 0.5, "p90": 0.9, "p99": 0.99, "max": 1.0}
    return {k: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4) for k, q in pick.items()}


def _fails(probe: Probe, limit_s: float) -> bool:
    """Whether a run of the probe fails at ``limit_s``: it failed, or it took more CPU."""
    return any(not ok or cpu > limit_s for ok, cpu, _ in probe.runs)


def check_figures(calibration: Calibration, policy: LimitPolicy) -> dict[str, Any]:
    """Per kind of answer: answers checked, runs, failures under their own limit, and at
    each multiple of :data:`MULTIPLES` the answers with a run over that multiple's limit."""
    figures: dict[str, Any] = {}
    for kind in ("reference", "oracle"):
        probes = [p for p in calibration.checked if p.kind == kind]
        answers: dict[tuple[int, str], list[Probe]] = {}
        for probe in probes:
            answers.setdefault((probe.row, probe.answer), []).append(probe)
        failing = [
            (row, a, ps) for (row, a), ps in answers.items() if any(not ok for p in ps for ok, _, _ in p.runs)
        ]
        at_multiple, bare = {}, {}
        for multiple in sorted({*MULTIPLES, policy.multiple}):
            other = LimitPolicy(multiple, policy.floor_s, policy.ceiling_s)
            # Without the floor, which hides the multiple on fast problems: how near the edge runs come.
            unfloored = LimitPolicy(multiple, 0.001, policy.ceiling_s)
            bare[f"{multiple:g}"] = sum(
                1 for (row, _), ps in answers.items()
                if any(_fails(p, unfloored.limit(calibration.slowest_s[row] or 0.0, calibration.ceilings[row])) for p in ps)
            )  # fmt: skip
            at_multiple[f"{multiple:g}"] = sum(
                1 for (row, _), ps in answers.items()
                if any(_fails(p, other.limit(calibration.slowest_s[row] or 0.0, calibration.ceilings[row])) for p in ps)
            )  # fmt: skip
        figures[kind] = {
            "answers": len(answers),
            "runs": sum(len(p.runs) for p in probes),
            "failed": len(failing),
            "would_fail_at_multiple": at_multiple,
            "would_fail_at_multiple_without_floor": bare,
            "loaded_cpu_over_measured": _quantiles(
                [
                    max(c for p in ps for _, c, _ in p.runs) / calibration.slowest_s[row]
                    for (row, _), ps in answers.items()
                    if calibration.slowest_s[row]
                ]
            ),  # fmt: skip
            "failures": [
                {
                    "row": row,
                    "limit_s": label_of(calibration.rows[row]).get("time_limit_s"),
                    "why": next(why for p in ps for ok, _, why in p.runs if not ok),
                    "cpu_s": max(c for p in ps for _, c, _ in p.runs),
                }
                for row, _, ps in failing[:20]
            ],  # fmt: skip
        }
    return figures


def figures(calibration: Calibration, policy: LimitPolicy, check_runs: int, load: int) -> dict[str, Any]:
    limits = [label_of(r).get("time_limit_s") for r, s in zip(calibration.rows, calibration.sources, strict=True)
              if s == "reference"]  # fmt: skip
    out: dict[str, Any] = {
        "policy": {"multiple": policy.multiple, "floor_s": policy.floor_s, "ceiling_s": policy.ceiling_s},
        "rows": len(calibration.rows),
        "code_rows": sum(1 for s in calibration.sources if s),
        "time_limit_source": dict(Counter(s for s in calibration.sources if s)),
        "references_not_passing": calibration.broken,
        "limits_s": _quantiles(limits),
        "limits_histogram": dict(
            sorted(Counter(f"{v:.1f}" for v in limits).items(), key=lambda kv: float(kv[0]))
        ),
        "slowest_reference_cpu_s": _quantiles([s for s in calibration.slowest_s if s is not None]),
        "measure_runs": max((len(p.runs) for p in calibration.measured), default=0),
    }
    if check_runs:
        out["check"] = {"runs": check_runs, "load_processes": load, **check_figures(calibration, policy)}
    return out


def plot(calibration: Calibration, policy: LimitPolicy, path: Path, title: str) -> None:
    """Two panels: the calibrated limits (log counts: most problems sit at the floor), and
    the slowest reference test's CPU that set them (log seconds) with the floor's reach."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    limits = [label_of(r).get("time_limit_s") for r, s in zip(calibration.rows, calibration.sources, strict=True)
              if s == "reference"]  # fmt: skip
    slowest = [s for s in calibration.slowest_s if s]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    if limits:
        edges = [round(0.1 * i, 1) for i in range(int(max(limits) * 10) + 3)]
        left.hist(limits, bins=edges, color="#4c72b0", edgecolor="white")
        left.set_yscale("log")
    left.set_xlabel("calibrated time limit per test, CPU s")
    left.set_ylabel("problems")
    kept = Counter(s for s in calibration.sources if s and s != "reference")
    left.set_title(f"{len(limits)} calibrated; kept: " + (", ".join(f"{k} {v}" for k, v in kept.items()) or "none"),
                   fontsize=9)  # fmt: skip
    if slowest:
        low = max(min(slowest), 1e-4)
        edges = [low * (max(slowest) / low) ** (i / 40) for i in range(41)] if max(slowest) > low else 10
        right.hist(slowest, bins=edges, color="#55a868", edgecolor="white")
        right.set_xscale("log")
        right.axvline(policy.floor_s / policy.multiple, color="#c44e52", linestyle="--",
                      label=f"floor / multiple: the limit is {policy.floor_s:g} s below")  # fmt: skip
        right.legend(fontsize=8)
    right.set_xlabel("slowest reference test, CPU s")
    right.set_title(f"{policy.multiple:g}x the slowest reference, between {policy.floor_s:g} and "
                    f"{policy.ceiling_s:g} s", fontsize=9)  # fmt: skip
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(data: dict[str, Any]) -> str:
    policy = data["policy"]
    lines = [
        f"# Time limits from the references ({policy['multiple']:g}x, floor {policy['floor_s']:g} s, "
        f"ceiling {policy['ceiling_s']:g} s)",
        "",
        f"{data['code_rows']} code rows of {data['rows']}; limits from: "
        + ", ".join(f"{k} {v}" for k, v in data["time_limit_source"].items())
        + f"; references that did not pass in every measuring run: {data['references_not_passing']}",
        "",
        "calibrated limits, s: " + ", ".join(f"{k} {v}" for k, v in data["limits_s"].items()),
        "",
        "slowest reference test, CPU s: "
        + ", ".join(f"{k} {v}" for k, v in data["slowest_reference_cpu_s"].items()),
        "",
        "| limit, s | problems |",
        "|---:|---:|",
        *(f"| {k} | {v} |" for k, v in data["limits_histogram"].items()),
    ]
    check = data.get("check")
    if check:
        multiples = list(check["reference"]["would_fail_at_multiple"])
        lines += [
            "",
            f"## Checked under load: {check['runs']} runs each, {check['load_processes']} processes spinning",
            "",
            "| answers | checked | runs | failed at their own limit | " + " | ".join(f"would fail at {m}x" for m in multiples) + " |",
            "|---|---:|---:|---:|" + "---:|" * len(multiples),
        ]  # fmt: skip
        for kind in ("reference", "oracle"):
            c = check[kind]
            cells = " | ".join(str(c["would_fail_at_multiple"][m]) for m in multiples)
            lines.append(f"| {kind} | {c['answers']} | {c['runs']} | {c['failed']} | {cells} |")
            bare = " | ".join(str(c["would_fail_at_multiple_without_floor"][m]) for m in multiples)
            lines.append(f"| {kind}, no floor | | | | {bare} |")
        ratio = check["reference"]["loaded_cpu_over_measured"]
        lines += ["", "a reference's CPU under load over its measured slowest: "
                  + ", ".join(f"{k} {v}" for k, v in ratio.items())]  # fmt: skip
    return "\n".join(lines) + "\n"


def write(
    calibration: Calibration, policy: LimitPolicy, out: Path, check_runs: int, load: int
) -> dict[str, Any]:
    """report.json / .md / .png next to ``out`` (``OUT.calibration.*``); returns the figures."""
    data = figures(calibration, policy, check_runs, load)
    stem = out.name.split(".")[0] + ".calibration"
    out.with_name(f"{stem}.json").write_text(json.dumps(data, indent=1) + "\n")
    out.with_name(f"{stem}.md").write_text(markdown(data))
    plot(calibration, policy, out.with_name(f"{stem}.png"), out.name)
    return data
