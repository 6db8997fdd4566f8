"""The pool's handle on one fork server: starting it, a request and its reply, a
cancellation, stopping it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from typing import Any

from sandbox.constants import SANDBOX_PATH
from sandbox.wire import recv_message, send_message

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_BOOTSTRAP = (
    # The package's __init__ (the pool, subprocess, threading, ...) is not loaded: a bare
    # package module stands in, so the fork server, which every run copies, holds only
    # what runs need.
    "import sys, types; root = sys.argv.pop(1); sys.path.insert(0, root); "
    "package = types.ModuleType('sandbox'); package.__path__ = [root + '/sandbox']; "
    "sys.modules['sandbox'] = package; "
    "from sandbox.forkserver.main import main; main()"
)


class ForkServerHandle:
    """A fork server of one slot. :meth:`start` launches it; :meth:`wait_ready` takes its
    report (layers, helper pids), so that a pool can start all its slots at once."""

    def __init__(
        self, slot: int, uid: int, enabled_layers: dict[str, bool] | None, python: str | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        self.slot = slot
        self.uid = uid
        self._enabled = enabled_layers
        self._python = python or sys.executable
        """The interpreter the server runs on: the candidate runtime's (sandbox/runtime.py)."""
        self._options = options or {}
        self.cgroups: dict[str, Any] | None = None
        self.layers: dict[str, bool] = {}
        self.layer_errors: dict[str, str] = {}
        self.zygote_pid: int | None = None
        self.sweeper_pid: int | None = None
        self.native_setup = False
        self.cpu_waits_measured = False
        self._send_lock = threading.Lock()
        self._run_id: int | None = None
        """The request in flight (a cancellation is sent only for it)."""

    def start(self) -> None:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket = parent_end
        self.fd = parent_end.fileno()
        options = {
            **self._options, "layers": self._enabled, "checkout": _REPO_ROOT,
            "native_setup": os.environ.get("REWARD_SANDBOX_NATIVE", "1") != "0",
        }  # fmt: skip
        # -S: no site module, so nothing of the service's virtualenv is on the module path;
        # the server sets the run's module path itself once it is in the minimal root.
        args = [self._python, "-I", "-S", "-c", _BOOTSTRAP, _REPO_ROOT, str(child_end.fileno()), str(self.uid), json.dumps(options)]
        try:
            self.process = subprocess.Popen(
                args,
                pass_fds=[child_end.fileno()],
                env={"PATH": SANDBOX_PATH, "LANG": "C.UTF-8"},  # none of the service's environment
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
                cwd="/",
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()

    def wait_ready(self) -> str | None:
        """Take the server's start-up report; the error if it failed to start."""
        try:
            header, _ = recv_message(self.fd)
        except (EOFError, OSError, ValueError) as exc:
            return f"no report ({exc})"
        if header.get("op") != "ready":
            return str(header.get("error"))
        self.layers = header["layers"]
        self.layer_errors = header.get("layer_errors", {})
        self.zygote_pid = header.get("zygote_pid")
        self.sweeper_pid = header.get("sweeper_pid")
        self.native_setup = header.get("native_setup", False)
        self.cpu_waits_measured = header.get("cpu_waits_measured", False)
        self.cgroups = header.get("cgroups")
        self.compile_root = header.get("compile_root", False)
        return None

    def request(
        self, run_id: int, header: dict[str, Any], blobs: list[bytes], cancel: threading.Event | None
    ) -> tuple[dict[str, Any], list[bytearray]] | None:
        """Send a run and wait for its reply; None if ``cancel`` was set before it was sent."""
        with self._send_lock:
            if cancel is not None and cancel.is_set():
                return None
            self._run_id = run_id
            header["id"] = run_id
            send_message(self.fd, header, blobs)
        try:
            return recv_message(self.fd)
        finally:
            with self._send_lock:
                self._run_id = None

    def cancel(self, run_id: int) -> None:
        """Ask the server to kill the run ``run_id`` if it is still in flight (it answers
        as usual, the run marked cancelled)."""
        with self._send_lock:
            if self._run_id == run_id:
                try:
                    send_message(self.fd, {"op": "cancel", "id": run_id})
                except OSError:
                    pass  # the server is gone; the run's reader finds out
                self._run_id = None  # one message is enough

    def stop(self) -> None:
        if not hasattr(self, "process"):  # never started
            if hasattr(self, "_socket"):
                self._socket.close()
            return
        with self._send_lock:
            try:
                send_message(self.fd, {"op": "stop"})
            except OSError:
                pass
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._socket.close()
