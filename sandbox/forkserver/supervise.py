"""Supervising a run: the server reads the child's stdout, stderr and records, enforces
the CPU and wall-clock limits and the output caps, takes a cancellation from the pool,
and knows the outcome.

The Python harness ends stdout with a trailer (the run's nonce, exit code, CPU seconds,
peak RSS) and closes its pipes. When every pipe of the run is at end of file (no process
of the run can write any more) and the trailer ends stdout, the outcome is known without
waiting for the teardown of the process and its namespace. A signal death, a limit, a
timeout or output still held by a descendant take the ordinary path: the exit status
from the zygote's ``wait4``.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any

from sandbox import pyharness
from sandbox.forkserver import usage
from sandbox.forkserver.prepare import PreparedChild
from sandbox.settings import RunSettings

MAX_RECORD_BYTES = 64 << 20
CHECK_MIN_S = 0.01
"""The shortest wait between two reads of a run's usage: a run stopped by its CPU limit
overruns it by at most this much per CPU."""


class Limits:
    """The moments a run could reach its CPU limit or its wall-clock limit, and the check
    made at each.

    The CPU limit counts CPU seconds over all the run's processes. The wall-clock limit
    counts the time the run is neither on a CPU nor waiting for one: time spent waiting
    because other runs hold the CPUs is credited back, so runs sharing the cores never
    use it up, and a program that sleeps or blocks meets it. Between checks neither
    limit can be reached sooner than the next check (a run uses at most ``cpus`` CPU
    seconds per second, and its wall clock runs at most as fast as the real one), so a
    run that ends before ``min(wall limit, CPU limit / cpus)`` is never looked at."""

    def __init__(self, settings: RunSettings, started: float, pid: int, private_proc: bool, cpus: int, waits: bool):
        self.cpu_limit = settings.time_limit_s
        self.wall_limit = settings.wall_limit_s
        self.started = started
        self.pid = pid
        self.private_proc = private_proc
        self.cpus = max(1, cpus)
        self.waits = waits
        self.cpu_s = 0.0
        self.next = started + min(self.wall_limit, self.cpu_limit / self.cpus)

    def check(self, now: float) -> str | None:
        """At ``self.next``: the limit reached ("cpu_limit" or "timeout"), or None and the next moment set."""
        self.cpu_s, waited = usage.run_usage(self.pid, self.private_proc)
        if not self.waits:
            waited = 0.0
        wall = now - self.started - waited
        if self.cpu_s >= self.cpu_limit:
            return "cpu_limit"
        if wall >= self.wall_limit:
            return "timeout"
        self.next = now + max(CHECK_MIN_S, min(self.wall_limit - wall, (self.cpu_limit - self.cpu_s) / self.cpus))
        return None


def supervise(
    child: PreparedChild,
    settings: RunSettings,
    limits: Limits,
    scratch: bytearray,
    reap: Callable[[PreparedChild], tuple[int, float, float]],
    control: tuple[int, Callable[[], tuple[bool, bool]]] | None = None,
) -> tuple[dict[str, Any], list[bytearray]]:
    """Until the run's outcome is known: the reply for the pool and the run's stdout,
    stderr and records. ``scratch`` is where the pipes are read (zeroed afterwards);
    ``reap`` waits for the child's exit (wait status, CPU seconds, peak RSS in MB).
    ``control`` is the pool's channel and what to do when it is readable during the
    run: it says whether to cancel the run and whether to go on listening."""
    pidfd = child.pidfd
    out_r, err_r, rec_r = child.out_r, child.err_r, child.rec_r
    cap = settings.max_output_bytes
    buffers = {out_r: Buffer(), err_r: Buffer(), rec_r: Buffer()}
    trailer_size = pyharness.TRAILER.size
    caps = {out_r: cap + trailer_size, err_r: cap, rec_r: MAX_RECORD_BYTES}
    open_fds = {out_r, err_r, rec_r}
    poller = select.poll()
    for fd in open_fds:
        poller.register(fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    control_fd = -1
    if control is not None:
        control_fd, on_control = control
        poller.register(control_fd, select.POLLIN)
    killed_for: str | None = None
    exited = False
    answered: tuple[Any, ...] | None = None
    view = memoryview(scratch)
    used = 0
    try:
        while open_fds or not exited:
            if killed_for is None and not exited:
                now = time.monotonic()
                if now >= limits.next:
                    killed_for = limits.check(now)
                    if killed_for is not None and select.select([pidfd], [], [], 0)[0]:
                        # Exited meanwhile: its pid may have been reaped and reused
                        # before the usage was read, so the reading does not count.
                        killed_for = None
                    if killed_for is not None:
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                wait_ms = max(0, int((limits.next - now) * 1000) + 1) if killed_for is None else 1000
            else:
                wait_ms = 1000
            for fd, _events in poller.poll(wait_ms):
                if fd == pidfd:
                    exited = True
                    poller.unregister(pidfd)
                    continue
                if fd == control_fd:
                    cancel, go_on = on_control()
                    if not go_on:
                        poller.unregister(control_fd)
                        control_fd = -1
                    if cancel and killed_for is None:
                        killed_for = "cancelled"
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                    continue
                n = os.readv(fd, [view])
                used = max(used, n)
                if not n:
                    open_fds.discard(fd)
                    poller.unregister(fd)
                    continue
                room = caps[fd] - buffers[fd].length
                if room > 0:
                    buffers[fd].append(view[: min(n, room)])
                if n > room and killed_for is None:
                    killed_for = "output_limit"
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            if exited and open_fds and killed_for is not None:
                break  # all writers are dead with the namespace; nothing more will come
            if not open_fds and not exited and killed_for is None:
                # Every pipe is at end of file: if the harness's trailer ends stdout,
                # the outcome is known now and the teardown need not be waited for.
                answered = buffers[out_r].take_trailer(child.nonce, trailer_size)
                if answered is not None:
                    break
    finally:
        if answered is None:
            status, cpu_s, max_rss_mb = reap(child)
        view.release()
        scratch[:used] = bytes(used)  # nothing of the run's output stays behind
    wall = time.monotonic() - limits.started
    if answered is None:
        buffers[out_r].drop(child.nonce, trailer_size)  # a trailer not at the end
        reply = {
            "exit_code": os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            # wait4 counts the processes PID 1 reaped; the last check saw them all
            "cpu_s": max(cpu_s, limits.cpu_s),
            "max_rss_mb": max_rss_mb,
        }
    else:
        _, exit_code, cpu_s, max_rss_mb = answered
        reply = {"exit_code": exit_code, "signal": None, "cpu_s": cpu_s, "max_rss_mb": max_rss_mb}
    if buffers[out_r].length > cap:
        buffers[out_r].length = cap
        killed_for = killed_for or "output_limit"
    reply["killed_for"] = killed_for
    reply["wall_s"] = wall
    return reply, [buffers[out_r].take(), buffers[err_r].take(), buffers[rec_r].take()]


class Buffer:
    """A growable byte buffer that leaves no copy of its contents behind when it grows
    or is trimmed (the old storage is zeroed), so a run's output can be wiped from the
    server before the next child is forked."""

    def __init__(self) -> None:
        self.data = bytearray(4096)
        self.length = 0

    def append(self, chunk: memoryview) -> None:
        end = self.length + len(chunk)
        if end > len(self.data):
            grown = bytearray(max(end, 2 * len(self.data)))
            grown[: self.length] = memoryview(self.data)[: self.length]
            self.data[:] = bytes(len(self.data))
            self.data = grown
        self.data[self.length : end] = chunk
        self.length = end

    def take_trailer(self, nonce: bytes, size: int) -> tuple[Any, ...] | None:
        """The harness's trailer if it ends the buffer (it is removed), else None."""
        start = self.length - size
        if not nonce or start < 0 or self.data[start : start + len(nonce)] != nonce:
            return None
        fields = pyharness.TRAILER.unpack_from(self.data, start)
        self.data[start : self.length] = bytes(size)
        self.length = start
        return fields

    def drop(self, nonce: bytes, size: int) -> None:
        """Remove the trailer wherever it is (something wrote after it)."""
        at = self.data.find(nonce, 0, self.length) if nonce else -1
        if at < 0 or at + size > self.length:
            return
        view = memoryview(self.data)
        rest = bytearray(view[at + size : self.length])
        view[at : self.length - size] = rest
        view.release()
        rest[:] = bytes(len(rest))
        self.data[self.length - size : self.length] = bytes(size)
        self.length -= size

    def take(self) -> bytearray:
        """The contents, as a bytearray the caller zeroes when done with it."""
        data = self.data
        data[self.length :] = bytes(len(data) - self.length)
        del data[self.length :]
        return data
