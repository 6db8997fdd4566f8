"""Container health checks for the reward image: ``python healthcheck.py api|worker``.

api     GET /readyz on this container answers 200 (backend reachable, sandbox started).
worker  Redis answers and an RQ worker of this container (same hostname) is registered
        on the reward queue, so the worker process is up and taking jobs.
Exit status 0 is healthy, 1 is not; the reason goes to stdout (docker inspect shows it).
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.request


def check_api() -> str:
    port = os.environ.get("REWARD_PORT", "8000")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as reply:
        return f"readyz {reply.status}"


def check_worker() -> str:
    from redis import Redis
    from rq import Queue, Worker

    connection = Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), socket_timeout=5)
    connection.ping()
    queue = Queue("reward", connection=connection)
    hostname = socket.gethostname()
    mine = [w.name for w in Worker.all(connection=connection, queue=queue) if w.hostname == hostname]
    if not mine:
        raise RuntimeError(f"no RQ worker of host {hostname} registered on queue 'reward'")
    return f"worker {mine[0]} registered"


def main() -> int:
    role = sys.argv[1] if len(sys.argv) > 1 else "api"
    checks = {"api": check_api, "worker": check_worker}
    if role not in checks:
        print(f"unknown role {role!r}; expected one of {sorted(checks)}")
        return 2
    try:
        print(checks[role]())
    except Exception as exc:  # any failure is "unhealthy", with the reason
        print(f"unhealthy: {type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
