"""The fork server: one per pool slot, a warm interpreter that forks a fresh, isolated
child for every run.

It is started as a fresh ``python -I`` process with a scrubbed environment (so it holds
no secret of the service), joins network, IPC and UTS namespaces of its own (no
interface up, hostname "sandbox"), builds its read-only file system view, pre-imports
the common standard modules, probes which isolation layers the host allows, and then
serves run requests from the pool over a socketpair, one at a time.

Per run: the child is forked (by the zygote, which holds the seccomp filter, so the child
has it from its first instruction) into a new PID namespace (it is PID 1 there, so when
it exits the kernel kills every descendant), then, still root, it unshares a mount
namespace, mounts private tmpfs work dirs (/tmp, /dev/shm, /var/tmp, /run/lock) and a
fresh /proc that shows only its own PID namespace, sets rlimits, drops to the slot's
unprivileged uid/gid with no groups, sets no_new_privs, and only then runs the program.
The server enforces the wall-clock limit and the output caps, kills the child (and with
it the whole namespace) and reaps it.
"""

from __future__ import annotations

import array
import fcntl
import gc
import json
import math
import os
import resource
import select
import signal
import socket
import struct
import sys
import time
import traceback
from typing import Any

from sandbox import isolation, pyharness
from sandbox.wire import recv_message, send_message

