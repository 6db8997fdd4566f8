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
from sandbox.forkserver.runcgroups import RunCgroup
from sandbox.settings import RunSettings

MAX_RECORD_BYTES = 96 << 20
"""Records of a run: a compile step's program comes back among them, base64 in JSON."""
CHECK_MIN_S = 0.01
"""The shortest wait between two reads of a run's usage: a run stopped by its CPU limit
overruns it by at most this much per CPU."""
WATCHDOG_S = 0.02
"""How often the memory of a run that no cgroup limits is summed (each process has its
own address-space limit besides, so this bounds what several processes hold together)."""


class Limits:
    """The moments a run could reach one of its limits, and the check made at each.

    The CPU limit counts CPU seconds over all the run's processes (its cgroup's count, else
    /proc). The wall-clock limit counts real elapsed time less the time the run waited for
    a CPU that other runs held, that wait counted once for the run (its cgroup's CPU
    pressure, else the longest wait of one thread), never per thread, and credited up to
    ``wait_allowance_s``: runs sharing the cores never use the limit up, and a run cannot
    hold its slot longer than ``wall_limit_s + wait_allowance_s`` however many processes
    it runs. A run whose memory no cgroup limits is looked at every ``WATCHDOG_S``: its
    processes' memory summed, it is killed past its limit. Between checks no other limit
    can be reached sooner than the next check (a run uses at most ``cpus`` CPU seconds
    per second, and its wall clock runs at most as fast as the real one), so a run that
    ends before ``min(wall limit, CPU limit / cpus)`` is never looked at."""

    def __init__(
        self, settings: RunSettings, started: float, pid: int, private_proc: bool, cpus: int, waits: bool,
        group: RunCgroup | None = None, proc_fd: int | None = None,
    ) -> None:  # fmt: skip
        self.cpu_limit = settings.time_limit_s
        self.wall_limit = settings.wall_limit_s
        self.allowance = settings.wait_allowance_s
        self.memory_limit = settings.memory_mb
        self.started = started
        self.pid = pid
        self.private_proc = private_proc
        self.cpus = max(1, cpus)
        self.waits = waits
        self.group = group
        self.proc_fd = proc_fd
        self.watchdog = group is None or group.memory is None
        self.cpu_s = 0.0
        self.waited_s = 0.0
        self.next = started + min(self.wall_limit, self.cpu_limit / self.cpus, WATCHDOG_S if self.watchdog else 1e9)

    def usage(self) -> tuple[float, float, float]:
        """CPU seconds, seconds waited for a CPU, memory (MB) of the run's processes.

        The wait is the larger of two readings, each counted once for the run: the cgroup's
        CPU pressure (time some process of the run waited; averaged over the CPUs, so it
        can read low when the run's processes are spread over them) and the longest wait of
        one thread."""
        cpu, waited, memory = usage.run_usage(self.pid, self.private_proc, self.proc_fd)
        if not self.waits:
            waited = 0.0
        group = self.group
        if group is not None and group.measures_cpu:
            cpu = group.cpu_s()  # ended processes included, whoever reaped them
        if group is not None and group.measures_waits:
            waited = max(waited, group.waited_s())
        return cpu, waited, memory

    def check(self, now: float) -> str | None:
        """At ``self.next``: the limit reached ("cpu_limit", "timeout" or "memory_limit"),
        or None and the next moment set."""
        self.cpu_s, waited, memory = self.usage()
        self.waited_s = min(waited, self.allowance)
        wall = now - self.started - self.waited_s
        if self.cpu_s >= self.cpu_limit:
            return "cpu_limit"
        if wall >= self.wall_limit:
            return "timeout"
        if self.watchdog and memory > self.memory_limit:
            return "memory_limit"
        wait = min(self.wall_limit - wall, (self.cpu_limit - self.cpu_s) / self.cpus)
        if self.watchdog:
            wait = min(wait, WATCHDOG_S)
        self.next = now + max(CHECK_MIN_S, wait)
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
    group = limits.group
    # Answering before the teardown needs the run's CPU from its cgroup: the trailer only
    # says the exit code (the program could write it), never what the run used.
    early = group is not None and group.measures_cpu
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
            if early and not open_fds and not exited and killed_for is None:
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
        reply = {"exit_code": answered[1], "signal": None}
    if group is not None:
        if group.measures_cpu:
            reply["cpu_s"] = group.cpu_s()
        if "peak" in group.files:
            reply["max_rss_mb"] = group.peak_mb()
        if group.memory_killed():
            killed_for = killed_for or "memory_limit"
    reply.setdefault("max_rss_mb", 0.0)
    reply["waited_s"] = limits.waited_s
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
