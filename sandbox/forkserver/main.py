"""The fork server's entry point, as the pool starts it:
``python -I -S -c BOOTSTRAP REPO_ROOT CHANNEL_FD UID OPTIONS_JSON``, the options holding
the layers to try, the plans of the run's root and cgroups, and the checkout."""

from __future__ import annotations

import json
import sys

from sandbox import native
from sandbox.forkserver import layers
from sandbox.forkserver.server import ForkServer
from sandbox.wire import send_message


def main() -> None:
    channel_fd = int(sys.argv[1])
    uid = int(sys.argv[2])
    options = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    if not options.get("native_setup", True):
        native.lib = None  # REWARD_SANDBOX_NATIVE=0: the Python setup (tests compare both)
    server = ForkServer(channel_fd, uid, options.get("layers"), options)
    layers.record_host_identity(options.get("checkout", ""))
    try:
        server.start()
    except Exception as exc:
        send_message(channel_fd, {"op": "failed", "error": f"{type(exc).__name__}: {exc}"})
        raise SystemExit(1) from None
    server.serve()