LAYER_NAMES = (
    "pid_ns",
    "net_ns",
    "ipc_ns",
    "mount_ns",
    "uts_ns",
    "readonly_root",
    "private_proc",
    "uid",
    "no_new_privs",
    "rlimits",
    "seccomp",
)
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
CHILD_ENV = {"PATH": SANDBOX_PATH, "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
RECORDS_FD = 3
CONTROL_FD = 4
"""A prepared child's end of its control socket; the driver memfd takes the number after."""
PRIVATE_TMPFS_DIRS = ("/dev/shm", "/var/tmp", "/run/lock")
MAX_RECORD_BYTES = 64 << 20
PREPARED_AHEAD = 2
"""Children each fork server keeps prepared (forked, namespaces and mounts made)."""

# Modules a typical test program imports; loading them once here makes a run cost a fork.
# Every module here is copied into every run (its memory and mappings are part of each
# fork and each teardown), so rarely used ones (dataclasses, datetime, hashlib,
# statistics, ...) are left for the programs that import them.
WARM_MODULES = (
    "collections", "itertools", "functools", "heapq", "bisect", "math", "random", "re",
    "string", "operator", "fractions", "decimal", "copy", "json", "typing", "array", "io",
    "sys", "os", "time", "traceback", "marshal", "enum", "struct", "abc", "contextlib",
    "atexit",
)  # fmt: skip


class SandboxSetupError(Exception):
    pass


class ForkServer:
    def __init__(self, channel_fd: int, uid: int, enabled_layers: dict[str, bool] | None = None) -> None:
        self.channel = channel_fd
        self.uids = (uid, uid + 1)
        """The slot's two unprivileged uids: runs alternate between them (see _clear_for)."""
        self._uid_turn = 0
        self.layers: dict[str, bool] = dict.fromkeys(LAYER_NAMES, True)
        if enabled_layers:
            self.layers.update(enabled_layers)
        self.layer_errors: dict[str, str] = {}
        self.seccomp: isolation.SeccompFilter | None = None
        self.home_cpu: int | None = None
        """The CPU this slot's runs are kept on (see _child); None: anywhere."""
        self.filter_inherited = False
        """True in the zygote (and so in its children) once it has installed the filter."""
        self._plans: dict[tuple[int, int, str], isolation.NativePlan] = {}
        """Native setups of children by (/tmp size, uid, work dir), made once."""
        self.own_pid_ns_fd: int | None = None
        self._prepared: list[_PreparedChild] = []
        """Children prepared ahead for requests of the default key, oldest first."""
        self._ended: _PreparedChild | None = None
        """The child of the run that just ended, until it is retired after the reply."""
        self._dying: dict[int, _PreparedChild] = {}
        """Children of ended runs, killed, until the zygote reports them reaped."""
        self.sweeper_pid: int | None = None
        self._sweep_w = self._sweep_r = -1
        self._sweep_pending = False
        self._zygote: socket.socket | None = None
        """The server's end of the channel to its zygote (None: the server forks itself,
        as it does for the layer probe before the zygote exists)."""
        self.zygote_pid: int | None = None
        self._awaiting_fork: list[_PreparedChild] = []
        """Children the zygote was asked to fork, in the order asked, until it answers."""
        self._scratch = bytearray(65536)
        """Where the server reads a run's pipes; zeroed after each run."""
        self._exits: dict[int, tuple[int, float, float]] = {}
        """Exit reports from the zygote not yet taken: pid -> (wait status, CPU s, peak RSS MB)."""

    # ------------------------------------------------------------------ startup

    def start(self) -> None:
        try:
            isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            pass
        # The children's environment, set once here: every child inherits it (the server
        # was started with a scrubbed one, so nothing of the service's is in it).
        os.environ.clear()
        os.environ.update(CHILD_ENV)
        for name in WARM_MODULES:
            try:
                __import__(name)
            except ImportError:
                pass
        pyharness.warm_up("/tmp")

        self._prepare_layers()
        self._probe_layers()
        # Everything loaded so far is left alone by the cyclic GC from now on: a collection
        # in the server or in a child would otherwise write to every object's header and
        # copy-on-write fault the whole heap after each fork.
        gc.collect()
        gc.freeze()

    def _disable(self, layer: str, why: str) -> None:
        self.layers[layer] = False
        self.layer_errors.setdefault(layer, why)

    def _prepare_layers(self) -> None:
        if os.geteuid() != 0:
            for layer in ("pid_ns", "net_ns", "ipc_ns", "mount_ns", "uts_ns", "readonly_root", "private_proc", "uid"):
                self._disable(layer, "the sandbox is not running as root")
        if self.layers["net_ns"]:
            try:
                isolation.unshare(isolation.CLONE_NEWNET)
            except OSError as exc:
                self._disable("net_ns", str(exc))
        # The slot's own IPC and UTS namespaces, shared by its runs one after the other:
        # a run cannot change the hostname (no capability) and cannot create SysV IPC
        # objects or message queues (the filter), so nothing in them outlives a run. Without
        # the filter every run gets an IPC namespace of its own (see _child).
        for layer, flag in (("ipc_ns", isolation.CLONE_NEWIPC), ("uts_ns", isolation.CLONE_NEWUTS)):
            if self.layers[layer]:
                try:
                    isolation.unshare(flag)
                    if layer == "uts_ns":
                        _sethostname("sandbox")
                except OSError as exc:
                    self._disable(layer, str(exc))
        if self.layers["mount_ns"]:
            try:
                _prepare_filesystem_view(self.layers["readonly_root"])
            except OSError as exc:
                self._disable("mount_ns", f"preparing the file system view: {exc}")
                self._disable("readonly_root", "needs mount_ns")
        if self.layers["pid_ns"]:
            try:
                self.own_pid_ns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                self._disable("pid_ns", str(exc))
        if self.layers["seccomp"]:
            try:
                self.seccomp = isolation.SeccompFilter()
            except OSError as exc:
                self._disable("seccomp", str(exc))

    def _probe_layers(self) -> None:
        """Run the full child setup once with a probe program; keep the layers that held."""
        for _attempt in range(len(LAYER_NAMES)):
            spec = {"mode": "probe", "time_limit_s": 10, "memory_mb": 256, "max_output_bytes": 65536}
            reply, blobs = self.run(spec, [b"", b""])
            records = [json.loads(line) for line in blobs[2].splitlines() if line.strip()]
            failed = next((r for r in records if r.get("sandbox") == "setup_failed"), None)
            if failed is not None:
                self._disable(failed.get("layer") or "rlimits", failed.get("error", "setup failed"))
                continue
            observed = next((r for r in records if "probe" in r), None)
            if observed is None:
                raise SandboxSetupError(f"probe run produced no report: {reply} {blobs[1][-2000:]!r}")
            for layer, held in observed["probe"].items():
                if self.layers.get(layer) and not held:
                    self._disable(layer, "probe found the layer not in effect")
            return
        raise SandboxSetupError("the sandbox could not set up a child with any set of layers")

    # ------------------------------------------------------------------ serving

    def serve(self) -> None:
        if self._ended is not None:  # the probe's
            self._retire(self._ended)
            self._ended = None
        self._start_sweeper()
        self._start_zygote()
        self._allocate_ahead()  # the first runs' children
        self._fork_allocated()
        ready = {
            "op": "ready", "layers": self.layers, "layer_errors": self.layer_errors,
            "zygote_pid": self.zygote_pid, "sweeper_pid": self.sweeper_pid,
            "native_setup": isolation.native is not None,
        }  # fmt: skip
        send_message(self.channel, ready)
        try:
            self._serve_requests()
        finally:
            self._stop_zygote()  # it kills and reaps every child it forked
            self._stop_sweeper()
            for child in [*self._prepared, *self._dying.values(), self._ended]:
                if child is not None:
                    child.release()
            self._prepared.clear()
            self._dying.clear()
            self._ended = None

    # ------------------------------------------------------------------ the sweeper

    def _start_sweeper(self) -> None:
        """Fork the sweeper: a process of the slot's two uids (real uid the one, effective
        the other) in the server's PID namespace, which on request sends SIGKILL to every
        process it may signal: ``kill(-1)``, i.e. every process of the slot's runs. When
        its answer is in, no process of an ended run can run another instruction, without
        waiting for the teardown of its memory and namespaces. It holds no capability
        and nothing but its two pipes; runs cannot see it (their PID namespaces are
        below its own)."""
        if not (self.layers["uid"] and os.geteuid() == 0):
            return
        req_r, req_w = os.pipe2(os.O_CLOEXEC)
        ack_r, ack_w = os.pipe2(os.O_CLOEXEC)
        pid = isolation.fork()
        if pid == 0:  # ------------------------------------------------ the sweeper
            try:
                isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
                _close_all_but(req_r, ack_w)
                real, effective = self.uids
                os.setgroups([])
                os.setresgid(real, effective, effective)
                os.setresuid(real, effective, effective)
                while os.read(req_r, 1):
                    try:
                        os.kill(-1, signal.SIGKILL)
                    except ProcessLookupError:
                        pass  # nothing of any run was left
                    os.write(ack_w, b".")
            finally:
                os._exit(0)
        os.close(req_r)
        os.close(ack_w)
        self._sweep_w, self._sweep_r, self.sweeper_pid = req_w, ack_r, pid

    def _stop_sweeper(self) -> None:
        if self.sweeper_pid is None:
            return
        os.close(self._sweep_w)  # end of file: it exits
        os.close(self._sweep_r)
        self._sweep_w = self._sweep_r = -1
        os.waitpid(self.sweeper_pid, 0)
        self.sweeper_pid = None

    def _retire(self, child: _PreparedChild) -> None:
        """After a run (and its reply): a child that answered before it was gone is
        killed, the sweeper is asked to kill whatever else of the run is left, and the
        child is reaped by the zygote in the background."""
        child.release_pipes()
        if child.pid is None:  # reaped already (its outcome came from its exit status)
            child.release()
            return
        try:
            signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self._zygote is None:  # the probe, before the zygote exists
            self._reap(child)
            child.release()
            return
        if child.pid in self._exits:
            del self._exits[child.pid]
            child.pid = None
            child.release()
            return
        self._dying[child.pid] = child
        if self.sweeper_pid is not None:
            os.write(self._sweep_w, b".")
            self._sweep_pending = True

    def _clear_for(self, child: _PreparedChild) -> None:
        """Before a hand-over: nothing of an earlier run may still run. The sweeper's
        answer means every process of every ended run has SIGKILL pending; the run
        before that used the child's uid is reaped too (so none of its processes still
        counts against the uid's process limit). Runs alternate between the slot's two
        uids, so that reap was usually over long ago. Without a sweeper (no uid layer)
        every ended run is reaped first."""
        if self._sweep_pending:
            os.read(self._sweep_r, 1)
            self._sweep_pending = False
        for pid, dying in list(self._dying.items()):
            if self.sweeper_pid is None or dying.uid == child.uid:
                while pid in self._dying:
                    self._pump_zygote()

    # ------------------------------------------------------------------ the zygote

    def _start_zygote(self) -> None:
        """Fork the zygote: a copy of this server, made after start-up (warm interpreter,
        file system view, layers probed) and before any request, that does nothing but
        fork prepared children on request and reap them. The server itself never forks
        again, so its own memory is never shared copy-on-write with a child (each of its
        writes would otherwise copy a page after every fork), and the fork and the reap
        run beside the server rather than between its requests. Nothing of a request
        ever reaches the zygote, so no child can inherit it."""
        server_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = isolation.fork()
        if pid == 0:  # ------------------------------------------------ the zygote
            try:
                isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
                # The pool's channel, the sweeper's pipes, anything else of the server's: closed.
                _close_all_but(zygote_end.fileno(), *([self.own_pid_ns_fd] if self.own_pid_ns_fd is not None else []))
                if self.layers["seccomp"] and self.seccomp is not None:
                    # Once here, inherited by every child from its fork on (the probe
                    # installed the same filter itself and showed it holds).
                    self.seccomp.install()
                    self.filter_inherited = True
                self._zygote_loop(zygote_end)
            finally:
                os._exit(0)
        zygote_end.close()
        self._zygote = server_end
        self.zygote_pid = pid

    def _stop_zygote(self) -> None:
        if self._zygote is None:
            return
        self._zygote.close()  # end of file: the zygote kills and reaps its children, then exits
        self._zygote = None
        if self.zygote_pid is not None:
            os.waitpid(self.zygote_pid, 0)
            self.zygote_pid = None

    def _zygote_loop(self, channel: socket.socket) -> None:
        """In the zygote: fork a child for each request (its ends of the pipes and control
        socket come with the request), answer with its pid and a pidfd, and report each
        child's exit status once it is reaped. In C when the native fast path is built
        (no Python runs in the zygote between forks, so it copies no page of its own)."""
        if isolation.native is not None:
            loop = isolation.NativeZygoteLoop(channel.fileno(), self._make_native_plan)
            forked = loop.serve()
            if forked is not None:  # in a child
                (plan, key, uid, host_workdir), failed = forked
                self._in_child(plan, key, uid, host_workdir or "/tmp", failed=failed)
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
                fds = _received_fds(ancillary)
                if not message:  # the server is gone: so is everything it asked for
                    for pidfd, pid in live.items():
                        try:
                            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                        os.waitpid(pid, 0)
                    return
                try:
                    key, uid = _FORK_REQUEST.unpack_from(message)
                    host_workdir = message[_FORK_REQUEST.size :].decode() or None
                    out_w, err_w, rec_w, control = fds
                    pid = self._fork_child(key, uid, control, out_w, err_w, rec_w, host_workdir)
                    pidfd = os.pidfd_open(pid)
                except (OSError, ValueError) as exc:
                    errno = exc.errno if isinstance(exc, OSError) and exc.errno else 22
                    channel.send(_FORKED.pack(_MSG_FORKED, -errno))
                    continue
                finally:
                    for received in fds:
                        os.close(received)
                channel.sendmsg([_FORKED.pack(_MSG_FORKED, pid)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [pidfd]))])
                live[pidfd] = pid
                poller.register(pidfd, select.POLLIN)

    def _pump_zygote(self) -> None:
        """Take one message from the zygote (blocking): a fork answered or an exit reported."""
        assert self._zygote is not None
        message, ancillary, _, _ = self._zygote.recvmsg(64, socket.CMSG_SPACE(4))
        fds = _received_fds(ancillary)
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
            dying = self._dying.pop(pid, None)
            if dying is None:
                self._exits[pid] = (status, cpu, rss)
            else:
                dying.pid = None
                dying.release()

    def _await_forked(self, child: _PreparedChild) -> bool:
        while child in self._awaiting_fork:
            self._pump_zygote()
        return child.pid is not None

    def _reap(self, child: _PreparedChild) -> tuple[int, float, float]:
        """Wait until the child is gone and reaped: its wait status, CPU seconds, peak RSS."""
        assert child.pid is not None
        if self._zygote is None:
            _, status, usage = os.wait4(child.pid, 0)
            outcome = (status, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0)
        else:
            while child.pid not in self._exits:
                self._pump_zygote()
            outcome = self._exits.pop(child.pid)
        child.pid = None
        return outcome

    def _serve_requests(self) -> None:
        """One request at a time. While waiting for one, the server takes the zygote's
        answers (pidfds of new children, exit reports); once those have come, its
        descriptor count is the same whenever it is idle."""
        poller = select.poll()
        poller.register(self.channel, select.POLLIN)
        if self._zygote is not None:
            poller.register(self._zygote, select.POLLIN)
        while True:
            ready = {fd for fd, _events in poller.poll()}
            if self.channel not in ready:
                self._pump_zygote()
                continue
            try:
                spec, blobs = recv_message(self.channel)
            except EOFError:
                return
            if spec.get("op") == "stop":
                return
            try:
                reply, out_blobs = self.run(spec, blobs)
            except Exception as exc:  # never let one request take the server down
                reply = {"outcome": "sandbox_error", "reason": f"{type(exc).__name__}: {exc}"}
                out_blobs = [bytearray(), bytearray(traceback.format_exc().encode()), bytearray()]
            try:
                send_message(self.channel, reply, out_blobs)
            finally:
                for blob in out_blobs:
                    blob[:] = bytes(len(blob))
            # Off the caller's path: the run is retired (killed, swept), the next children's
            # descriptors are made and the zygote is asked for them; the next request is
            # handed out only once nothing of this run can run any more, see _clear_for().
            if self._ended is not None:
                self._retire(self._ended)
                self._ended = None
            try:
                self._allocate_ahead()
            except OSError:
                pass  # out of descriptors: the next request forks its child on demand
            self._fork_allocated()

    def _allocate_ahead(self) -> None:
        """Descriptors for the children to keep prepared (PREPARED_AHEAD, for requests
        of the default key); they are forked by :meth:`_fork_allocated`."""
        key = self._child_key({})
        while len(self._prepared) < PREPARED_AHEAD:
            self._prepared.append(self._allocate(key))

    def _fork_allocated(self) -> None:
        for child in self._prepared:
            if child.pid is None and not child.requested:
                self._fork(child)

    # ------------------------------------------------------------------ one run

    def run(self, spec: dict[str, Any], blobs: list[bytearray]) -> tuple[dict[str, Any], list[bytes]]:
        """Hand the request to the oldest prepared child (forking one now if none of its
        key is ready) and supervise it until its outcome is known."""
        if self._ended is not None:  # a run not followed by a reply (the layer probe)
            self._retire(self._ended)
            self._ended = None
        key = self._child_key(spec)
        child = None
        if self._prepared and self._prepared[0].key == key and self._prepared[0].requested:
            child = self._prepared.pop(0)
            if not self._await_forked(child):
                child.release()
                child = None
        if child is None:
            child = self._fork(self._allocate(key))
            if not self._await_forked(child):
                why = child.failed
                child.release()
                raise OSError(f"the zygote could not fork a child: {why}")
        self._clear_for(child)  # nothing of an earlier run is alive when this one starts
        started = time.monotonic()
        self._activate(child)
        try:
            self._hand_over(child, spec, blobs)
            return self._supervise(child, started, spec)
        finally:
            child.release_pipes()
            self._ended = child  # retired after the reply

    @staticmethod
    def _child_key(spec: dict[str, Any]) -> int:
        """What a prepared child fixed before the request: the size of its /tmp."""
        return _tmp_mb(int(spec.get("max_file_mb", 16)))

    def _allocate(self, key: int) -> _PreparedChild:
        """The server's side of a child to be prepared: its pipes and control socket."""
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        rec_r, rec_w = os.pipe2(os.O_CLOEXEC)
        control, child_control = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        uid = self.uids[self._uid_turn]
        self._uid_turn ^= 1
        host_workdir = None
        if not self.layers["mount_ns"]:
            import tempfile  # only without a mount namespace: not loaded in the fork server

            host_workdir = tempfile.mkdtemp(prefix="sandbox-run-")
            if self.layers["uid"]:
                os.chown(host_workdir, uid, uid)
        pipes = (out_r, out_w), (err_r, err_w), (rec_r, rec_w)
        return _PreparedChild(key, uid, control, child_control, *pipes, host_workdir)

    def _fork(self, child: _PreparedChild) -> _PreparedChild:
        """Have the child forked (by the zygote once it runs, else here). It sets itself
        up to the point where only the request is missing: namespaces entered, mounts
        made, seccomp on. It waits as root, so the per-request part is the rlimits and
        the drop to the slot's uid, done before any untrusted code."""
        child.requested = True
        if self._zygote is None:
            child.pid = self._fork_child(
                child.key, child.uid, child.child_control.fileno(), child.out_w, child.err_w, child.rec_w,
                child.host_workdir,
            )  # fmt: skip
            return child
        payload = _FORK_REQUEST.pack(child.key, child.uid) + (child.host_workdir or "").encode()
        ends = [child.out_w, child.err_w, child.rec_w, child.child_control.fileno()]
        self._zygote.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", ends))])
        self._awaiting_fork.append(child)
        # The zygote holds the child's ends now; the server keeps only its own.
        for fd in (child.out_w, child.err_w, child.rec_w):
            os.close(fd)
        child.out_w = child.err_w = child.rec_w = -1
        child.child_control.close()
        return child

    def _fork_child(
        self, key: int, uid: int, control_fd: int, out_w: int, err_w: int, rec_w: int, host_workdir: str | None
    ) -> int:
        """Fork one child into a PID namespace of its own; in the child, set it up: with
        the native fast path (sandbox/_native.c) when it is built, else in Python."""
        fds = (out_w, err_w, rec_w, control_fd)
        workdir = host_workdir or "/tmp"
        plan = None
        if isolation.native is not None:
            plan = self._native_plan(key, uid, workdir)
            plan.fds[:] = fds
            pid = isolation.native_fork(plan)
        else:
            if self.layers["pid_ns"]:
                assert self.own_pid_ns_fd is not None
                isolation.setns(self.own_pid_ns_fd, isolation.CLONE_NEWPID)  # reset pid_for_children
                isolation.unshare(isolation.CLONE_NEWPID)
            pid = isolation.fork()
            if pid and self.layers["pid_ns"]:
                isolation.setns(self.own_pid_ns_fd, isolation.CLONE_NEWPID)  # later forks stay out of it
        if pid:
            return pid
        self._in_child(plan, key, uid, workdir, fds)  # never returns
        return 0

    def _in_child(
        self,
        plan: isolation.NativePlan | None,
        key: int,
        uid: int,
        workdir: str,
        fds: tuple[int, ...] = (),
        failed: bool | None = None,
    ) -> None:
        """In a freshly forked child: its setup (unless the native fork made it: ``plan``,
        ``failed`` when known without reading the plan), then the run; the process ends here."""
        code = 125
        try:
            if plan is None:
                self._child_setup(key, uid, fds, workdir)
            elif plan.failed_step if failed is None else failed:
                step = plan.failed_step
                layer = plan.layers[step - isolation.NATIVE_STEP_MOUNT] if step >= isolation.NATIVE_STEP_MOUNT else (
                    ("mount_ns" if plan.unshare_flags & isolation.CLONE_NEWNS else "ipc_ns") if step == 2 else
                    "no_new_privs" if step == 4 else None
                )  # fmt: skip
                what = isolation.NATIVE_STEP_NAMES.get(step, "mount")
                raise _LayerFailure(layer or "rlimits", OSError(plan.failed_errno, f"{what}: {os.strerror(plan.failed_errno)}"))
            self._child(uid, workdir)
        except BaseException as exc:  # noqa: BLE001
            layer = getattr(exc, "layer", None)
            try:
                os.write(2, traceback.format_exc().encode()[-4000:])
            except BaseException:  # noqa: BLE001
                pass
            try:
                msg = {"sandbox": "setup_failed", "layer": layer, "error": f"{type(exc).__name__}: {exc}"}
                os.write(RECORDS_FD, (json.dumps(msg) + "\n").encode())
            except BaseException:  # noqa: BLE001
                pass
        finally:
            os._exit(code)

    def _mounts(self, tmp_mb: int, uid: int) -> list[tuple[str, tuple[str | None, str, str | None, int, str | None]]]:
        """A child's mounts, each with the layer it belongs to: its mount namespace made
        private, tmpfs work dirs, a /proc of its PID namespace."""
        layers = self.layers
        if not layers["mount_ns"]:
            return []
        owner = f"uid={uid},gid={uid}" if layers["uid"] else "uid=0,gid=0"
        nosuid_nodev = isolation.MS_NOSUID | isolation.MS_NODEV
        mounts = [
            ("mount_ns", (None, "/", None, isolation.MS_REC | isolation.MS_PRIVATE, None)),
            ("mount_ns", ("tmpfs", "/tmp", "tmpfs", nosuid_nodev, f"size={tmp_mb}m,nr_inodes=4096,mode=0700,{owner}")),
        ]
        for path in PRIVATE_TMPFS_DIRS:
            if os.path.isdir(path):
                data = f"size=8m,nr_inodes=256,mode=0700,{owner}"
                mounts.append(("mount_ns", ("tmpfs", path, "tmpfs", nosuid_nodev | isolation.MS_NOEXEC, data)))
        if layers["pid_ns"] and layers["private_proc"]:
            mounts.append(("private_proc", ("proc", "/proc", "proc", nosuid_nodev | isolation.MS_NOEXEC, None)))
        return mounts

    def _unshare_flags(self) -> int:
        flags = isolation.CLONE_NEWNS if self.layers["mount_ns"] else 0
        if self.layers["ipc_ns"] and not self.layers["seccomp"]:
            flags |= isolation.CLONE_NEWIPC  # without the filter, SysV IPC objects could outlive a run
        return flags

    def _native_plan(self, key: int, uid: int, workdir: str) -> isolation.NativePlan:
        """The native setup of a child, made once per (/tmp size, uid, work dir) and kept."""
        plan = self._plans.get((key, uid, workdir))
        if plan is None:
            plan = self._make_native_plan(key, uid, workdir)
            if workdir == "/tmp":  # not a host work dir, made for one child only
                self._plans[(key, uid, workdir)] = plan
        return plan

    def _make_native_plan(self, key: int, uid: int, workdir: str) -> isolation.NativePlan:
        mounts = self._mounts(key, uid)
        pid_ns_fd = self.own_pid_ns_fd if self.layers["pid_ns"] else None
        plan = isolation.native_plan(
            pid_ns_fd, self._unshare_flags(), [m for _, m in mounts], workdir, self.layers["no_new_privs"]
        )
        plan.layers = [layer for layer, _ in mounts]
        return plan

    def _child_setup(self, tmp_mb: int, uid: int, fds: tuple[int, int, int, int], workdir: str) -> None:
        """In the child, without the native fast path: what sandbox/_native.c does."""
        # File descriptors first: 1 stdout, 2 stderr, 3 records, 4 the control socket;
        # nothing else of the server's (no other child's pipes) survives.
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 16) for fd in fds]
        for target, fd in enumerate(ends, start=1):
            os.dup2(fd, target)
        os.closerange(CONTROL_FD + 1, 1 << 20)
        os.setsid()
        isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
        flags = self._unshare_flags()
        if flags:
            _layer_step("mount_ns" if flags & isolation.CLONE_NEWNS else "ipc_ns", isolation.unshare, flags)
        for layer, mount in self._mounts(tmp_mb, uid):
            _layer_step(layer, isolation.mount, *mount)
        os.chdir(workdir)
        if self.layers["no_new_privs"]:
            _layer_step("no_new_privs", isolation.set_no_new_privs)
        empty = os.memfd_create("stdin", 0)  # stdin when the request brings none
        if empty != 0:
            os.dup2(empty, 0)
            os.close(empty)

    @staticmethod
    def _activate(child: _PreparedChild) -> None:
        """Just before the hand-over: make sure the server holds no copy of the child's
        ends (so end of file means the run is done with them) and has its pidfd."""
        for fd in (child.out_w, child.err_w, child.rec_w):
            if fd >= 0:
                os.close(fd)
        child.out_w = child.err_w = child.rec_w = -1
        child.child_control.close()
        assert child.pid is not None
        if child.pidfd < 0:
            child.pidfd = os.pidfd_open(child.pid)

    def _hand_over(self, child: _PreparedChild, spec: dict[str, Any], blobs: list[bytearray]) -> None:
        """The request goes to the child in one message on its control socket: a small
        payload (header, source, files) inline, a big one as a memfd; stdin (when not
        empty) and the driver as memfds. The request's buffers here are zeroed afterwards."""
        secret = spec.pop("driver_blob", None)
        source, stdin, *file_blobs = blobs
        driver = file_blobs.pop(secret) if secret is not None else None
        header = {k: spec[k] for k in _CHILD_SPEC_KEYS if k in spec}
        header["blob_sizes"] = [len(source), *(len(b) for b in file_blobs)]
        child.nonce = os.urandom(16)
        header["nonce"] = child.nonce.hex()
        raw = json.dumps(header, separators=(",", ":")).encode()
        size = _LEN.size + len(raw) + len(source) + sum(len(b) for b in file_blobs)
        fds = []
        flags = 0
        if size > INLINE_PAYLOAD_BYTES:
            fds.append(_memfd("request", _LEN.pack(len(raw)), raw, source, *file_blobs))
            flags |= _HAS_PAYLOAD_FD
            parts: list[Any] = []
        else:
            parts = [_LEN.pack(len(raw)), raw, source, *file_blobs]
        if stdin:
            fds.append(_memfd("stdin", stdin))
            flags |= _HAS_STDIN_FD
        if driver is not None:
            # The driver (e.g. assert code with the expected values) travels in a memfd
            # of its own; the candidate is forked before the driver reads it.
            fds.append(_memfd("driver", driver))
            flags |= _HAS_DRIVER_FD
        head = _HANDOVER.pack(flags, 0 if flags & _HAS_PAYLOAD_FD else size)
        try:
            # One sendmsg: the head, the inline payload and the descriptors together.
            views = [memoryview(p).cast("B") for p in (head, *parts) if len(p)]
            ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
            sent = child.control.sendmsg(views, ancillary)
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

    def _supervise(
        self, child: _PreparedChild, started: float, spec: dict[str, Any]
    ) -> tuple[dict[str, Any], list[bytes]]:
        pidfd = child.pidfd
        out_r, err_r, rec_r = child.out_r, child.err_r, child.rec_r
        cap = int(spec.get("max_output_bytes", 1 << 20))
        deadline = started + float(spec.get("time_limit_s", 5.0))
        buffers = {out_r: _Buffer(), err_r: _Buffer(), rec_r: _Buffer()}
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
        scratch = self._scratch
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
                status, cpu_s, max_rss_mb = self._reap(child)
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

    # ------------------------------------------------------------------ inside the child

    def _child(self, uid: int, workdir: str) -> None:
        """In the child, once set up (namespaces, mounts, work dir, descriptors): wait for
        the request as root, then the rlimits and the drop to the slot's uid, before any
        untrusted code."""
        layers = self.layers
        if layers["seccomp"] and self.seccomp is not None and not self.filter_inherited:
            _layer_step("seccomp", self.seccomp.install)  # the probe's child: as root, no_new_privs not needed
        isolation.reseed_random()
        # Still before the request: the stdio objects are made and the paths a run takes
        # are walked once, so their copy-on-write faults are paid while waiting.
        pyharness.prepare(workdir)
        control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, CONTROL_FD)

        # ---- the request: a payload memfd, the stdin memfd, the driver memfd
        spec, source, files, driver_fd = _receive_request(control)
        if driver_fd is not None:
            os.dup2(driver_fd, CONTROL_FD)  # replaces the control socket
        else:
            os.close(CONTROL_FD)
        keep = RECORDS_FD + 1 + (driver_fd is not None)
        os.closerange(keep, 1 << 20)

        if self.home_cpu is not None and spec.get("mode") == "python_driver":
            # A driver and its candidate on one CPU: they answer each other call by call,
            # and a call across two CPUs costs a wake-up from idle on the other one,
            # several times the call itself. Slots are spread over the CPUs. (A plain run
            # is left free to go where the CPU is: pinned, it would queue behind the
            # slot's own background work, the teardown of the run before and the next
            # child's setup.)
            try:
                os.sched_setaffinity(0, (self.home_cpu,))
            except OSError:
                pass  # a CPU taken away since (cpuset change): the run goes anywhere
        # ---- before any untrusted code: rlimits, then the slot's uid
        # (The sweeper's real uid is the slot's first: one more process for that uid.)
        extra = int(self.sweeper_pid is not None and uid == self.uids[0])
        if isolation.native is not None:  # both in one call
            limits = isolation.NativeLimits(*_rlimit_values(spec, extra)) if layers["rlimits"] else None
            failed = isolation.native.sandbox_limit_and_drop(limits, uid if layers["uid"] else -1, uid)
            if failed:
                err = isolation.ctypes.get_errno()
                raise _LayerFailure("rlimits" if failed == 1 else "uid", OSError(err, os.strerror(err)))
        else:
            if layers["rlimits"]:
                _layer_step("rlimits", _set_rlimits, spec, extra)
            if layers["uid"]:
                _layer_step("uid", _drop_privileges, uid, uid)
        for name, data in files.items():
            _write_work_file(name, data)
        if spec.get("source_file"):
            _write_work_file(spec["source_file"], source, executable=False)

        if spec.get("mode") == "probe":
            _emit_raw({"sandbox": "ready"})
            _emit_raw({"probe": _observe_layers(self, spec)})
            os._exit(0)

        mode = spec["mode"]
        if mode in ("python", "python_driver"):
            pyharness.expect_trailer(bytes.fromhex(spec["nonce"]))
        if mode != "python":  # a plain Python run writes it with the end of its records
            os.write(RECORDS_FD, pyharness.READY_RECORD)
        if mode == "python":
            pyharness.run_main(source, spec.get("argv") or [], workdir)
        elif mode == "python_driver":
            pyharness.run_driver(source, keep - 1, spec.get("driver_data"), workdir, bool(spec.get("restarts")))
        elif mode == "exec":
            os.close(RECORDS_FD)
            argv = list(spec["argv"])
            os.execve(argv[0], argv, CHILD_ENV)
        elif mode == "exec_collect":
            pyharness.run_and_collect(list(spec["argv"]), CHILD_ENV, spec.get("collect") or [])
        os._exit(125)


