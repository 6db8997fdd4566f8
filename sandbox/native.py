"""The sandbox's native fast path: sandbox/_native.c, loaded with ctypes.

Plain C without Python headers, built by the install as an optional extension. It makes a
child's setup in the same call that forks it, runs the zygote's loop without Python
between forks, and sets a child's rlimits and drops its uid in one call. Without it the
fork server makes the same steps in Python.
"""

from __future__ import annotations

import ctypes
import os

NATIVE_ABI = 5
NATIVE_STEP_NAMES = {1: "descriptors", 2: "unshare", 3: "chdir", 4: "no_new_privs", 5: "stdin", 6: "cgroup", 7: "setns"}
CGROUP_FDS = 4
"""cgroup.procs files a child writes itself into: one per hierarchy in use."""
NATIVE_STEP_MOUNT = 100


class NativeMount(ctypes.Structure):
    _fields_ = [
        ("source", ctypes.c_char_p),
        ("target", ctypes.c_char_p),
        ("fstype", ctypes.c_char_p),
        ("flags", ctypes.c_ulong),
        ("data", ctypes.c_char_p),
    ]


class NativePlan(ctypes.Structure):
    """``struct sandbox_plan`` of sandbox/_native.c: what a child's setup makes."""

    _fields_ = [
        ("abi", ctypes.c_int),
        ("pid_ns_fd", ctypes.c_int),
        ("mnt_ns_fd", ctypes.c_int),
        ("fds", ctypes.c_int * 4),
        ("cgroup_fds", ctypes.c_int * CGROUP_FDS),
        ("unshare_flags", ctypes.c_int),
        ("n_mounts", ctypes.c_int),
        ("mounts", ctypes.POINTER(NativeMount)),
        ("workdir", ctypes.c_char_p),
        ("no_new_privs", ctypes.c_int),
        ("failed_step", ctypes.c_int),
        ("failed_errno", ctypes.c_int),
    ]


class NativeLimits(ctypes.Structure):
    """The rlimits sandbox_limit_and_drop sets: CPU (soft, hard), address space, file size,
    open files, processes (the ``long limits[6]`` it takes)."""

    _fields_ = [(name, ctypes.c_long) for name in ("cpu_soft", "cpu_hard", "memory", "file_size", "files", "processes")]


class NativeZygoteEntry(ctypes.Structure):
    _fields_ = [("key", ctypes.c_int), ("uid", ctypes.c_int), ("plan", ctypes.POINTER(NativePlan))]


ZYGOTE_MAX_LIVE = 256
ZYGOTE_CHILD_FAILED = 8
ZYGOTE_CHILD = 16
ZYGOTE_MAX_CGROUPS = 8


class NativeZygote(ctypes.Structure):
    """``struct sandbox_zygote`` of sandbox/_native.c: the zygote's loop state."""

    _fields_ = [
        ("abi", ctypes.c_int),
        ("channel", ctypes.c_int),
        ("n_plans", ctypes.c_int),
        ("plans", ctypes.POINTER(NativeZygoteEntry)),
        ("one_off", ctypes.POINTER(NativePlan)),
        ("pending", ctypes.c_int),
        ("request_key", ctypes.c_int),
        ("request_uid", ctypes.c_int),
        ("request_cgroup", ctypes.c_int),
        ("request_fds", ctypes.c_int * 4),
        ("request_workdir", ctypes.c_char * 4096),
        ("child_plan", ctypes.POINTER(NativePlan)),
        ("child_plan_index", ctypes.c_int),
        ("n_cgroups", ctypes.c_int),
        ("cgroup_fds", (ctypes.c_int * CGROUP_FDS) * ZYGOTE_MAX_CGROUPS),
        ("n_live", ctypes.c_int),
        ("live_pid", ctypes.c_int * ZYGOTE_MAX_LIVE),
        ("live_pidfd", ctypes.c_int * ZYGOTE_MAX_LIVE),
    ]


def _load() -> ctypes.PyDLL | None:
    """sandbox/_native.c as built by the install (``make install``), or None."""
    here = os.path.dirname(os.path.abspath(__file__))
    # Any build will do (plain C without Python headers): the fork servers may run on
    # another interpreter than the one that built it.
    for name in sorted(os.listdir(here)):
        path = os.path.join(here, name)
        if name.startswith("_native") and name.endswith(".so"):
            try:
                library = ctypes.PyDLL(path, use_errno=True)  # PyDLL: the GIL is held across the fork
            except OSError:
                continue
            if library.sandbox_native_abi() != NATIVE_ABI:
                continue  # a build of an older version of the C file
            library.sandbox_fork.restype = ctypes.c_int
            library.sandbox_fork.argtypes = (ctypes.POINTER(NativePlan),)
            library.sandbox_zygote_serve.restype = ctypes.c_int
            library.sandbox_zygote_serve.argtypes = (ctypes.POINTER(NativeZygote),)
            library.sandbox_limit_and_drop.restype = ctypes.c_int
            library.sandbox_limit_and_drop.argtypes = (ctypes.POINTER(NativeLimits), ctypes.c_int, ctypes.c_int)
            return library
    return None


