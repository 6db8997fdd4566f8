"""``reward loadtest``: drive a deployment with OpenRLHF-like and batch traffic, then report.

    reward loadtest --url http://127.0.0.1:8000 --duration 60 --concurrency 256 --out loadtest-report

See docs/loadtest.md for the traffic model, the report and the chaos options.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from rich.console import Console
from rich.live import Live
from rich.text import Text

from loadtest.chaos import ChaosError, ChaosTarget, ComposeWorker, LocalProcessGroup
from loadtest.probe import fetch_metrics
from loadtest.report import build_report, print_summary, write_json, write_plot
from loadtest.runner import LoadConfig, LoadTester
from loadtest.traffic import CODE_KINDS, DEFAULT_CODE_MIX, DEFAULT_DOMAIN_MIX, DOMAINS, Corpus, parse_mix

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
HELP = "drive a deployment with OpenRLHF-like and batch traffic; report"

def is_local_url(url: str) -> bool:
    """True for loopback hosts (127.0.0.0/8, ::1, localhost) and 0.0.0.0; no DNS lookup."""
    host = urlsplit(url).hostname
    if not host:
        return False
    if host.lower() in LOCAL_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _mix_text(mix: dict[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in mix.items())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the deployment (default %(default)s)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of measured traffic (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=256, help="HTTP requests in flight at most (default %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("loadtest-report"), help="report folder (default %(default)s)")
    parser.add_argument("--rate", type=float, default=0.0, help="requests started per second at most (0: no limit)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of traffic before measuring (default %(default)s)")
    parser.add_argument("--max-requests", type=int, default=0, help="stop after this many measured requests (0: no limit)")
    parser.add_argument("--traffic", choices=("both", "openrlhf", "batch"), default="both",
                        help="OpenRLHF bursts of POST /reward, POST /v1/score batch clients, or both (default)")
    parser.add_argument("--batch", type=int, default=32, help="prompts per OpenRLHF rollout batch (default %(default)s)")
    parser.add_argument("--samples", type=int, default=8, help="samples per prompt: a burst is batch x samples requests")
    parser.add_argument("--score-batch", type=int, default=16, help="items per POST /v1/score (default %(default)s)")
    parser.add_argument("--score-clients", type=int, default=1, help="concurrent /v1/score clients (default %(default)s)")
    parser.add_argument("--mix", default=None,
                        help=f"domain weights, e.g. code=0.7,math=0.3 (default {_mix_text(DEFAULT_DOMAIN_MIX)})")
    parser.add_argument("--code-mix", default=None,
                        help=f"code kinds, of {', '.join(CODE_KINDS)} (default {_mix_text(DEFAULT_CODE_MIX)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-unique", dest="unique", action="store_false",
                        help="let repeated samples hit the service's cache (default: every sample is unique)")
    parser.add_argument("--request-timeout", type=float, default=180.0, help="client timeout per request (OpenRLHF: 180)")
    parser.add_argument("--drain-timeout", type=float, default=200.0,
                        help="after the duration, wait this long for answers; the rest is cancelled and lost")
    parser.add_argument("--retries", type=int, default=0, help="tries after a failed request, 1 s apart (OpenRLHF: 4)")
    parser.add_argument("--sample-interval", type=float, default=0.5, help="seconds between /metrics scrapes")
    parser.add_argument("--api-key", default=os.environ.get("REWARD_API_KEY"), help="bearer key (REWARD_API_KEY)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a URL that is not on this machine")
    chaos = parser.add_argument_group("chaos")
    chaos.add_argument("--chaos-kill-worker-after", type=float, default=None, metavar="S",
                       help="S seconds into the measured phase, kill a worker (SIGKILL), then restart it")
    chaos.add_argument("--chaos-restart-after", type=float, default=5.0, metavar="S",
                       help="seconds between the kill and the restart (default %(default)s)")
    chaos.add_argument("--compose-project", default=None, help="docker compose project whose worker container dies")
    chaos.add_argument("--compose-service", default="worker", help="compose service of the victim (default worker)")
    chaos.add_argument("--chaos-kill-pid-group", type=int, default=None, metavar="PGID",
                       help="instead of a container: a local `reward worker` process group to kill")
    chaos.add_argument("--chaos-restart-cmd", default=None,
                       help="with --chaos-kill-pid-group: command that starts the replacement worker")


def _chaos_target(args: argparse.Namespace, out: Path) -> ChaosTarget | None:
    if args.chaos_kill_worker_after is None:
        if args.compose_project or args.chaos_kill_pid_group:
            raise ChaosError("--compose-project / --chaos-kill-pid-group need --chaos-kill-worker-after S")
        return None
    if args.compose_project and args.chaos_kill_pid_group:
        raise ChaosError("give --compose-project or --chaos-kill-pid-group, not both")
    if args.compose_project:
        return ComposeWorker(args.compose_project, args.compose_service)
    if args.chaos_kill_pid_group:
        return LocalProcessGroup(args.chaos_kill_pid_group, args.chaos_restart_cmd, out / "chaos-restarted-worker.log")
    raise ChaosError("--chaos-kill-worker-after needs --compose-project NAME or --chaos-kill-pid-group PGID")


def _progress_line(tester: LoadTester) -> Text:
    remaining = max(0.0, tester.phase_deadline - time.monotonic())
    last = tester.sampler.last or {}
    workers = last.get("rq_workers") or last.get("pool_workers")
    queue = last.get("queue_depth")
    return Text.from_markup(
        f"[bold]{tester.phase}[/] {remaining:4.0f}s  sent [cyan]{tester.sent()}[/]  answered [green]{tester.answered()}[/]"
        f"  errors [red]{tester.failed()}[/]  rps {tester.answers_per_s():.1f}  in flight {tester.in_flight}"
        f"  queue {'-' if queue is None else int(queue)}  workers {'-' if workers is None else int(workers)}"
    )


def run(args: argparse.Namespace) -> int:
    console = Console()
    if not is_local_url(args.url) and not args.allow_remote:
        console.print(f"[red]refusing {args.url}: not a local address (pass --allow-remote to load a remote deployment)")
        return 2
    try:
        domain_mix = parse_mix(args.mix, DOMAINS, DEFAULT_DOMAIN_MIX)
        code_mix = parse_mix(args.code_mix, CODE_KINDS, DEFAULT_CODE_MIX)
    except ValueError as exc:
        console.print(f"[red]{exc}")
        return 2
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    try:
        chaos = _chaos_target(args, out)
        if chaos is not None:
            console.print(f"chaos target: {chaos.check()}")
    except ChaosError as exc:
        console.print(f"[red]chaos: {exc}")
        return 2
    try:
        health = httpx.get(f"{args.url.rstrip('/')}/healthz", timeout=10)
        health.raise_for_status()
        before = fetch_metrics(args.url)
    except httpx.HTTPError as exc:
        console.print(f"[red]{args.url} does not answer /healthz and /metrics: {exc}")
        return 2

    config = LoadConfig(
        url=args.url, duration=args.duration, concurrency=args.concurrency, rate=args.rate, warmup=args.warmup,
        max_requests=args.max_requests, traffic=args.traffic, batch=args.batch, samples=args.samples,
        score_batch=args.score_batch, score_clients=args.score_clients, request_timeout=args.request_timeout,
        drain_timeout=args.drain_timeout, retries=args.retries, sample_interval=args.sample_interval,
        api_key=args.api_key, chaos_kill_after=args.chaos_kill_worker_after,
        chaos_restart_after=args.chaos_restart_after,
    )
    with console.status("building the corpus (generators, HumanEval)"):
        corpus = Corpus(domain_mix, code_mix, seed=args.seed, run_id=f"{os.getpid()}-{int(time.time())}",
                        unique=args.unique)

    with Live(Text("starting"), console=console, refresh_per_second=4, transient=False) as live:
        tester = LoadTester(config, corpus, chaos, on_tick=lambda t: live.update(_progress_line(t)))
        timing = asyncio.run(tester.run())
    after = fetch_metrics(args.url)
    extra = {}
    if isinstance(chaos, LocalProcessGroup) and chaos.replacement is not None:
        extra["chaos_replacement_pid"] = chaos.replacement.pid
    report = build_report(tester, timing, before, after, extra)
    print_summary(report, console)
    write_json(report, out / "report.json")
    write_plot(report, out / "report.png")
    console.print(f"report: {out / 'report.json'}, plot: {out / 'report.png'}")
    requests = report["requests"]
    return 0 if requests["lost"] == 0 and requests["errors"] == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reward loadtest", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
