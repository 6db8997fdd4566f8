"""Framing between the pool (trusted) and its fork-server workers (trusted).

A message is a JSON header plus raw byte blobs: ``u32 header length, header,
blobs...``, the header listing the blob lengths under ``"blob_sizes"``. No pickle:
even a compromised worker can only hand the service plain data.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

FRAME_LENGTH = struct.Struct(">I")
"""The length prefix of every frame: pool <-> fork server here, driver <-> candidate in the harness."""
RECORDS_FD = 3
"""The descriptor a run writes its JSON records to (the harness) and the server reads."""
MAX_HEADER = 64 << 20


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _read_exact(fd: int, n: int) -> bytearray:
    """Read exactly ``n`` bytes straight into one buffer (no intermediate copies, so a
    caller can zero a secret after use)."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = os.readv(fd, [view[got:]])
        if k == 0:
            raise EOFError("peer closed the channel")
        got += k
    view.release()
    return buf


def send_message(fd: int, header: dict[str, Any], blobs: list[bytes] | None = None) -> None:
    blobs = blobs or []
    header = dict(header, blob_sizes=[len(b) for b in blobs])
    raw = json.dumps(header, separators=(",", ":")).encode()
    _writev_all(fd, [FRAME_LENGTH.pack(len(raw)) + raw, *blobs])


def _writev_all(fd: int, parts: list[Any]) -> None:
    """Write every part without joining them (no copy of the blobs is left behind, so a
    caller can zero its buffers after sending)."""
    views = [memoryview(p).cast("B") for p in parts if len(p)]
    while views:
        n = os.writev(fd, views[:1024])
        while n:
            if n >= len(views[0]):
                n -= len(views.pop(0))
            else:
                views[0] = views[0][n:]
                n = 0


def recv_message(fd: int) -> tuple[dict[str, Any], list[bytearray]]:
    (size,) = FRAME_LENGTH.unpack(_read_exact(fd, FRAME_LENGTH.size))
    if size > MAX_HEADER:
        raise ValueError(f"message header of {size} bytes is too large")
    header = json.loads(_read_exact(fd, size))
    blobs = [_read_exact(fd, n) for n in header.pop("blob_sizes", [])]
    return header, blobs