lib = _load()
"""The loaded library, or None (not built, another ABI, or ``REWARD_SANDBOX_NATIVE=0``:
the fork server then sets it to None and makes the same steps in Python)."""


def native_plan(
    pid_ns_fd: int | None,
    mnt_ns_fd: int | None,
    unshare_flags: int,
    mounts: list[tuple[str | None, str, str | None, int, str | None]],
    workdir: str,
    no_new_privs: bool,
) -> NativePlan:
    """A plan for :func:`native_fork`; the caller sets ``plan.fds`` per child."""
    enc = lambda value: value.encode() if value is not None else None  # noqa: E731
    table = (NativeMount * max(1, len(mounts)))(*(NativeMount(enc(a), enc(b), enc(c), d, enc(e)) for a, b, c, d, e in mounts))
    plan = NativePlan(NATIVE_ABI, -1 if pid_ns_fd is None else pid_ns_fd, -1 if mnt_ns_fd is None else mnt_ns_fd)
    plan.cgroup_fds[:] = [-1] * CGROUP_FDS
    plan.unshare_flags = unshare_flags
    plan.n_mounts = len(mounts)
    plan.mounts = ctypes.cast(table, ctypes.POINTER(NativeMount))
    plan.workdir = workdir.encode()
    plan.no_new_privs = int(no_new_privs)
    plan._keep = table  # the mount table lives as long as the plan
    return plan


def native_fork(plan: NativePlan) -> int:
    """Fork a child and, in it, make the plan's setup (sandbox/_native.c). The pid in the
    parent, 0 in the child, which then finds ``plan.failed_step`` (0: all made)."""
    assert lib is not None
    pid = lib.sandbox_fork(ctypes.byref(plan))
    if pid < 0:
        raise OSError(-pid, f"fork: {os.strerror(-pid)}")
    return pid


class NativeZygoteLoop:
    """The zygote's loop in C (``sandbox_zygote_serve``): it forks a child per request of
    the fork server with the plan for the request's (/tmp size, uid), answers with the
    child's pidfd, and reports each child's exit status. It comes back to Python only in a
    child (:meth:`serve` returns the plan, key, uid and work dir, and whether a setup
    step failed), when the server is gone
    (None), and for a request whose plan does not exist yet (``make_plan`` is called)."""

    def __init__(self, channel: int, make_plan, cgroups: list[list[int]] = ()) -> None:
        assert lib is not None
        self.state = NativeZygote(NATIVE_ABI, channel)
        self.state.n_cgroups = min(len(cgroups), ZYGOTE_MAX_CGROUPS)
        for index, fds in enumerate(cgroups[:ZYGOTE_MAX_CGROUPS]):
            padded = [*fds, -1, -1, -1, -1][:CGROUP_FDS]
            self.state.cgroup_fds[index][:] = padded
        self.make_plan = make_plan
        self.plans: list[tuple[NativePlan, int, int, str | None]] = []
        """(plan, /tmp size, uid, host work dir), in the order of the C table."""
        self._one_off: tuple[NativePlan, int, int, str | None] | None = None

    def _add(self, key: int, uid: int, plan: NativePlan) -> None:
        self.plans.append((plan, key, uid, None))
        table = (NativeZygoteEntry * len(self.plans))(
            *(NativeZygoteEntry(k, u, ctypes.pointer(p)) for p, k, u, _ in self.plans)
        )
        self._table = table
        self.state.plans = ctypes.cast(table, ctypes.POINTER(NativeZygoteEntry))
        self.state.n_plans = len(self.plans)

    def serve(self) -> tuple[tuple[NativePlan, int, int, str | None], bool] | None:
        state = self.state
        while True:
            rc = lib.sandbox_zygote_serve(ctypes.byref(state))
            if rc >= ZYGOTE_CHILD - 1:  # in a child, set up: as little Python as can be
                return (self._one_off if rc == ZYGOTE_CHILD - 1 else self.plans[rc - ZYGOTE_CHILD]), False
            if rc == ZYGOTE_CHILD_FAILED:  # in a child whose setup failed: the plan says why
                index = state.child_plan_index
                return (self.plans[index] if index >= 0 else self._one_off), True
            if rc == 1:
                return None
            if rc == 2:
                key, uid = state.request_key, state.request_uid
                workdir = state.request_workdir.decode() or None
                plan = self.make_plan(key, uid, workdir or "/tmp")
                if workdir:
                    self._one_off = (plan, key, uid, workdir)
                    state.one_off = ctypes.pointer(plan)
                else:
                    self._add(key, uid, plan)
                continue
            raise OSError(-rc, f"zygote: {os.strerror(-rc)}")