def _tmp_mb(max_file_mb: int) -> int:
    return max(64, 4 * max_file_mb)


class _Buffer:
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


class _PreparedChild:
    """A child prepared for one request: the server's ends of its pipes and control
    socket (allocated before it is forked), its pid once forked, its pidfd once active."""

    def __init__(
        self, key: int, uid: int, control: socket.socket, child_control: socket.socket, out: tuple[int, int],
        err: tuple[int, int], rec: tuple[int, int], host_workdir: str | None,
    ) -> None:  # fmt: skip
        self.key = key
        self.uid = uid
        self.pid: int | None = None
        self.pidfd = -1
        self.control, self.child_control = control, child_control
        self.out_r, self.out_w = out
        self.err_r, self.err_w = err
        self.rec_r, self.rec_w = rec
        self.host_workdir = host_workdir
        self.nonce = b""
        self.requested = False
        """Forked, or asked of the zygote."""
        self.failed: str | None = None
        """Why the zygote could not fork it."""

    def release_pipes(self) -> None:
        self.control.close()
        self.child_control.close()
        for fd in (self.out_r, self.err_r, self.rec_r, self.out_w, self.err_w, self.rec_w):
            if fd >= 0:
                os.close(fd)
        self.out_r = self.err_r = self.rec_r = self.out_w = self.err_w = self.rec_w = -1

    def release(self) -> None:
        self.release_pipes()
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        if self.host_workdir is not None:
            import shutil

            shutil.rmtree(self.host_workdir, ignore_errors=True)
            self.host_workdir = None


