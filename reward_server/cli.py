"""The ``reward`` command line: ``reward serve``, ``reward gen``, ..."""

from __future__ import annotations

import argparse
import os
import sys
from importlib.metadata import entry_points

COMMANDS_GROUP = "reward.commands"


def _start_sandbox_first(args: argparse.Namespace) -> None:
    """Start the sandbox's fork servers before any secret or setting is read and before any
    thread exists, so what they fork carries nothing of the service. Sized and made strict
    by REWARD_SANDBOX_WORKERS and REWARD_SANDBOX_STRICT."""
    if args.sandbox:
        import sandbox

        sandbox.get_default_pool()


def _warn_unknown_variables() -> None:
    from reward_server.variables import warn_unknown_variables

    warn_unknown_variables()


def _serve(args: argparse.Namespace) -> int:
    _start_sandbox_first(args)
    _warn_unknown_variables()
    import uvicorn

    from reward_server.app import create_app
    from reward_server.settings import Settings

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("pool_workers", args.workers)) if v}
    settings = Settings(**overrides)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        timeout_keep_alive=30,
        backlog=4096,
        access_log=args.access_log,
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    _start_sandbox_first(args)
    _warn_unknown_variables()
    from reward_server.rq_worker import run_worker
    from reward_server.settings import Settings

    overrides = {k: v for k, v in (("redis_url", args.redis_url), ("pool_workers", args.workers)) if v}
    return run_worker(Settings(**overrides), burst=args.burst)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reward", description="Verifiable reward service for RL training of LLMs.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service (settings from REWARD_* environment variables)")
    serve.add_argument("--host", default=None, help="bind address (REWARD_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (REWARD_PORT, default 8000)")
    serve.add_argument("--workers", type=int, default=None, help="verifier processes (REWARD_POOL_WORKERS, default: cores)")
    serve.add_argument("--log-level", default=os.environ.get("REWARD_LOG_LEVEL", "info"))
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument(
        "--no-sandbox", dest="sandbox", action="store_false", help="do not start the code sandbox pool at startup"
    )
    serve.set_defaults(func=_serve)

    worker = sub.add_parser("worker", help="score micro-batches queued on Redis by an API in rq mode")
    worker.add_argument("--redis-url", default=None, help="Redis to take jobs from (REDIS_URL)")
    worker.add_argument("--workers", type=int, default=None, help="verifier processes (REWARD_POOL_WORKERS)")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.add_argument("--no-sandbox", dest="sandbox", action="store_false", help="do not start the sandbox pool")
    worker.set_defaults(func=_worker)

    from reward_server import audit_report

    audit = sub.add_parser("audit", help=audit_report.HELP)
    audit_report.add_arguments(audit)
    audit.set_defaults(func=audit_report.run)

    # The repository's other packages (the generators, the load tester, the evaluation) add their commands
    # through this entry-point group, so the service imports none of them.
    for command in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            module = command.load()
        except ImportError:  # installed without that package
            continue
        parser_ = sub.add_parser(command.name, help=module.HELP)
        module.add_arguments(parser_)
        parser_.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
