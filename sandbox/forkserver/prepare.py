"""A child's set-up: forked into a PID namespace of its own, its descriptors, session,
mount namespace, mounts, work dir and no_new_privs made, up to the point where only the
request is missing (:mod:`.child` takes it from there).

The steps are made by sandbox/_native.c in the same call that forks the child when the
native fast path is built (every Python instruction a fresh child runs writes to pages it
shares with the zygote), else in Python here. The server's side of a child is a
:class:`PreparedChild`: its ends of the child's pipes and control socket.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import traceback

from sandbox import isolation, native
from sandbox.constants import CONTROL_FD
from sandbox.forkserver import child as child_run
from sandbox.forkserver.layers import PRIVATE_TMPFS_DIRS
from sandbox.forkserver.slot import LayerFailure, Slot, layer_step
from sandbox.settings import key_parts
from sandbox.wire import RECORDS_FD

Mount = tuple[str | None, str, str | None, int, str | None]


class PreparedChild:
    """A child prepared for one request: the server's ends of its pipes and control
    socket (allocated before it is forked), its pid once forked, its pidfd once active."""

    def __init__(
        self, key: int, uid: int, control: socket.socket, child_control: socket.socket, out: tuple[int, int],
        err: tuple[int, int], rec: tuple[int, int], host_workdir: str | None, cgroup: int = -1,
    ) -> None:  # fmt: skip
        self.key = key
        self.uid = uid
        self.cgroup = cgroup
        """The index of the slot's cgroup the child moves into (-1: none)."""
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

    @property
    def child_ends(self) -> tuple[int, int, int, int]:
        """What the child gets as descriptors 1 to 4: stdout, stderr, records, control."""
        return self.out_w, self.err_w, self.rec_w, self.child_control.fileno()

    def close_child_ends(self) -> None:
        """Once the child holds its ends (or the zygote does, to fork it), the server
        keeps only its own: end of file then means the run is done with them."""
        for fd in (self.out_w, self.err_w, self.rec_w):
            if fd >= 0:
                os.close(fd)
        self.out_w = self.err_w = self.rec_w = -1
        self.child_control.close()

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


def allocate(slot: Slot, key: int, uid: int, cgroup: int = -1) -> PreparedChild:
    """The server's side of a child to be prepared: its pipes and control socket, and a
    host work dir when there is no mount namespace."""
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    rec_r, rec_w = os.pipe2(os.O_CLOEXEC)
    control, child_control = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    host_workdir = None
    if not slot.layers["mount_ns"]:
        import tempfile  # only without a mount namespace: not loaded in the fork server

        host_workdir = tempfile.mkdtemp(prefix="sandbox-run-")
        if slot.layers["uid"]:
            os.chown(host_workdir, uid, uid)
    pipes = (out_r, out_w), (err_r, err_w), (rec_r, rec_w)
    return PreparedChild(key, uid, control, child_control, *pipes, host_workdir, cgroup)


def fork_child(
    slot: Slot, key: int, uid: int, fds: tuple[int, int, int, int], host_workdir: str | None, cgroup: int = -1
) -> int:
    """Fork one child into a PID namespace of its own; in the child, set it up: with
    the native fast path (sandbox/_native.c) when it is built, else in Python. ``fds``
    become its descriptors 1 to 4 (stdout, stderr, records, control); ``cgroup`` is the
    slot's cgroup it moves into."""
    workdir = host_workdir or "/tmp"
    plan = None
    procs = slot.cgroup_fds[cgroup] if 0 <= cgroup < len(slot.cgroup_fds) else []
    if native.lib is not None:
        plan = native_plan(slot, key, uid, workdir)
        plan.fds[:] = fds
        plan.cgroup_fds[:] = [*procs, -1, -1, -1, -1][: native.CGROUP_FDS]
        pid = native.native_fork(plan)
    else:
        if slot.layers["pid_ns"]:
            assert slot.own_pid_ns_fd is not None
            isolation.setns(slot.own_pid_ns_fd, isolation.CLONE_NEWPID)  # reset pid_for_children
            isolation.unshare(isolation.CLONE_NEWPID)
        pid = isolation.fork()
        if pid and slot.layers["pid_ns"]:
            isolation.setns(slot.own_pid_ns_fd, isolation.CLONE_NEWPID)  # later forks stay out of it
    if pid:
        return pid
    in_child(slot, plan, key, uid, workdir, fds, cgroup_procs=procs)  # never returns
    return 0


def in_child(
    slot: Slot,
    plan: native.NativePlan | None,
    key: int,
    uid: int,
    workdir: str,
    fds: tuple[int, ...] = (),
    failed: bool | None = None,
    cgroup_procs: list[int] = (),  # type: ignore[assignment]
) -> None:
    """In a freshly forked child: its setup (unless the native fork made it: ``plan``,
    ``failed`` when known without reading the plan), then the run; the process ends here."""
    code = 125
    try:
        if plan is None:
            _python_setup(slot, key, uid, fds, workdir, cgroup_procs)
        elif plan.failed_step if failed is None else failed:
            step = plan.failed_step
            layer = plan.layers[step - native.NATIVE_STEP_MOUNT] if step >= native.NATIVE_STEP_MOUNT else (
                ("mount_ns" if plan.unshare_flags & isolation.CLONE_NEWNS else "ipc_ns") if step == 2 else
                "no_new_privs" if step == 4 else "minimal_root" if step == 7 else "run_limits" if step == 6 else None
            )  # fmt: skip
            what = native.NATIVE_STEP_NAMES.get(step, "mount")
            raise LayerFailure(layer or "rlimits", OSError(plan.failed_errno, f"{what}: {os.strerror(plan.failed_errno)}"))
        child_run.run(slot, uid, workdir)
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