_CHILD_SPEC_KEYS = (
    "mode", "argv", "files", "collect", "time_limit_s", "memory_mb", "max_processes", "max_file_mb",
    "max_open_files", "driver_data", "restarts", "source_file",
)  # fmt: skip
_LEN = struct.Struct(">I")
_FORK_REQUEST = struct.Struct(">ii")
"""Server to zygote: fork a child with this key (the size of its /tmp) and uid; the child's ends
of its pipes and control socket travel with it, and the host work dir when there is one."""
_FORK_FDS = 4
_MSG_FORKED, _MSG_EXITED = 1, 2
_FORKED = struct.Struct(">Bi")
"""Zygote to server: the pid (or -errno) of a child, its pidfd attached."""
_EXITED = struct.Struct(">Biidd")
"""Zygote to server: a child was reaped: pid, wait status, CPU seconds, peak RSS (MB)."""
_HANDOVER = struct.Struct(">BI")
"""The first bytes a prepared child reads: flags, and the size of the inline payload."""
_HAS_PAYLOAD_FD, _HAS_STDIN_FD, _HAS_DRIVER_FD = 1, 2, 4
INLINE_PAYLOAD_BYTES = 64 << 10
_RECEIVE_BUFFER = bytearray(_HANDOVER.size + INLINE_PAYLOAD_BYTES)
"""A prepared child receives its request into this buffer, inherited from the fork server
(where it stays zero): a buffer of its own would be 16 pages zero-filled per child."""
"""Requests up to this size travel inline on the control socket, bigger ones in a memfd."""


