"""The fork server: one per pool slot, a warm interpreter that forks a fresh, isolated
child for every run.

It is started as a fresh ``python -I`` process with a scrubbed environment (so it holds
no secret of the service), joins a network namespace of its own with no interfaces up,
pre-imports the common standard modules, probes which isolation layers the host
allows, and then serves run requests from the pool over a socketpair, one at a time.

Per run: the child is forked into a new PID namespace (it is PID 1 there, so when it
exits the kernel kills every descendant), then, still root, it unshares mount, IPC and
UTS namespaces, makes the whole mount tree read-only, mounts private tmpfs work dirs
(/tmp, /dev/shm, /var/tmp, /run/lock) and a fresh /proc that shows only its own PID
namespace, sets rlimits, drops to the slot's unprivileged uid/gid with no groups, sets
no_new_privs and installs the seccomp filter, and only then runs the program. The
server enforces the wall-clock limit and the output caps, kills the child (and with it
the whole namespace) and reaps it.
"""

from __future__ import annotations

import json
import math
import os
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback
from typing import Any

from sandbox import isolation
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

# Modules a typical test program imports; loading them once here makes a run cost a fork.
WARM_MODULES = (
    "collections", "itertools", "functools", "heapq", "bisect", "math", "cmath", "random", "re",
    "string", "operator", "fractions", "decimal", "statistics", "copy", "json", "typing",
    "dataclasses", "array", "datetime", "hashlib", "io", "sys", "os", "time", "traceback",
    "marshal", "enum", "numbers", "struct", "textwrap", "unicodedata", "abc", "contextlib",
)  # fmt: skip


class SandboxSetupError(Exception):
    pass


