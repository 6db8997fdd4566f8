"""Small descriptor helpers shared by the server, the zygote and the children."""

from __future__ import annotations

import array
import os
import socket


def close_all_but(*keep: int) -> None:
    """Close every descriptor from 3 up except ``keep``."""
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 20)


def received_fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """The descriptors that came with a ``recvmsg`` (SCM_RIGHTS)."""
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += array.array("i", data[: len(data) - len(data) % 4]).tolist()
    return fds


def rights(fds: list[int]) -> list[tuple[int, int, array.array]]:
    """The ancillary data that sends ``fds`` with a ``sendmsg``."""
    return [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []


def memfd(name: str, *parts: bytes | bytearray) -> int:
    """A memfd holding ``parts``, read position at the start."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    for part in parts:
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
