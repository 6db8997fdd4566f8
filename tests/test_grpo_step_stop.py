"""`make grpo-step` stopped by SIGTERM (or Ctrl-C) stops what it started: the service it
runs in a process group of its own, with its verifier processes and its sandbox's fork
servers (in groups of their own)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def children(pid: int) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone already
        return b""


def descendants(pid: int) -> set[int]:
    found = set()
    for child in children(pid):
        found |= {child, *descendants(child)}
    return found


def alive(pids: set[int]) -> set[int]:
    """The ones still running (a zombie has ended)."""
    running = set()
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                running.add(pid)
        except OSError:
            continue
    return running


def test_sigterm_stops_the_service_it_started(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
    log = tmp_path / "bench.log"
    with open(log, "w") as out:
        bench = subprocess.Popen(
            [sys.executable, "-m", "bench.grpo_step", "--prompts", "64", "--samples", "8", "--out", str(tmp_path)],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    service: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while not service and bench.poll() is None and time.monotonic() < deadline:
            service = [p for p in children(bench.pid) if b"reward_server.cli" in command_line(p)]
            time.sleep(0.2)
        assert service, log.read_text()
        # the service's verifier processes and sandbox fork servers are up
        started: set[int] = set()
        while not any(b"-I" in command_line(p).split(b"\0") for p in started) and time.monotonic() < deadline:
            started = descendants(service[0])
            time.sleep(0.2)
        started = descendants(bench.pid)
        assert bench.poll() is None and len(started) > 4, log.read_text()
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=60) == 130
        assert "stopped: stopping the service" in log.read_text()
        assert alive(started) == set()
    finally:
        if bench.poll() is None:
            bench.send_signal(signal.SIGTERM)
            bench.wait(timeout=60)
        for pid in alive(set(service)):  # left by a failure above: the service's group goes too
            os.killpg(pid, signal.SIGKILL)