class ForkServer:
    def __init__(self, channel_fd: int, uid: int, enabled_layers: dict[str, bool] | None = None) -> None:
        self.channel = channel_fd
        self.uid = uid
        self.gid = uid
        self.layers: dict[str, bool] = dict.fromkeys(LAYER_NAMES, True)
        if enabled_layers:
            self.layers.update(enabled_layers)
        self.layer_errors: dict[str, str] = {}
        self.seccomp: isolation.SeccompFilter | None = None
        self.own_pid_ns_fd: int | None = None
        self._prepared: _PreparedChild | None = None

    # ------------------------------------------------------------------ startup

    def start(self) -> None:
        try:
            isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            pass
        for name in WARM_MODULES:
            try:
                __import__(name)
            except ImportError:
                pass
        import sandbox.pyharness  # noqa: F401  (warm the in-sandbox runtime)

        self._prepare_layers()
        self._probe_layers()

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
        self._prepared = self._prepare(self._child_key({}))  # the first run's child
        send_message(self.channel, {"op": "ready", "layers": self.layers, "layer_errors": self.layer_errors})
        try:
            self._serve_requests()
        finally:
            self.discard_prepared()

    def _serve_requests(self) -> None:
        while True:
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
                out_blobs = [b"", traceback.format_exc().encode(), b""]
            send_message(self.channel, reply, out_blobs)

    # ------------------------------------------------------------------ one run

    def run(self, spec: dict[str, Any], blobs: list[bytearray]) -> tuple[dict[str, Any], list[bytes]]:
        """Hand the request to the prepared child (forking one now if none matches), fork
        the next child while this one runs, and supervise this one to the end."""
        probe = spec.get("mode") == "probe"
        key = self._child_key(spec)
        child, self._prepared = self._prepared, None
        if child is not None and child.key != key:
            child.discard()
            child = None
        if child is None:
            child = self._prepare(key)
        started = time.monotonic()
        try:
            self._hand_over(child, spec, blobs)
            if not probe:
                # The next run's child is forked now, while this one runs: its setup is
                # off the next request's path. The blobs are zeroed first, so it finds
                # none of this request in the memory it inherits.
                self._prepared = self._prepare(key)
            return self._supervise(child, started, spec)
        finally:
            child.release()

    @staticmethod
    def _child_key(spec: dict[str, Any]) -> int:
        """What a prepared child fixed before the request: the size of its /tmp."""
        return int(spec.get("max_file_mb", 16))

    def discard_prepared(self) -> None:
        if self._prepared is not None:
            self._prepared.discard()
            self._prepared = None

    def _prepare(self, key: int) -> _PreparedChild:
        """Fork a child and set it up up to the point where only the request is missing:
        namespaces entered, mounts made, seccomp on. It waits as root, so the per-request
        part is the rlimits and the drop to the slot's uid, done before any untrusted code."""
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        rec_r, rec_w = os.pipe2(os.O_CLOEXEC)
        control, child_control = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        host_workdir = None
        if not self.layers["mount_ns"]:
            host_workdir = tempfile.mkdtemp(prefix="sandbox-run-")
            if self.layers["uid"]:
                os.chown(host_workdir, self.uid, self.gid)
        if self.layers["pid_ns"]:
            assert self.own_pid_ns_fd is not None
            isolation.setns(self.own_pid_ns_fd, isolation.CLONE_NEWPID)  # reset pid_for_children
            isolation.unshare(isolation.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:  # ------------------------------------------------ the child
            code = 125
            try:
                for fd in (out_r, err_r, rec_r):
                    os.close(fd)
                control.close()
                self._child(key, child_control.fileno(), out_w, err_w, rec_w, host_workdir)
            except BaseException as exc:  # noqa: BLE001
                layer = getattr(exc, "layer", None)
                try:
                    os.write(2, traceback.format_exc().encode()[-4000:])
                except BaseException:  # noqa: BLE001
                    pass
                try:
                    msg = {"sandbox": "setup_failed", "layer": layer, "error": f"{type(exc).__name__}: {exc}"}
                    os.write(rec_w, (json.dumps(msg) + "\n").encode())
                except BaseException:  # noqa: BLE001
                    pass
            finally:
                os._exit(code)
        # ------------------------------------------------------------------ the server
        if self.layers["pid_ns"]:
            isolation.setns(self.own_pid_ns_fd, isolation.CLONE_NEWPID)  # later forks stay out of it
        for fd in (out_w, err_w, rec_w):
            os.close(fd)
        child_control.close()
        return _PreparedChild(key, pid, os.pidfd_open(pid), control, out_r, err_r, rec_r, host_workdir)

    def _hand_over(self, child: _PreparedChild, spec: dict[str, Any], blobs: list[bytearray]) -> None:
        """The request goes to the child as memfds (payload, stdin, driver) over its
        control socket; the request's buffers here are zeroed afterwards."""
        secret = spec.pop("driver_blob", None)
        source, stdin, *file_blobs = blobs
        driver = file_blobs.pop(secret) if secret is not None else None
        header = {k: spec[k] for k in _CHILD_SPEC_KEYS if k in spec}
        header["blob_sizes"] = [len(source), *(len(b) for b in file_blobs)]
        raw = json.dumps(header, separators=(",", ":")).encode()
        fds = [_memfd("request", _LEN.pack(len(raw)), raw, source, *file_blobs), _memfd("stdin", stdin)]
        if driver is not None:
            # The driver (e.g. assert code with the expected values) travels in a memfd
            # of its own; the candidate is forked before the driver reads it.
            fds.append(_memfd("driver", driver))
        try:
            socket.send_fds(child.control, [b"R"], fds)
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
        pid, pidfd = child.pid, child.pidfd
        out_r, err_r, rec_r = child.out_r, child.err_r, child.rec_r
        cap = int(spec.get("max_output_bytes", 1 << 20))
        deadline = started + float(spec.get("time_limit_s", 5.0))
        buffers = {out_r: bytearray(), err_r: bytearray(), rec_r: bytearray()}
        caps = {out_r: cap, err_r: cap, rec_r: MAX_RECORD_BYTES}
        open_fds = {out_r, err_r, rec_r}
        poller = select.poll()
        for fd in open_fds:
            poller.register(fd, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        killed_for: str | None = None
        exited = False
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
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        open_fds.discard(fd)
                        poller.unregister(fd)
                        continue
                    buf = buffers[fd]
                    room = caps[fd] - len(buf)
                    buf += chunk[: max(room, 0)]
                    if len(chunk) > room and killed_for is None:
                        killed_for = "output_limit"
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                if exited and open_fds and killed_for is not None:
                    break  # all writers are dead with the namespace; nothing more will come
        finally:
            _, status, usage = os.wait4(pid, 0)
            child.pid = None
        wall = time.monotonic() - started
        reply = {
            "exit_code": os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "killed_for": killed_for,
            "wall_s": wall,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "max_rss_mb": usage.ru_maxrss / 1024.0,
        }
        return reply, [bytes(buffers[out_r]), bytes(buffers[err_r]), bytes(buffers[rec_r])]

    # ------------------------------------------------------------------ inside the child

    def _child(
        self, tmp_mb_key: int, control_fd: int, out_w: int, err_w: int, rec_w: int, host_workdir: str | None
    ) -> None:
        layers = self.layers
        # ---- before the request: namespaces, file system view, no_new_privs, seccomp
        os.setsid()
        isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
        flags = 0
        if layers["mount_ns"]:
            flags |= isolation.CLONE_NEWNS
        if layers["ipc_ns"]:
            flags |= isolation.CLONE_NEWIPC
        if layers["uts_ns"]:
            flags |= isolation.CLONE_NEWUTS
        if flags:
            _layer_step("mount_ns" if flags & isolation.CLONE_NEWNS else "ipc_ns", isolation.unshare, flags)
        workdir = host_workdir or "/tmp"
        if layers["mount_ns"]:
            _layer_step("mount_ns", isolation.mount, None, "/", None, isolation.MS_REC | isolation.MS_PRIVATE)
            tmp_mb = max(64, 4 * tmp_mb_key)
            owner = f"uid={self.uid},gid={self.gid}" if layers["uid"] else "uid=0,gid=0"
            _layer_step(
                "mount_ns", isolation.mount, "tmpfs", "/tmp", "tmpfs",
                isolation.MS_NOSUID | isolation.MS_NODEV, f"size={tmp_mb}m,nr_inodes=4096,mode=0700,{owner}",
            )  # fmt: skip
            for path in PRIVATE_TMPFS_DIRS:
                if os.path.isdir(path):
                    _layer_step(
                        "mount_ns", isolation.mount, "tmpfs", path, "tmpfs",
                        isolation.MS_NOSUID | isolation.MS_NODEV | isolation.MS_NOEXEC,
                        f"size=8m,nr_inodes=256,mode=0700,{owner}",
                    )  # fmt: skip
            if layers["pid_ns"] and layers["private_proc"]:
                _layer_step(
                    "private_proc", isolation.mount, "proc", "/proc", "proc",
                    isolation.MS_NOSUID | isolation.MS_NODEV | isolation.MS_NOEXEC, None,
                )  # fmt: skip
        if layers["uts_ns"]:
            _layer_step("uts_ns", os.sethostname if hasattr(os, "sethostname") else _sethostname, "sandbox")
        os.chdir(workdir)

        # File descriptors: 1 stdout, 2 stderr, 3 records, 4 the control socket; nothing else
        # of the server's (no other run's pipes) survives.
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.dup2(rec_w, RECORDS_FD)
        os.dup2(control_fd, CONTROL_FD)
        os.closerange(CONTROL_FD + 1, 1 << 20)
        if layers["no_new_privs"]:
            _layer_step("no_new_privs", isolation.set_no_new_privs)
        if layers["seccomp"] and self.seccomp is not None:
            _layer_step("seccomp", self.seccomp.install)  # as root: allowed without no_new_privs too
        os.environ.clear()
        os.environ.update(CHILD_ENV)

        # ---- the request: a payload memfd, the stdin memfd, the driver memfd
        spec, source, files, driver_fd = _receive_request()
        if driver_fd is not None:
            os.dup2(driver_fd, CONTROL_FD)  # replaces the control socket
        else:
            os.close(CONTROL_FD)
        keep = RECORDS_FD + 1 + (driver_fd is not None)
        os.closerange(keep, 1 << 20)

        # ---- before any untrusted code: rlimits, then the slot's uid
        if layers["rlimits"]:
            _layer_step("rlimits", _set_rlimits, spec)
        if layers["uid"]:
            _layer_step("uid", _drop_privileges, self.uid, self.gid)
        for name, data in files.items():
            _write_work_file(name, data)
        if spec.get("source_file"):
            _write_work_file(spec["source_file"], source, executable=False)

        if spec.get("mode") == "probe":
            _emit_raw({"sandbox": "ready"})
            _emit_raw({"probe": _observe_layers(self, spec)})
            os._exit(0)

        from sandbox import pyharness

        mode = spec["mode"]
        _emit_raw({"sandbox": "ready"})
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


class _PreparedChild:
    """A forked, set-up child waiting for its one request, and the server's ends of it."""

    def __init__(
        self, key: int, pid: int, pidfd: int, control: socket.socket, out_r: int, err_r: int, rec_r: int,
        host_workdir: str | None,
    ) -> None:  # fmt: skip
        self.key = key
        self.pid: int | None = pid
        self.pidfd = pidfd
        self.control = control
        self.out_r, self.err_r, self.rec_r = out_r, err_r, rec_r
        self.host_workdir = host_workdir

    def discard(self) -> None:
        """Kill it unused (its setup no longer matches) and reap it."""
        if self.pid is not None:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = None
        self.release()

    def release(self) -> None:
        self.control.close()
        for fd in (self.pidfd, self.out_r, self.err_r, self.rec_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self.pidfd = self.out_r = self.err_r = self.rec_r = -1
        if self.host_workdir is not None:
            shutil.rmtree(self.host_workdir, ignore_errors=True)
            self.host_workdir = None


_CHILD_SPEC_KEYS = (
    "mode", "argv", "files", "collect", "time_limit_s", "memory_mb", "max_processes", "max_file_mb",
    "max_open_files", "driver_data", "restarts", "source_file",
)  # fmt: skip
_LEN = struct.Struct(">I")


def _memfd(name: str, *parts: bytes | bytearray) -> int:
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    for part in parts:
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view) :]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _receive_request() -> tuple[dict[str, Any], bytes, dict[str, bytes], int | None]:
    """In the prepared child: wait for the request on the control socket."""
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, CONTROL_FD)
    try:
        _, fds, _, _ = socket.recv_fds(control, 1, 3)
    finally:
        control.detach()
    if len(fds) < 2:
        os._exit(0)  # the server discarded this child unused
    payload_fd, stdin_fd, *rest = fds
    payload = os.pread(payload_fd, os.fstat(payload_fd).st_size, 0)
    os.close(payload_fd)
    os.dup2(stdin_fd, 0)
    os.close(stdin_fd)
    (size,) = _LEN.unpack_from(payload)
    spec = json.loads(payload[_LEN.size : _LEN.size + size])
    offset = _LEN.size + size
    blobs = []
    for n in spec.pop("blob_sizes"):
        blobs.append(payload[offset : offset + n])
        offset += n
    source, *file_blobs = blobs
    files = dict(zip(spec.get("files", []), file_blobs, strict=True))
    return spec, source, files, (rest[0] if rest else None)


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
    if readonly:
        isolation.make_mount_tree_readonly("/")


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


def _set_rlimits(spec: dict[str, Any]) -> None:
    cpu = int(math.ceil(float(spec.get("time_limit_s", 5.0)))) + 1
    memory = int(spec.get("memory_mb", 512)) << 20
    limits = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (memory, memory),
        resource.RLIMIT_FSIZE: (int(spec.get("max_file_mb", 16)) << 20,) * 2,
        resource.RLIMIT_NOFILE: (int(spec.get("max_open_files", 64)),) * 2,
        resource.RLIMIT_NPROC: (int(spec.get("max_processes", 32)),) * 2,
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
    enabled = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
    server = ForkServer(channel_fd, uid, enabled)
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