def mounts(slot: Slot, key: int, uid: int) -> list[tuple[str, Mount]]:
    """A child's mounts, each with the layer it belongs to: its mount namespace made
    private, a tmpfs work dir (besides, without the minimal root, tmpfs over the host's
    other shared temporary directories), a /proc of its PID namespace."""
    layers = slot.layers
    if not layers["mount_ns"]:
        return []
    tmp_mb, _root = key_parts(key)
    owner = f"uid={uid},gid={uid}" if layers["uid"] else "uid=0,gid=0"
    nosuid_nodev = isolation.MS_NOSUID | isolation.MS_NODEV
    made: list[tuple[str, Mount]] = [
        ("mount_ns", (None, "/", None, isolation.MS_REC | isolation.MS_PRIVATE, None)),
        ("mount_ns", ("tmpfs", "/tmp", "tmpfs", nosuid_nodev, f"size={tmp_mb}m,nr_inodes=4096,mode=0700,{owner}")),
    ]
    for path in () if layers["minimal_root"] else PRIVATE_TMPFS_DIRS:
        if os.path.isdir(path):
            data = f"size=8m,nr_inodes=256,mode=0700,{owner}"
            made.append(("mount_ns", ("tmpfs", path, "tmpfs", nosuid_nodev | isolation.MS_NOEXEC, data)))
    if layers["pid_ns"] and layers["private_proc"]:
        made.append(("private_proc", ("proc", "/proc", "proc", nosuid_nodev | isolation.MS_NOEXEC, None)))
    return made


def unshare_flags(slot: Slot) -> int:
    flags = isolation.CLONE_NEWNS if slot.layers["mount_ns"] else 0
    if slot.layers["ipc_ns"] and not slot.layers["seccomp"]:
        flags |= isolation.CLONE_NEWIPC  # without the filter, SysV IPC objects could outlive a run
    return flags


def native_plan(slot: Slot, key: int, uid: int, workdir: str) -> native.NativePlan:
    """The native setup of a child, made once per (/tmp size, uid, work dir) and kept."""
    plan = slot.plans.get((key, uid, workdir))
    if plan is None:
        plan = make_native_plan(slot, key, uid, workdir)
        if workdir == "/tmp":  # not a host work dir, made for one child only
            slot.plans[(key, uid, workdir)] = plan
    return plan


def root_ns(slot: Slot, key: int) -> int | None:
    """The mount namespace a child of this key enters first: its root's, when that is not
    the run root (the server's own)."""
    index = key_parts(key)[1]
    if not slot.layers["mount_ns"] or index >= len(slot.root_ns_fds):
        return None
    return slot.root_ns_fds[index]


def make_native_plan(slot: Slot, key: int, uid: int, workdir: str) -> native.NativePlan:
    made = mounts(slot, key, uid)
    pid_ns_fd = slot.own_pid_ns_fd if slot.layers["pid_ns"] else None
    plan = native.native_plan(
        pid_ns_fd, root_ns(slot, key), unshare_flags(slot), [m for _, m in made], workdir, slot.layers["no_new_privs"]
    )
    plan.layers = [layer for layer, _ in made]
    return plan


def _python_setup(slot: Slot, key: int, uid: int, fds: tuple[int, ...], workdir: str, procs: list[int]) -> None:
    """In the child, without the native fast path: what sandbox/_native.c does."""
    # File descriptors: 1 stdout, 2 stderr, 3 records, 4 the control socket;
    # nothing else of the server's (no other child's pipes) survives.
    ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 16) for fd in fds]
    procs = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 16) for fd in procs]
    entered = root_ns(slot, key)
    entered = None if entered is None else fcntl.fcntl(entered, fcntl.F_DUPFD_CLOEXEC, 16)
    for target, fd in enumerate(ends, start=1):
        os.dup2(fd, target)
    # With the descriptors in place (a failure below is reported on them): into the run's
    # cgroups (every page and CPU second of the run counts there), into the compile root.
    for fd in procs:
        layer_step("run_limits", os.pwrite, fd, b"0", 0)
    if entered is not None:
        layer_step("minimal_root", isolation.setns, entered, isolation.CLONE_NEWNS)
    os.closerange(CONTROL_FD + 1, 1 << 20)
    os.setsid()
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    flags = unshare_flags(slot)
    if flags:
        layer_step("mount_ns" if flags & isolation.CLONE_NEWNS else "ipc_ns", isolation.unshare, flags)
    for layer, mount in mounts(slot, key, uid):
        layer_step(layer, isolation.mount, *mount)
    os.chdir(workdir)
    if slot.layers["no_new_privs"]:
        layer_step("no_new_privs", isolation.set_no_new_privs)
    empty = os.memfd_create("stdin", 0)  # stdin when the request brings none
    if empty != 0:
        os.dup2(empty, 0)
        os.close(empty)
