"""The isolation layers: what the fork server sets up for itself at start-up, and the
probe that runs one child through the full setup and keeps the layers that held."""

from __future__ import annotations

import json
import os
import resource
import sys
from collections.abc import Callable
from typing import Any

from sandbox import isolation
from sandbox.constants import LAYER_NAMES
from sandbox.forkserver import root
from sandbox.forkserver.runcgroups import RunCgroups
from sandbox.forkserver.slot import SandboxSetupError, Slot
from sandbox.settings import PROBE, RunSettings

PRIVATE_TMPFS_DIRS = ("/dev/shm", "/var/tmp", "/run/lock")
"""Covered by a private tmpfs in every run (besides /tmp, the work dir)."""
RUN_TMPFS_DIRS = ("/tmp", *PRIVATE_TMPFS_DIRS)
DROPPED_MOUNT_TREES = ("/sys", "/dev/pts", "/dev/mqueue", "/dev/hugepages", *RUN_TMPFS_DIRS)

_host: dict[str, Any] = {"pid": 0, "namespaces": {}, "checkout": ""}
"""The fork server's pid, the host side's namespace identities and the service's
checkout, for the probe."""


def record_host_identity(checkout: str = "") -> None:
    """Read before the server joins namespaces of its own: what a child must differ from."""
    _host["pid"] = os.getpid()
    _host["namespaces"] = {kind: isolation.namespace_id(kind) for kind in ("net", "ipc", "mnt", "uts")}
    _host["checkout"] = checkout


def prepare(slot: Slot, options: dict[str, Any] | None = None) -> None:
    """The server's own namespaces, cgroups and file system view, which every run starts
    from. ``options`` carries the pool's plans: ``root`` (sandbox/rootspec.py) and
    ``cgroups`` (sandbox/cgroups.py)."""
    options = options or {}
    layers = slot.layers
    if os.geteuid() != 0:
        for layer in ("pid_ns", "net_ns", "ipc_ns", "mount_ns", "uts_ns", "readonly_root", "private_proc", "uid",
                      "minimal_root", "run_limits"):  # fmt: skip
            slot.disable(layer, "the sandbox is not running as root")
    if layers["run_limits"]:
        # Made while the host's /sys is still in view; only descriptors are kept.
        groups = RunCgroups(options.get("cgroups"), f"slot{slot.uids[0]}")
        if groups:
            slot.cgroups = groups
            slot.cgroup_fds = groups.procs_table()
        else:
            slot.disable("run_limits", groups.error or "no cgroup hierarchy is usable (see the pool's limits report)")
    if layers["net_ns"]:
        try:
            isolation.unshare(isolation.CLONE_NEWNET)
        except OSError as exc:
            slot.disable("net_ns", str(exc))
    # The slot's own IPC and UTS namespaces, shared by its runs one after the other:
    # a run cannot change the hostname (no capability) and cannot create SysV IPC
    # objects or message queues (the filter), so nothing in them outlives a run. Without
    # the filter every run gets an IPC namespace of its own (see prepare.unshare_flags).
    for layer, flag in (("ipc_ns", isolation.CLONE_NEWIPC), ("uts_ns", isolation.CLONE_NEWUTS)):
        if layers[layer]:
            try:
                isolation.unshare(flag)
                if layer == "uts_ns":
                    _sethostname("sandbox")
            except OSError as exc:
                slot.disable(layer, str(exc))
    if layers["pid_ns"]:
        try:
            slot.own_pid_ns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            slot.disable("pid_ns", str(exc))
    if not layers["mount_ns"]:
        slot.disable("minimal_root", "needs mount_ns")
    elif not (layers["pid_ns"] and layers["private_proc"]):
        slot.disable("minimal_root", "needs pid_ns and private_proc (a run's /proc is its own)")
    else:
        try:
            isolation.unshare(isolation.CLONE_NEWNS)
            isolation.mount(None, "/", None, isolation.MS_REC | isolation.MS_PRIVATE)
            plans = options.get("root")
            if layers["minimal_root"] and plans:
                try:
                    slot.root_ns_fds, slot.host_proc_fd = root.build(plans, slot.uids)
                    slot.module_path = list(plans["module_path"])
                except OSError as exc:
                    slot.disable("minimal_root", f"building the run's root: {exc}")
            elif layers["minimal_root"]:
                slot.disable("minimal_root", "the pool sent no plan of the root")
            if not layers["minimal_root"]:
                _prepare_filesystem_view(layers["readonly_root"])
        except OSError as exc:
            slot.disable("mount_ns", f"preparing the file system view: {exc}")
            slot.disable("readonly_root", "needs mount_ns")
            slot.disable("minimal_root", "needs mount_ns")
    if layers["seccomp"]:
        try:
            slot.seccomp = isolation.SeccompFilter()
        except OSError as exc:
            slot.disable("seccomp", str(exc))


