"""What a report says about each benchmark, each domain and the whole.

Per benchmark:

- ``accuracy``: the share of samples with score 1 (fully correct). With k samples per
  problem it is avg@k; with one, pass@1;
- ``pass@k`` for every k up to the fewest samples any of its problems has, with the unbiased
  estimator of Chen et al. (2021): per problem with n samples of which c are correct,
  ``1 - C(n - c, k) / C(n, k)``, averaged over problems;
- ``mean_score`` (partial credit counted), ``mean_reward`` under the chosen reward mode,
  ``format_rate`` (share of samples whose tags are right), the verdicts, and ``not_scored``
  (timeouts, errors, items the scorer never reached: never mistaken for wrong answers
  silently, but counted as not correct).

Per domain (math, code, puzzle) and overall: the plain mean over its benchmarks, as the
study's table averages (each benchmark weighs the same whatever its size).
"""

from __future__ import annotations

from collections import Counter
from math import comb
from statistics import fmean
from typing import Any

from evaluation.benchmarks import BENCHMARKS, DOMAINS, domain_of

NOT_SCORED = ("timeout", "error", "unscored")
AVERAGED = ("accuracy", "mean_score", "mean_reward", "format_rate")


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of one problem: n samples, c of them correct."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def correct(result: dict[str, Any]) -> bool:
    return result["score"] >= 1.0


def benchmark_summary(name: str, label_domains: list[str | None], results: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """One benchmark's figures from its problems' results (a list of samples' results per problem)."""
    flat = [r for per_problem in results for r in per_problem]
    if not flat:
        raise ValueError(f"{name}: no samples")
    counts = [len(per_problem) for per_problem in results]
    right = [sum(correct(r) for r in per_problem) for per_problem in results]
    k_min = min(counts)
    main_domain = Counter(d for d in label_domains if d).most_common(1)
    verdicts = Counter(r["verdict"] for r in flat)
    return {
        "benchmark": name,
        "title": BENCHMARKS[name].title if name in BENCHMARKS else name,
        "domain": domain_of(name, main_domain[0][0] if main_domain else None),
        "problems": len(results),
        "samples": len(flat),
        "k": k_min,
        "k_max": max(counts),
        "correct": sum(right),
        "accuracy": sum(right) / len(flat),
        "pass@k": {
            str(k): fmean(pass_at_k(n, c, k) for n, c in zip(counts, right, strict=True)) for k in range(1, k_min + 1)
        },
        "mean_score": fmean(float(r["score"]) for r in flat),
        "mean_reward": fmean(float(r["reward"]) for r in flat),
        "format_rate": sum(bool(r["format_ok"]) for r in flat) / len(flat),
        "verdicts": dict(sorted(verdicts.items())),
        "not_scored": sum(verdicts[v] for v in NOT_SCORED),
    }


def average(members: list[dict[str, Any]]) -> dict[str, Any]:
    """The plain mean of benchmarks' figures; pass@k for the ks every member has."""
    ks = set.intersection(*(set(m["pass@k"]) for m in members)) if members else set()
    return {
        "benchmarks": [m["benchmark"] for m in members],
        "problems": sum(m["problems"] for m in members),
        "samples": sum(m["samples"] for m in members),
        **{key: fmean(m[key] for m in members) for key in AVERAGED},
        "pass@k": {k: fmean(m["pass@k"][k] for m in members) for k in sorted(ks, key=int)},
        "not_scored": sum(m["not_scored"] for m in members),
    }


def order_key(summary: dict[str, Any]) -> tuple[int, int, str]:
    """The study's order: math, code, puzzle (then others); within one, the benchmark table's."""
    names = list(BENCHMARKS)
    name, domain = summary["benchmark"], summary["domain"]
    rank = DOMAINS.index(domain) if domain in DOMAINS else len(DOMAINS)
    return (rank, names.index(name) if name in names else len(names), name)


def summarise(per_benchmark: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Benchmarks in the study's order, then the domain averages and the overall one."""
    ordered = sorted(per_benchmark.values(), key=order_key)
    domains: dict[str, Any] = {}
    for domain in (*DOMAINS, "other"):
        members = [m for m in ordered if m["domain"] == domain]
        if members:
            domains[domain] = average(members)
    return {
        "benchmarks": {m["benchmark"]: m for m in ordered},
        "domains": domains,
        "overall": average(ordered),
    }