def _close_all_but(*keep: int) -> None:
    """Close every descriptor from 3 up except ``keep``."""
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 20)


def _received_fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += array.array("i", data[: len(data) - len(data) % 4]).tolist()
    return fds


def _memfd(name: str, *parts: bytes | bytearray) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    for part in parts:
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _receive_request(control: socket.socket) -> tuple[dict[str, Any], bytes, dict[str, bytes], int | None]:
    """In the prepared child: wait for the request on the control socket."""
    try:
        # Usually the whole request in one recvmsg: head, inline payload, descriptors.
        buffer = _RECEIVE_BUFFER  # made in the fork server: only the pages a request fills are copied
        view = memoryview(buffer)
        got, ancillary, _, _ = control.recvmsg_into([view], socket.CMSG_LEN(3 * 4))
        fds = _received_fds(ancillary)
        while 0 < got < _HANDOVER.size:
            got += control.recv_into(view[got:]) or -got
        if got < _HANDOVER.size:
            os._exit(0)  # the server discarded this child unused
        flags, size = _HANDOVER.unpack_from(buffer)
        if flags & _HAS_PAYLOAD_FD:
            payload_fd = fds.pop(0)
            payload = os.pread(payload_fd, os.fstat(payload_fd).st_size, 0)
            os.close(payload_fd)
        else:
            end = _HANDOVER.size + size
            while got < end:
                n = control.recv_into(view[got:end])
                if not n:
                    os._exit(0)
                got += n
            payload = view[_HANDOVER.size : end]
    finally:
        control.detach()
    if flags & _HAS_STDIN_FD:
        stdin_fd = fds.pop(0)
        os.dup2(stdin_fd, 0)  # replaces the empty stdin made while preparing
        os.close(stdin_fd)
    (size,) = _LEN.unpack_from(payload)
    spec = json.loads(bytes(payload[_LEN.size : _LEN.size + size]))
    offset = _LEN.size + size
    blobs = []
    for n in spec.pop("blob_sizes"):
        blobs.append(bytes(payload[offset : offset + n]))
        offset += n
    source, *file_blobs = blobs
    files = dict(zip(spec.get("files", []), file_blobs, strict=True))
    return spec, source, files, (fds[0] if flags & _HAS_DRIVER_FD else None)