def probe(slot: Slot, run: Callable[[RunSettings, list[bytearray]], tuple[dict[str, Any], list[bytes]]]) -> None:
    """Run the full child setup once with a probe program; keep the layers that held."""
    for _attempt in range(len(LAYER_NAMES)):
        settings = RunSettings(mode=PROBE, time_limit_s=10, wall_limit_s=10, memory_mb=256, max_output_bytes=65536)
        reply, blobs = run(settings, [bytearray(), bytearray()])
        records = [json.loads(line) for line in blobs[2].splitlines() if line.strip()]
        failed = next((r for r in records if r.get("sandbox") == "setup_failed"), None)
        if failed is not None:
            slot.disable(failed.get("layer") or "rlimits", failed.get("error", "setup failed"))
            continue
        observed = next((r for r in records if "probe" in r), None)
        if observed is None:
            raise SandboxSetupError(f"probe run produced no report: {reply} {blobs[1][-2000:]!r}")
        for layer, held in observed["probe"].items():
            if slot.layers.get(layer) and not held:
                slot.disable(layer, "probe found the layer not in effect")
        return
    raise SandboxSetupError("the sandbox could not set up a child with any set of layers")


def observe(settings: RunSettings) -> dict[str, bool]:
    """In the probe's child: what actually holds, seen from inside."""
    status = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                status[key] = value.strip()
    except OSError:
        pass  # no /proc to look at (the layers it shows are reported not held)
    observed = {
        "pid_ns": os.getpid() == 1,
        "uid": os.getuid() != 0 and os.geteuid() != 0 and os.getgid() != 0,
        "no_new_privs": status.get("NoNewPrivs") == "1",
        "seccomp": status.get("Seccomp") == "2",
        "rlimits": resource.getrlimit(resource.RLIMIT_NPROC)[0] == settings.max_processes,
    }
    host_namespaces = _host["namespaces"]
    for kind, layer in (("net", "net_ns"), ("ipc", "ipc_ns"), ("mnt", "mount_ns"), ("uts", "uts_ns")):
        try:
            observed[layer] = isolation.namespace_id(kind) != host_namespaces.get(kind)
        except OSError:
            observed[layer] = False
    observed["private_proc"] = observed["pid_ns"] and not os.path.exists(f"/proc/{_host['pid']}")
    try:
        with open("/usr/.sandbox-probe" if os.path.isdir("/usr") else "/.sandbox-probe", "w"):
            pass
        observed["readonly_root"] = False
    except OSError:
        observed["readonly_root"] = True
    checkout = _host["checkout"]
    try:
        with open("/etc/hostname") as fh:
            own_etc = fh.read() == "sandbox\n"
    except OSError:
        own_etc = False
    observed["minimal_root"] = own_etc and not (checkout and os.path.exists(checkout))
    try:
        with open("/proc/self/cgroup") as fh:
            observed["run_limits"] = "reward-sandbox-" in fh.read()
    except OSError:
        observed["run_limits"] = False
    try:
        import socket

        socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
        observed["seccomp"] = False
    except OSError:
        pass
    return observed


def _interpreter_dirs() -> set[str]:
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    dirs.add(os.path.dirname(os.path.realpath(sys.executable)))
    dirs.update(p for p in sys.path if p and os.path.isdir(p))
    return {os.path.realpath(d) for d in dirs}


def _prepare_filesystem_view(readonly: bool) -> None:
    """Where the minimal root cannot be built: the host's file system, in the fork
    server's own mount namespace, which every run copies: the interpreter's
    directories reachable by an unprivileged uid (a Python under a private home such as
    /root/.pyenv is exposed alone, on a tmpfs that hides the rest of that home) and,
    with ``readonly``, every mount read-only, nosuid and nodev."""
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
        isolation.mount_setattr("/", isolation.MOUNT_ATTR_RDONLY | isolation.MOUNT_ATTR_NOSUID | isolation.MOUNT_ATTR_NODEV)


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


def _sethostname(name: str) -> None:
    import ctypes

    raw = name.encode()
    if isolation._libc.sethostname(raw, ctypes.c_size_t(len(raw))) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
