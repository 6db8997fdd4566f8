"""Code rollouts under OpenRLHF-shaped load: the load tester against an embedded service.

``reward loadtest`` (default code-heavy mix: HumanEval, stdin/stdout and call-based
programs with several tests, slow, hostile and wrong programs, some math and puzzles) runs
against a service this benchmark starts. Reported as ratios against what was sent and
against OpenRLHF's 180 s client deadline:

* answered / sent (target 1: nothing lost),
* items the service counted / items sent (target 1: the client's figures are the service's),
* p99 request latency / 180 s (target < 1: every sample is rewarded before OpenRLHF gives up),
plus the sustained code items per second, and the load tester's plot.

Run: ``.venv/bin/python -m bench bench_loadtest`` (``--quick``: 10 s instead of 30 s).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console

from loadtest.cli import main as loadtest_main
from reward_client.local import start_service

console = Console()
OPENRLHF_TIMEOUT_S = 180.0
OUT = Path(__file__).resolve().parent / "results" / "loadtest"


def main(quick: bool = False) -> dict[str, Any]:
    duration = 10 if quick else 30
    service = start_service(Path(tempfile.mkdtemp(prefix="bench-loadtest-")))
    try:
        code = loadtest_main([
            "--url", service.url, "--duration", str(duration), "--warmup", "3", "--concurrency", "256",
            "--batch", "16", "--samples", "8", "--out", str(OUT),
        ])
    finally:
        service.stop()
    report = json.loads((OUT / "report.json").read_text())
    requests, items = report["requests"], report["items"]
    reconciliation = report["service"]["reconciliation"]
    p99 = report["latency"]["all_requests"].get("p99_s")
    return {
        "exit_code": code,
        "cores": os.cpu_count(),
        "duration_s": duration,
        "requests_sent": requests["sent"],
        "requests_answered": requests["answered"],
        "lost": requests["lost"],
        "items_per_s": items["items_per_s"],
        "code_items_per_s": items["code_items_per_s"],
        "p50_s": report["latency"]["all_requests"].get("p50_s"),
        "p99_s": p99,
        "ratios": [
            {"name": "answered / sent", "value": requests["answered"] / max(1, requests["sent"]),
             "baseline": f"{requests['sent']} requests sent ({items['code_items_per_s']} code items/s answered)",
             "target": "== 1"},
            {"name": "items counted by the service / items sent",
             "value": reconciliation["service_items"] / max(1, reconciliation["client_items"]),
             "baseline": f"{reconciliation['client_items']} items sent, warm-up included", "target": "== 1"},
            {"name": "p99 latency / OpenRLHF timeout", "value": (p99 or 0) / OPENRLHF_TIMEOUT_S,
             "baseline": f"180 s client timeout (p99 {p99} s)", "target": "< 1"},
        ],
        "plots": [str(OUT / "report.png")],
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