def _interpreter_dirs() -> set[str]:
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    dirs.add(os.path.dirname(os.path.realpath(sys.executable)))
    dirs.update(p for p in sys.path if p and os.path.isdir(p))
    return {os.path.realpath(d) for d in dirs}


def _prepare_filesystem_view(readonly: bool) -> None:
    """The fork server's own mount namespace, which every run copies: the interpreter's
    directories reachable by an unprivileged uid (a Python under a private home such as
    /root/.pyenv is exposed alone, on a tmpfs that hides the rest of that home) and,
    with ``readonly``, every mount read-only, nosuid and nodev."""
    isolation.unshare(isolation.CLONE_NEWNS)
    isolation.mount(None, "/", None, isolation.MS_REC | isolation.MS_PRIVATE)
    hidden: dict[str, set[str]] = {}
    for directory in sorted(_interpreter_dirs()):
        parts = directory.strip("/").split("/")
        for depth in range(1, len(parts)):
            ancestor = "/" + "/".join(parts[:depth])
            if not os.stat(ancestor).st_mode & 0o001:  # others cannot traverse it
                hidden.setdefault(ancestor, set()).add(directory)
                break
    for ancestor, keep in hidden.items():
        handles = {path: os.open(path, os.O_PATH | os.O_CLOEXEC) for path in keep}
        try:
            isolation.mount("tmpfs", ancestor, "tmpfs", isolation.MS_NOSUID | isolation.MS_NODEV, "size=1m,mode=0755")
            for path, fd in handles.items():
                os.makedirs(path, exist_ok=True)
                isolation.mount(f"/proc/self/fd/{fd}", path, None, isolation.MS_BIND | isolation.MS_REC)
        finally:
            for fd in handles.values():
                os.close(fd)
    _drop_mounts_runs_do_not_need()
    if readonly:
        isolation.make_mount_tree_readonly("/")


