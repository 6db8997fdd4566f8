"""The zygote: a copy of the warm fork server, made after start-up (warm interpreter, file
system view, layers probed) and before any request, that does nothing but fork prepared
children on request and reap them.

The server itself never forks again, so its own memory is never shared copy-on-write with
a child (each of its writes would otherwise copy a page after every fork), and the fork
and the reap run beside the server rather than between its requests. Nothing of a
request ever reaches the zygote, so no child can inherit it. The zygote installs the
seccomp filter once; every child inherits it from its first instruction.

The protocol, on a SOCK_SEQPACKET pair: the server asks for a child with its key (the
size of its /tmp), uid and host work dir, the child's ends of its pipes and control
socket attached; the zygote answers with the pid (or -errno) and a pidfd, and later
reports the child reaped: pid, wait status, CPU seconds, peak RSS.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import struct

from sandbox import isolation, native
from sandbox.forkserver import prepare
from sandbox.forkserver.descriptors import close_all_but, received_fds, rights
from sandbox.forkserver.prepare import PreparedChild
from sandbox.forkserver.slot import SandboxSetupError, Slot

_FORK_REQUEST = struct.Struct(">iii")
"""Server to zygote: fork a child with this key (the size of its /tmp, its root), uid and
cgroup (an index, -1: none); the child's ends of its pipes and control socket travel with
it, and the host work dir when there is one."""
_FORK_FDS = 4
_MSG_FORKED, _MSG_EXITED = 1, 2
_FORKED = struct.Struct(">Bi")
"""Zygote to server: the pid (or -errno) of a child, its pidfd attached."""
_EXITED = struct.Struct(">Biidd")
"""Zygote to server: a child was reaped: pid, wait status, CPU seconds, peak RSS (MB)."""

Outcome = tuple[int, float, float]
"""A reaped child: wait status, CPU seconds, peak RSS (MB)."""


class Zygote:
    """The server's side of its zygote. Before the zygote is started (the layer probe)
    the server forks and reaps its children itself."""

    def __init__(self, slot: Slot) -> None:
        self.slot = slot
        self.pid: int | None = None
        self.channel: socket.socket | None = None
        """The server's end of the channel to the zygote."""
        self._awaiting_fork: list[PreparedChild] = []
        """Children the zygote was asked to fork, in the order asked, until it answers."""
        self.exits: dict[int, Outcome] = {}
        """Exit reports not yet taken, by pid."""
        self.dying: dict[int, PreparedChild] = {}
        """Children of ended runs, killed, until the zygote reports them reaped."""

    def start(self) -> None:
        server_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        slot = self.slot
        pid = isolation.fork()
        if pid == 0:  # ------------------------------------------------ the zygote
            try:
                isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
                # The pool's channel, the sweeper's pipes, anything else of the server's: closed.
                close_all_but(zygote_end.fileno(), *slot.inherited_fds())
                if slot.layers["seccomp"] and slot.seccomp is not None:
                    # Once here, inherited by every child from its fork on (the probe
                    # installed the same filter itself and showed it holds).
                    slot.seccomp.install()
                    slot.filter_inherited = True
                _serve(slot, zygote_end)
            finally:
                os._exit(0)
        zygote_end.close()
        self.channel = server_end
        self.pid = pid

    def stop(self) -> None:
        if self.channel is None:
            return
        self.channel.close()  # end of file: the zygote kills and reaps its children, then exits
        self.channel = None
        if self.pid is not None:
            os.waitpid(self.pid, 0)
            self.pid = None

    def fork(self, child: PreparedChild) -> PreparedChild:
        """Have the child forked (by the zygote once it runs, else here)."""
        child.requested = True
        if self.channel is None:
            child.pid = prepare.fork_child(self.slot, child.key, child.uid, child.child_ends, child.host_workdir, child.cgroup)
            return child
        payload = _FORK_REQUEST.pack(child.key, child.uid, child.cgroup) + (child.host_workdir or "").encode()
        self.channel.sendmsg([payload], rights(list(child.child_ends)))
        self._awaiting_fork.append(child)
        child.close_child_ends()  # the zygote holds them now
        return child

    def pump(self) -> None:
        """Take one message from the zygote (blocking): a fork answered or an exit reported."""
        assert self.channel is not None
        message, ancillary, _, _ = self.channel.recvmsg(64, socket.CMSG_SPACE(4))
        fds = received_fds(ancillary)
        if not message:
            raise SandboxSetupError("the zygote is gone")
        if message[0] == _MSG_FORKED:
            _, pid = _FORKED.unpack(message)
            child = self._awaiting_fork.pop(0)
            if pid > 0 and fds:
                child.pid, child.pidfd = pid, fds[0]
            else:
                child.failed = os.strerror(-pid) if pid < 0 else "no pidfd"
                for fd in fds:
                    os.close(fd)
        else:
            _, pid, status, cpu, rss = _EXITED.unpack(message)
            dying = self.dying.pop(pid, None)
            if dying is None:
                self.exits[pid] = (status, cpu, rss)
            else:
                dying.pid = None
                dying.release()

    def await_forked(self, child: PreparedChild) -> bool:
        while child in self._awaiting_fork:
            self.pump()
        return child.pid is not None

    def reap(self, child: PreparedChild) -> Outcome:
        """Wait until the child is gone and reaped: its wait status, CPU seconds, peak RSS."""
        assert child.pid is not None
        if self.channel is None:
            _, status, usage = os.wait4(child.pid, 0)
            outcome = (status, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0)
        else:
            while child.pid not in self.exits:
                self.pump()
            outcome = self.exits.pop(child.pid)
        child.pid = None
        return outcome


