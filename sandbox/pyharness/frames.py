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


def read_frame(fd: int, deadline: float | None) -> bytes | None:
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


def _wait_readable(fd: int, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise CallTimeout("call timed out")
    ready, _, _ = select.select([fd], [], [], left)
    if not ready:
        raise CallTimeout("call timed out")


def read_n(fd: int, n: int, deadline: float | None) -> bytes | None:
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