RUN_TMPFS_DIRS = ("/tmp", *PRIVATE_TMPFS_DIRS)
DROPPED_MOUNT_TREES = ("/sys", "/dev/pts", "/dev/mqueue", "/dev/hugepages", *RUN_TMPFS_DIRS)


def _drop_mounts_runs_do_not_need() -> None:
    """Every run's mount namespace is a copy of this one (each mount copied at the fork
    and torn down at the exit), so mounts a run has no use for go: /sys and everything
    under it (the host's devices, cgroups and limits are none of a run's business),
    /dev/pts and /dev/mqueue, the mounts under /proc (a run gets a /proc of its own on
    top), and whatever is mounted on the directories every run covers with a tmpfs of its
    own (/tmp, /dev/shm, /var/tmp, /run/lock)."""

    def dropped(point: str) -> bool:
        if point.startswith("/proc/"):
            return True
        return any(point == tree or point.startswith(tree + "/") for tree in DROPPED_MOUNT_TREES)

    for point in sorted(set(isolation.mount_points()), key=lambda p: -p.count("/")):
        while dropped(point):
            try:
                isolation.umount(point, isolation.MNT_DETACH)
            except OSError:
                break  # nothing (more) mounted there


class _LayerFailure(OSError):
    def __init__(self, layer: str, exc: BaseException) -> None:
        super().__init__(f"{layer}: {exc}")
        self.layer = layer


