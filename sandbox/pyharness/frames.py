"""Framing on the pipes between the driver and the candidate, and the errors of a call.

Each message is one frame: a 4-byte big-endian length and a ``marshal`` payload, written
in one write; the other side waits for the answer, so one read usually brings a frame whole.
"""

from __future__ import annotations

import os
import select
import time

from sandbox.wire import FRAME_LENGTH as _FRAME

MAX_FRAME = 64 << 20


class CandidateError(Exception):
    """The candidate raised an exception that is not a builtin one, or broke the protocol."""


class CandidateDied(Exception):
    """The candidate process exited or was killed in the middle of a call."""


class CallTimeout(Exception):
    """A call to the candidate ran past its time limit (the candidate was killed)."""


def write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(_FRAME.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


class Deadline:
    """A plain wall-clock deadline (the end of a run, the wait for a candidate to close)."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def wait_s(self) -> float:
        """How long to wait before looking again; <= 0 once it has passed."""
        return self.at - time.monotonic()


def process_usage(pid: int) -> tuple[float, float]:
    """CPU seconds of a process (its threads and reaped children) and the seconds it waited
    for a CPU; zeros once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / _TICKS
        with open(f"/proc/{pid}/schedstat", "rb") as fh:
            wait = int(fh.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0
    return cpu, wait


class CallClock:
    """A call's limit in the candidate's own time, as the sandbox limits a whole run: the
    CPU its process used, or the time it spent neither on a CPU nor waiting for one
    (sleeping, blocked). Time it waits for a CPU that other runs hold never counts, so a
    busy machine does not turn a right answer into a timeout."""

    POLL_S = 0.05
    """How often the candidate's usage is read while a call lasts (never for a quick call)."""

    def __init__(self, pid: int, limit_s: float) -> None:
        self.pid, self.limit_s = pid, limit_s
        self.started = time.monotonic()
        self.cpu0, self.wait0 = process_usage(pid)

    def wait_s(self) -> float:
        elapsed = time.monotonic() - self.started
        if elapsed < self.limit_s:  # neither CPU nor idle time can have reached the limit yet
            return min(self.limit_s - elapsed, 1.0)
        cpu, wait = process_usage(self.pid)
        used = cpu - self.cpu0
        idle = elapsed - used - (wait - self.wait0)
        return self.POLL_S if used < self.limit_s and idle < self.limit_s else 0.0


def read_frame(fd: int, deadline: Deadline | CallClock | None) -> bytes | None:
    """One frame, or None on EOF; raises CallTimeout past the deadline. The other side
    writes a frame in one write and waits for the answer, so one read usually brings it
    whole: header and payload come in one system call, not two."""
    if deadline is not None:
        _wait_readable(fd, deadline)
    chunk = os.read(fd, _FIRST_READ)
    if not chunk:
        return None
    if len(chunk) < _FRAME.size:
        rest = read_n(fd, _FRAME.size - len(chunk), deadline)
        if rest is None:
            return None
        chunk += rest
    (size,) = _FRAME.unpack_from(chunk)
    if size > MAX_FRAME:
        raise CandidateError(f"reply of {size} bytes is too large")
    got = len(chunk) - _FRAME.size
    if got > size:
        raise CandidateError("more than one frame at once")
    if got == size:
        return chunk[_FRAME.size :]
    rest = read_n(fd, size - got, deadline)
    return None if rest is None else chunk[_FRAME.size :] + rest


_FIRST_READ = 1 << 16


def _wait_readable(fd: int, deadline: Deadline | CallClock) -> None:
    while True:
        left = deadline.wait_s()
        if left <= 0:
            raise CallTimeout("call timed out")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            return


_TICKS = os.sysconf("SC_CLK_TCK")


def read_n(fd: int, n: int, deadline: Deadline | CallClock | None) -> bytes | None:
    chunks = []
    while n:
        if deadline is not None:
            _wait_readable(fd, deadline)
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)

