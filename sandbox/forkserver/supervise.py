"""Supervising a run: the server reads the child's stdout, stderr and records, enforces
the wall-clock limit and the output caps, and knows the outcome.

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
from sandbox.forkserver.prepare import PreparedChild
from sandbox.settings import RunSettings

MAX_RECORD_BYTES = 64 << 20


def supervise(
    child: PreparedChild,
    started: float,
    settings: RunSettings,
    scratch: bytearray,
    reap: Callable[[PreparedChild], tuple[int, float, float]],
) -> tuple[dict[str, Any], list[bytearray]]:
    """Until the run's outcome is known: the reply for the pool and the run's stdout,
    stderr and records. ``scratch`` is where the pipes are read (zeroed afterwards);
    ``reap`` waits for the child's exit (wait status, CPU seconds, peak RSS in MB)."""
    pidfd = child.pidfd
    out_r, err_r, rec_r = child.out_r, child.err_r, child.rec_r
    cap = settings.max_output_bytes
    deadline = started + settings.time_limit_s
    buffers = {out_r: Buffer(), err_r: Buffer(), rec_r: Buffer()}
    trailer_size = pyharness.TRAILER.size
    caps = {out_r: cap + trailer_size, err_r: cap, rec_r: MAX_RECORD_BYTES}
    open_fds = {out_r, err_r, rec_r}
    poller = select.poll()
    for fd in open_fds:
        poller.register(fd, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    killed_for: str | None = None
    exited = False
    answered: tuple[Any, ...] | None = None
    view = memoryview(scratch)
    used = 0
    try:
        while open_fds or not exited:
            now = time.monotonic()
            if killed_for is None and now >= deadline:
                killed_for = "timeout"
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            wait_ms = max(0, int((deadline - now) * 1000) + 1) if killed_for is None else 1000
            for fd, _events in poller.poll(wait_ms):
                if fd == pidfd:
                    exited = True
                    poller.unregister(pidfd)
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
    wall = time.monotonic() - started
    if answered is None:
        buffers[out_r].drop(child.nonce, trailer_size)  # a trailer not at the end
        reply = {
            "exit_code": os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "cpu_s": cpu_s,
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
