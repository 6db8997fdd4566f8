"""The load test's report: figures from the client's records and the service's metrics,
as a rich summary on the terminal, ``report.json`` and ``report.png``."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from loadtest.probe import MetricsSnapshot, counted_by_service
from loadtest.runner import LoadTester, RequestRecord

BIN_S = 1.0


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_s": round(percentile(values, 50), 4),
        "p95_s": round(percentile(values, 95), 4),
        "p99_s": round(percentile(values, 99), 4),
        "max_s": round(max(values), 4),
        "mean_s": round(sum(values) / len(values), 4),
    }


def _error_class(error: str) -> str:
    return error.split(":", 1)[0] if error else "unknown"


def _timeline(records: list[RequestRecord], start: float, end: float) -> list[dict[str, Any]]:
    """Per-second bins (of completion time, relative to the measured start)."""
    n_bins = max(1, math.ceil((end - start) / BIN_S))
    bins: list[dict[str, Any]] = [
        {"t": round(i * BIN_S, 3), "answered": 0, "items": 0, "code_items": 0, "errors": 0, "latencies": []}
        for i in range(n_bins)
    ]
    for record in records:
        if record.t_end is None:
            continue
        index = min(int((record.t_end - start) // BIN_S), n_bins - 1)
        if index < 0:
            continue
        b = bins[index]
        if record.ok:
            b["answered"] += 1
            b["items"] += len(record.kinds)
            b["code_items"] += sum(1 for d in record.domains if d == "code")
            b["latencies"].append(record.latency)
        else:
            b["errors"] += 1
    for b in bins:
        latencies = b.pop("latencies")
        b["p50_s"] = round(percentile(latencies, 50), 4) if latencies else None
        b["p99_s"] = round(percentile(latencies, 99), 4) if latencies else None
    return bins


def _pool_stats(samples: list[dict[str, Any]]) -> dict[str, Any]:
    if not samples:
        return {"samples": 0}

    def series(key: str) -> list[float]:
        return [s[key] for s in samples if s.get(key) is not None]

    out: dict[str, Any] = {"samples": len(samples)}
    for key in ("queue_depth", "items_in_flight", "utilisation", "pool_workers", "rq_workers", "items_per_s"):
        values = series(key)
        if values:
            out[key] = {"mean": round(sum(values) / len(values), 3), "max": round(max(values), 3),
                        "min": round(min(values), 3)}
    return out


def _chaos_summary(events: list[dict[str, Any]], timeline: list[dict[str, Any]], lost: int) -> dict[str, Any]:
    kill = next((e for e in events if e["action"] == "kill"), None)
    if kill is None:
        return {"events": events}
    restart = next((e for e in events if e["action"] == "restart"), None)
    before = [b["items"] for b in timeline if b["t"] + BIN_S <= kill["t"]]
    recovery_end = (restart["t"] if restart else kill["t"]) + 15
    during = [b["items"] for b in timeline if kill["t"] <= b["t"] < recovery_end]
    after = [b["items"] for b in timeline if b["t"] >= recovery_end]
    mean = lambda values: round(sum(values) / len(values), 3) if values else None  # noqa: E731
    return {
        "events": events,
        "items_per_s_before_kill": mean(before),
        "items_per_s_min_after_kill": min(during) if during else None,
        "items_per_s_mean_kill_to_restart_plus_15s": mean(during),
        "items_per_s_after_recovery": mean(after),
        "lost_requests": lost,
    }


def build_report(
    tester: LoadTester,
    timing: dict[str, float],
    before: MetricsSnapshot,
    after: MetricsSnapshot,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    config = tester.config
    start = timing["measured_start"]
    wall = timing["measured_s"]
    measured = [r for r in tester.records if r.phase == "measured"]
    answered = [r for r in measured if r.ok]
    failed = [r for r in measured if not r.ok]

    by_route: dict[str, Any] = {}
    for route in sorted({r.route for r in measured}):
        mine = [r for r in measured if r.route == route]
        ok = [r for r in mine if r.ok]
        by_route[route] = {
            "sent": len(mine), "answered": len(ok), "lost": len(mine) - len(ok),
            "items": sum(len(r.kinds) for r in ok),
            "requests_per_s": round(len(ok) / wall, 3) if wall else None,
            "latency": latency_stats([r.latency for r in ok]),
        }

    domain_latency: dict[str, list[float]] = defaultdict(list)
    verdicts: dict[str, Counter] = defaultdict(Counter)
    kind_verdicts: dict[str, Counter] = defaultdict(Counter)
    unexpected: Counter = Counter()
    for r in answered:
        for kind, domain, verdict in zip(r.kinds, r.domains, r.verdicts, strict=True):
            domain_latency[domain].append(r.latency)
            verdicts[domain][verdict] += 1
            kind_verdicts[kind][verdict] += 1
        unexpected.update(r.unexpected)
    by_domain = {
        d: {**latency_stats(values), "items_per_s": round(len(values) / wall, 3) if wall else None,
            "verdicts": dict(verdicts[d])}
        for d, values in sorted(domain_latency.items())
    }

    items_sent = sum(len(r.kinds) for r in measured)
    items_answered = sum(len(r.kinds) for r in answered)
    code_answered = sum(1 for r in answered for d in r.domains if d == "code")
    errors = Counter(_error_class(r.error or "") for r in failed)
    examples = [{"route": r.route, "t": round(r.t_start - start, 3), "error": r.error} for r in failed[:10]]

    # The service's counters over the whole run (warm-up included) against everything sent.
    counted = counted_by_service(before, after)
    client_attempts = {"/reward": 0, "/v1/score": 0}
    client_items = 0
    for r in tester.records:
        client_attempts[r.route] = client_attempts.get(r.route, 0) + r.attempts
        client_items += len(r.kinds) * r.attempts
    service_routes = {route: sum(counted["requests_by_route"].get(route, {}).values()) for route in client_attempts}
    reconciliation = {
        "client_requests": client_attempts,
        "service_requests": service_routes,
        "client_items": client_items,
        "service_items": counted["items"],
        "matches": service_routes == client_attempts and counted["items"] == client_items,
        "note": "service counters over the whole run (warm-up included); other clients of the service count too",
    }

    samples = [dict(s, t=round(s["t"] - start, 3)) for s in tester.sampler.samples]
    measured_samples = [s for s in samples if 0 <= s["t"] <= wall]
    timeline = _timeline(measured, start, start + wall)
    chaos_events = [dict(e, t=round(e["t"] - start, 3)) for e in tester.chaos_events]

    report: dict[str, Any] = {
        "config": {k: v for k, v in vars(config).items() if k != "api_key"},
        "corpus": {"domain_mix": tester.corpus.domain_mix, "code_mix": tester.corpus.code_mix,
                   "pools": tester.corpus.pool_sizes(), "unique": tester.corpus.unique},
        "timing": {k: round(v, 3) for k, v in timing.items()},
        "requests": {
            "sent": len(measured), "answered": len(answered), "errors": len(failed),
            "lost": len(measured) - len(answered), "attempts": sum(r.attempts for r in measured),
            "requests_per_s": round(len(answered) / wall, 3) if wall else None,
            "bursts": tester.bursts,
            "warmup_sent": sum(1 for r in tester.records if r.phase == "warmup"),
            "warmup_answered": sum(1 for r in tester.records if r.phase == "warmup" and r.ok),
            "by_route": by_route,
        },
        "items": {
            "sent": items_sent, "answered": items_answered,
            "items_per_s": round(items_answered / wall, 3) if wall else None,
            "code_items": code_answered,
            "code_items_per_s": round(code_answered / wall, 3) if wall else None,
        },
        "latency": {"all_requests": latency_stats([r.latency for r in answered]), "by_domain": by_domain},
        "verdicts": {d: dict(c) for d, c in sorted(verdicts.items())},
        "verdicts_by_kind": {k: dict(c) for k, c in sorted(kind_verdicts.items())},
        "unexpected_verdicts": dict(unexpected),
        "errors": {"by_class": dict(errors), "examples": examples},
        "service": {
            "counted": counted,
            "reconciliation": reconciliation,
            "pool": _pool_stats(measured_samples),
            "metrics_scrape_failures": tester.sampler.failures,
        },
        "chaos": _chaos_summary(chaos_events, timeline, len(measured) - len(answered)) if chaos_events else None,
        "timeline": timeline,
        "metrics_samples": samples,
        "records": [
            {"phase": r.phase, "route": r.route, "t_start": round(r.t_start - start, 4),
             "t_end": None if r.t_end is None else round(r.t_end - start, 4), "ok": r.ok, "status": r.status,
             "domains": r.domains, "verdicts": r.verdicts, "error": r.error}
            for r in tester.records
        ],
    }
    if extra:
        report.update(extra)
    return report


# --------------------------------------------------------------------------- output


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}{unit}" if abs(value) < 10 else f"{value:.1f}{unit}"
    return f"{value}{unit}"


def print_summary(report: dict[str, Any], console: Console) -> None:
    req, items, service = report["requests"], report["items"], report["service"]
    pool = service["pool"]
    summary = Table(title="Load test", show_header=False)
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    summary.add_row("measured wall time (sending + drain)", _fmt(report["timing"]["measured_s"], " s"))
    summary.add_row("requests sent / answered", f"{req['sent']} / {req['answered']}")
    summary.add_row("errors / lost (sent - answered)", f"{req['errors']} / {req['lost']}")
    summary.add_row("throughput, requests/s", _fmt(req["requests_per_s"]))
    summary.add_row("throughput, items/s", _fmt(items["items_per_s"]))
    summary.add_row("code items answered, per s", f"{items['code_items']}, {_fmt(items['code_items_per_s'])}")
    overall = report["latency"]["all_requests"]
    summary.add_row("request latency p50 / p95 / p99",
                    f"{_fmt(overall.get('p50_s'))} / {_fmt(overall.get('p95_s'))} / {_fmt(overall.get('p99_s'))} s")
    for key, label in (("queue_depth", "queue depth"), ("items_in_flight", "items in flight"),
                       ("utilisation", "pool utilisation (in flight / slots)"),
                       ("pool_workers", "verifier processes"), ("rq_workers", "rq workers")):
        if key in pool and not (key in ("pool_workers", "rq_workers") and pool[key]["max"] == 0):
            summary.add_row(f"{label}: mean / max", f"{_fmt(pool[key]['mean'])} / {_fmt(pool[key]['max'])}")
    rec = service["reconciliation"]
    summary.add_row("service counted (requests, items)",
                    f"{sum(rec['service_requests'].values())}, {rec['service_items']}")
    summary.add_row("client sent, warm-up included (requests, items)",
                    f"{sum(rec['client_requests'].values())}, {rec['client_items']}")
    summary.add_row("counts match the service's metrics", "yes" if rec["matches"] else "[red]NO")
    console.print(summary)

    table = Table(title="Per domain (latency of the request that carried the item)")
    for column in ("domain", "items", "items/s", "p50 s", "p95 s", "p99 s", "max s", "verdicts"):
        table.add_column(column, justify="left" if column in ("domain", "verdicts") else "right")
    for domain, stats in report["latency"]["by_domain"].items():
        verdicts = ", ".join(f"{v} {n}" for v, n in sorted(stats["verdicts"].items()))
        table.add_row(domain, str(stats["n"]), _fmt(stats["items_per_s"]), _fmt(stats["p50_s"]),
                      _fmt(stats["p95_s"]), _fmt(stats["p99_s"]), _fmt(stats["max_s"]), verdicts)
    console.print(table)
    if report["unexpected_verdicts"]:
        console.print(f"[yellow]unexpected verdicts: {report['unexpected_verdicts']}")
    if report["errors"]["by_class"]:
        console.print(f"[red]errors: {report['errors']['by_class']}")
        for example in report["errors"]["examples"][:5]:
            console.print(f"  {example}")
    chaos = report.get("chaos")
    if chaos:
        for event in chaos["events"]:
            console.print(f"chaos at {event['t']:.1f} s: {event['action']}: {event['target']}")
        console.print(
            f"items/s before kill {_fmt(chaos['items_per_s_before_kill'])}, lowest after "
            f"{_fmt(chaos['items_per_s_min_after_kill'])}, after recovery {_fmt(chaos['items_per_s_after_recovery'])}; "
            f"lost requests {chaos['lost_requests']}; jobs requeued by the service {service['counted']['jobs_requeued']}"
        )


def write_json(report: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(report, indent=1, default=str))


def write_plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_latency, ax_rate, ax_pool) = plt.subplots(3, 1, figsize=(11, 10), sharex=True)
    records = [r for r in report["records"] if r["ok"] and r["t_end"] is not None]
    for route, colour in (("/reward", "tab:blue"), ("/v1/score", "tab:orange")):
        mine = [r for r in records if r["route"] == route]
        if mine:
            ax_latency.scatter([r["t_end"] for r in mine], [r["t_end"] - r["t_start"] for r in mine], s=3,
                               alpha=0.35, color=colour, label=f"{route} (each request)")
    timeline = report["timeline"]
    centres = [b["t"] + BIN_S / 2 for b in timeline]
    p99 = [b["p99_s"] for b in timeline]
    ax_latency.plot(centres, [v if v is not None else math.nan for v in p99], color="black", lw=1.2,
                    label="p99 per second")
    ax_latency.set_ylabel("latency, s")
    ax_latency.set_yscale("symlog", linthresh=0.1)
    ax_latency.legend(loc="upper left", fontsize=8)

    ax_rate.step(centres, [b["items"] / BIN_S for b in timeline], where="mid", label="items answered/s (client)")
    ax_rate.step(centres, [b["code_items"] / BIN_S for b in timeline], where="mid", label="code items/s (client)")
    ax_rate.step(centres, [b["answered"] / BIN_S for b in timeline], where="mid", label="requests answered/s",
                 alpha=0.6)
    samples = report["metrics_samples"]
    served = [(s["t"], s["items_per_s"]) for s in samples if s.get("items_per_s") is not None]
    if served:
        ax_rate.plot(*zip(*served, strict=True), color="grey", lw=0.8, alpha=0.8, label="items/s (service metrics)")
    errors = [(b["t"] + BIN_S / 2, b["errors"]) for b in timeline if b["errors"]]
    if errors:
        ax_rate.scatter(*zip(*errors, strict=True), color="red", marker="x", label="failed requests")
    ax_rate.set_ylabel("per second")
    ax_rate.legend(loc="upper left", fontsize=8)

    if samples:
        t = [s["t"] for s in samples]
        ax_pool.plot(t, [s["queue_depth"] for s in samples], label="queue depth", color="tab:red")
        ax_pool.plot(t, [s["items_in_flight"] for s in samples], label="items in flight", color="tab:purple")
        ax_workers = ax_pool.twinx()
        if any(s["rq_workers"] for s in samples):
            ax_workers.step(t, [s["rq_workers"] for s in samples], where="post", color="tab:green", label="rq workers")
        else:
            ax_workers.step(t, [s["pool_workers"] for s in samples], where="post", color="tab:green",
                            label="verifier processes")
        ax_workers.set_ylabel("workers", color="tab:green")
        ax_workers.set_ylim(bottom=0, top=max(1, max(max(s["rq_workers"], s["pool_workers"]) for s in samples)) + 1)
        ax_workers.legend(loc="upper right", fontsize=8)
    ax_pool.set_ylabel("items")
    ax_pool.set_xlabel("seconds since the measured phase started (warm-up < 0)")
    ax_pool.legend(loc="upper left", fontsize=8)

    for ax in (ax_latency, ax_rate, ax_pool):
        if report["timing"].get("warmup_s"):
            ax.axvspan(-report["timing"]["measured_start"], 0, color="grey", alpha=0.12)
        ax.axvline(report["config"]["duration"], color="grey", ls=":", lw=1)
        for event in (report.get("chaos") or {}).get("events", []):
            ax.axvline(event["t"], color="red" if event["action"] == "kill" else "green", ls="--", lw=1.2)
    chaos_note = ""
    if report.get("chaos"):
        chaos_note = "; red dashed: worker killed, green dashed: restarted"
    req = report["requests"]
    fig.suptitle(
        f"{report['config']['url']}: {req['sent']} requests, {req['answered']} answered, {req['lost']} lost; "
        f"{report['items']['items_per_s']} items/s{chaos_note}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