def _layer_step(layer: str, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except OSError as exc:
        raise _LayerFailure(layer, exc) from None


def _sethostname(name: str) -> None:
    import ctypes

    raw = name.encode()
    if isolation._libc.sethostname(raw, ctypes.c_size_t(len(raw))) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _rlimit_values(spec: dict[str, Any], extra_processes: int = 0) -> tuple[int, int, int, int, int, int]:
    """CPU seconds (soft, hard), address space, file size, open files, processes."""
    cpu = int(math.ceil(float(spec.get("time_limit_s", 5.0)))) + 1
    return (
        cpu, cpu + 1, int(spec.get("memory_mb", 512)) << 20, int(spec.get("max_file_mb", 16)) << 20,
        int(spec.get("max_open_files", 64)), int(spec.get("max_processes", 32)) + extra_processes,
    )  # fmt: skip


def _set_rlimits(spec: dict[str, Any], extra_processes: int = 0) -> None:
    """What sandbox_limit_and_drop in sandbox/_native.c sets, in Python."""
    cpu_soft, cpu_hard, memory, file_size, open_files, processes = _rlimit_values(spec, extra_processes)
    limits = {
        resource.RLIMIT_CPU: (cpu_soft, cpu_hard),
        resource.RLIMIT_AS: (memory, memory),
        resource.RLIMIT_FSIZE: (file_size, file_size),
        resource.RLIMIT_NOFILE: (open_files, open_files),
        resource.RLIMIT_NPROC: (processes, processes),
        resource.RLIMIT_CORE: (0, 0),
        resource.RLIMIT_MEMLOCK: (0, 0),
        resource.RLIMIT_MSGQUEUE: (0, 0),
    }
    for which, (soft, hard) in limits.items():
        resource.setrlimit(which, (soft, hard))


def _drop_privileges(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def _write_work_file(name: str, data: bytes, executable: bool = True) -> None:
    if os.path.isabs(name) or ".." in name.split("/"):
        raise OSError(22, f"file name {name!r} must stay inside the work dir")
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o755 if executable else 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _emit_raw(obj: Any) -> None:
    os.write(RECORDS_FD, (json.dumps(obj) + "\n").encode())


def _observe_layers(server: ForkServer, spec: dict[str, Any]) -> dict[str, bool]:
    """What actually holds inside a child, seen from inside."""
    status = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    observed = {
        "pid_ns": os.getpid() == 1,
        "uid": os.getuid() != 0 and os.geteuid() != 0 and os.getgid() != 0,
        "no_new_privs": status.get("NoNewPrivs") == "1",
        "seccomp": status.get("Seccomp") == "2",
        "rlimits": resource.getrlimit(resource.RLIMIT_NPROC)[0] == int(spec.get("max_processes", 32)),
    }
    for kind, layer in (("net", "net_ns"), ("ipc", "ipc_ns"), ("mnt", "mount_ns"), ("uts", "uts_ns")):
        observed[layer] = isolation.namespace_id(kind) != server_namespace_ids.get(kind)
    observed["private_proc"] = observed["pid_ns"] and not os.path.exists(f"/proc/{server_pid}")
    try:
        with open("/usr/.sandbox-probe", "w"):
            pass
        observed["readonly_root"] = False
    except OSError:
        observed["readonly_root"] = True
    try:
        import socket

        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
        observed["seccomp"] = False
    except OSError:
        pass
    return observed


server_namespace_ids: dict[str, str] = {}
server_pid = 0


def main() -> None:
    global server_pid
    channel_fd = int(sys.argv[1])
    uid = int(sys.argv[2])
    options = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    if not options.get("native_setup", True):
        isolation.native = None  # REWARD_SANDBOX_NATIVE=0: the Python setup (tests compare both)
    server = ForkServer(channel_fd, uid, options.get("layers"))
    server.home_cpu = options.get("cpu")
    server_pid = os.getpid()
    # Namespace identities of the host side, read before the server joins its own net ns.
    for kind in ("net", "ipc", "mnt", "uts"):
        server_namespace_ids[kind] = isolation.namespace_id(kind)
    try:
        server.start()
    except Exception as exc:
        send_message(channel_fd, {"op": "failed", "error": f"{type(exc).__name__}: {exc}"})
        raise SystemExit(1) from None
    server.serve()