# --------------------------------------------------------------------------- in the zygote


def _serve(slot: Slot, channel: socket.socket) -> None:
    """Fork a child for each request (its ends of the pipes and control socket come with
    the request), answer with its pid and a pidfd, and report each child's exit status
    once it is reaped. In C when the native fast path is built (no Python runs in the
    zygote between forks, so it copies no page of its own)."""
    if native.lib is not None:
        loop = native.NativeZygoteLoop(
            channel.fileno(), lambda key, uid, workdir: prepare.make_native_plan(slot, key, uid, workdir), slot.cgroup_fds
        )
        forked = loop.serve()
        if forked is not None:  # in a child
            (plan, key, uid, host_workdir), failed = forked
            prepare.in_child(slot, plan, key, uid, host_workdir or "/tmp", failed=failed)
        return
    poller = select.poll()
    poller.register(channel, select.POLLIN)
    live: dict[int, int] = {}  # pidfd -> pid
    fd_space = socket.CMSG_SPACE(4 * _FORK_FDS)
    while True:
        for fd, _events in poller.poll():
            if fd in live:
                pid = live.pop(fd)
                poller.unregister(fd)
                os.close(fd)
                _, status, usage = os.wait4(pid, 0)
                cpu = usage.ru_utime + usage.ru_stime
                channel.send(_EXITED.pack(_MSG_EXITED, pid, status, cpu, usage.ru_maxrss / 1024.0))
                continue
            message, ancillary, _, _ = channel.recvmsg(4096, fd_space)
            fds = received_fds(ancillary)
            if not message:  # the server is gone: so is everything it asked for
                for pidfd, pid in live.items():
                    try:
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    os.waitpid(pid, 0)
                return
            try:
                key, uid, cgroup = _FORK_REQUEST.unpack_from(message)
                host_workdir = message[_FORK_REQUEST.size :].decode() or None
                out_w, err_w, rec_w, control = fds
                pid = prepare.fork_child(slot, key, uid, (out_w, err_w, rec_w, control), host_workdir, cgroup)
                pidfd = os.pidfd_open(pid)
            except (OSError, ValueError) as exc:
                errno = exc.errno if isinstance(exc, OSError) and exc.errno else 22
                channel.send(_FORKED.pack(_MSG_FORKED, -errno))
                continue
            finally:
                for received in fds:
                    os.close(received)
            channel.sendmsg([_FORKED.pack(_MSG_FORKED, pid)], rights([pidfd]))
            live[pidfd] = pid
            poller.register(pidfd, select.POLLIN)
