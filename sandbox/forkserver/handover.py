"""The hand-over: how a request reaches a prepared child, in one message on its control
socket.

The first bytes are a head (flags, size of the inline payload). A small request (up to
INLINE_PAYLOAD_BYTES of header, source and files) follows inline; a bigger one comes as a
memfd. stdin (when not empty) and the driver travel in memfds of their own: the driver
(e.g. assert code with the expected values) is read only after the candidate is forked.
The server zeroes its copies of the request once sent.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from typing import Any, Protocol

from sandbox.forkserver.descriptors import memfd, received_fds, rights
from sandbox.settings import RunSettings
from sandbox.wire import FRAME_LENGTH as LENGTH


class PreparedChild(Protocol):
    """What a hand-over needs of a prepared child (:class:`.prepare.PreparedChild`)."""

    nonce: bytes
    control: socket.socket


_HEAD = struct.Struct(">BI")
"""The first bytes a prepared child reads: flags, and the size of the inline payload."""
_HAS_PAYLOAD_FD, _HAS_STDIN_FD, _HAS_DRIVER_FD = 1, 2, 4
INLINE_PAYLOAD_BYTES = 64 << 10
"""Requests up to this size travel inline on the control socket, bigger ones in a memfd."""
_RECEIVE_BUFFER = bytearray(_HEAD.size + INLINE_PAYLOAD_BYTES)
"""A prepared child receives its request into this buffer, inherited from the fork server
(where it stays zero): a buffer of its own would be 16 pages zero-filled per child."""


def send(child: PreparedChild, settings: RunSettings, blobs: list[bytearray], driver_blob: int | None) -> None:
    """In the server: the request to the child. ``blobs`` are the source, stdin, the
    files and (at ``driver_blob`` among the files) the driver; they are zeroed afterwards."""
    source, stdin, *file_blobs = blobs
    driver = file_blobs.pop(driver_blob) if driver_blob is not None else None
    child.nonce = os.urandom(16)
    header = {"settings": settings.to_wire(), "nonce": child.nonce.hex()}
    header["blob_sizes"] = [len(source), *(len(b) for b in file_blobs)]
    raw = json.dumps(header, separators=(",", ":")).encode()
    size = LENGTH.size + len(raw) + len(source) + sum(len(b) for b in file_blobs)
    fds = []
    flags = 0
    if size > INLINE_PAYLOAD_BYTES:
        fds.append(memfd("request", LENGTH.pack(len(raw)), raw, source, *file_blobs))
        flags |= _HAS_PAYLOAD_FD
        parts: list[Any] = []
    else:
        parts = [LENGTH.pack(len(raw)), raw, source, *file_blobs]
    if stdin:
        fds.append(memfd("stdin", stdin))
        flags |= _HAS_STDIN_FD
    if driver is not None:
        # The candidate is forked before the driver reads this memfd.
        fds.append(memfd("driver", driver))
        flags |= _HAS_DRIVER_FD
    head = _HEAD.pack(flags, 0 if flags & _HAS_PAYLOAD_FD else size)
    try:
        # One sendmsg: the head, the inline payload and the descriptors together.
        views = [memoryview(p).cast("B") for p in (head, *parts) if len(p)]
        sent = child.control.sendmsg(views, rights(fds))
        for view in views:
            if sent >= len(view):
                sent -= len(view)
                continue
            child.control.sendall(view[sent:])
            sent = 0
    except OSError:
        pass  # the child died in setup; supervising it collects why
    finally:
        for fd in fds:
            os.close(fd)
        child.control.close()
        for blob in blobs:
            if isinstance(blob, bytearray):
                blob[:] = bytes(len(blob))


def receive(control: socket.socket) -> tuple[RunSettings, bytes, bytes, dict[str, bytes], int | None]:
    """In the prepared child: wait for the request on the control socket. Returns the
    settings, the run's nonce, the source, the files and the driver memfd (if any)."""
    try:
        # Usually the whole request in one recvmsg: head, inline payload, descriptors.
        buffer = _RECEIVE_BUFFER  # made in the fork server: only the pages a request fills are copied
        view = memoryview(buffer)
        got, ancillary, _, _ = control.recvmsg_into([view], socket.CMSG_LEN(3 * 4))
        fds = received_fds(ancillary)
        while 0 < got < _HEAD.size:
            got += control.recv_into(view[got:]) or -got
        if got < _HEAD.size:
            os._exit(0)  # the server discarded this child unused
        flags, size = _HEAD.unpack_from(buffer)
        if flags & _HAS_PAYLOAD_FD:
            payload_fd = fds.pop(0)
            payload = os.pread(payload_fd, os.fstat(payload_fd).st_size, 0)
            os.close(payload_fd)
        else:
            end = _HEAD.size + size
            while got < end:
                n = control.recv_into(view[got:end])
                if not n:
                    os._exit(0)
                got += n
            payload = view[_HEAD.size : end]
    finally:
        control.detach()
    if flags & _HAS_STDIN_FD:
        stdin_fd = fds.pop(0)
        os.dup2(stdin_fd, 0)  # replaces the empty stdin made while preparing
        os.close(stdin_fd)
    (size,) = LENGTH.unpack_from(payload)
    header = json.loads(bytes(payload[LENGTH.size : LENGTH.size + size]))
    offset = LENGTH.size + size
    blobs = []
    for n in header["blob_sizes"]:
        blobs.append(bytes(payload[offset : offset + n]))
        offset += n
    settings = RunSettings.from_wire(header["settings"])
    source, *file_blobs = blobs
    files = dict(zip(settings.files, file_blobs, strict=True))
    return settings, bytes.fromhex(header["nonce"]), source, files, (fds[0] if flags & _HAS_DRIVER_FD else None)
