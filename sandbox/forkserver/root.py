"""The minimal roots a fork server's runs see, built from the pool's plans (sandbox/rootspec.py).

A root is a tmpfs holding read-only bind mounts of the host paths the plan names, the
symbolic links it names, an empty tmpfs over each masked directory, the device nodes
/dev/null, /dev/zero, /dev/full, /dev/random and /dev/urandom, an /etc of its own
(passwd and group naming the slot's uids, hosts) and empty /proc and /tmp for every run's
own. Everything is then made read-only, nosuid and nodev (the root tmpfs keeps its device
nodes), and the server pivots into the run root: the host's file system is gone from
its mount namespace, and so from every run's, which copies it.

The compile root (the run root plus the compilers) and the roots of languages whose runs
need more of the host are mount namespaces of their own; a child of such a step enters
its root's namespace before its own setup.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

from sandbox import isolation

STAGING = "/tmp"
"""Where a root is assembled before the pivot (the host's /tmp is never shown)."""
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9)}
DEVICE_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
                "stderr": "/proc/self/fd/2", "shm": "/tmp"}  # fmt: skip
SYS_pivot_root_x86_64 = 155
_DEVICE_MOUNTS: set[str] = set()
"""Device nodes bound from the host (no CAP_MKNOD): the only mounts of a root that keep
their devices usable (every other is nodev)."""


def build(plans: dict[str, Any], uids: tuple[int, int]) -> tuple[list[int | None], int]:
    """In the server's own (private) mount namespace: build every root of ``plans["roots"]``
    (the run root first, then each other root: the run root's plan plus its own) and enter
    the run root. Returns, per root in that order, a descriptor of its mount namespace
    (None for the run root, which is the server's own), and one of the host's /proc, which
    the server keeps to read its runs' usage.

    Each root is a tmpfs of its own (a mount point made for the compile root's compilers
    would otherwise show, empty, in the run root too)."""
    host_proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    run_ns = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        roots = plans["roots"]
        run_plan = roots[0][1]
        namespaces: list[int | None] = [None]
        for _name, plan in roots[1:]:
            if not plan["binds"] and not plan["links"]:
                namespaces.append(None)  # nothing to add: its runs see the run root
                continue
            isolation.unshare(isolation.CLONE_NEWNS)
            _stage([run_plan, plan], uids)
            namespaces.append(os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC))
            _enter()
            isolation.setns(run_ns, isolation.CLONE_NEWNS)  # back on the host's file system
        _stage([run_plan], uids)
        _enter()
        return namespaces, host_proc
    finally:
        os.close(run_ns)


def _stage(plans: list[dict[str, Any]], uids: tuple[int, int]) -> None:
    """A root at STAGING from ``plans`` (binds are made from descriptors opened in this
    mount namespace, before the staging tmpfs covers anything under /tmp)."""
    handles = {host: fd for plan in plans for host, fd in _handles(plan).items()}
    try:
        isolation.mount("tmpfs", STAGING, "tmpfs", isolation.MS_NOSUID, "size=4m,nr_inodes=4096,mode=0755")
        for plan in plans:
            _populate(plan, handles)
        _skeleton(uids)
    finally:
        _close(handles)


def _handles(plan: dict[str, Any]) -> dict[str, int]:
    handles: dict[str, int] = {}
    try:
        for host, _ in plan["binds"]:
            handles[host] = os.open(host, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        _close(handles)
        raise
    return handles


def _close(handles: dict[str, int]) -> None:
    for fd in handles.values():
        os.close(fd)


def _at(path: str) -> str:
    return STAGING + path


def _populate(plan: dict[str, Any], handles: dict[str, int]) -> None:
    for path, text in plan["links"]:
        os.makedirs(_at(os.path.dirname(path)), exist_ok=True)
        if not os.path.lexists(_at(path)):
            os.symlink(text, _at(path))
    for host, target in plan["binds"]:
        fd = handles[host]
        point = _at(target)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.makedirs(point, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(point), exist_ok=True)
            if not os.path.exists(point):
                os.close(os.open(point, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644))
        isolation.mount(f"/proc/self/fd/{fd}", point, None, isolation.MS_BIND | isolation.MS_REC)
    for path in plan["masks"]:
        if os.path.isdir(_at(path)):
            isolation.mount("tmpfs", _at(path), "tmpfs", isolation.MS_NOSUID | isolation.MS_NODEV, "size=4k,nr_inodes=16,mode=0755")


def _skeleton(uids: tuple[int, int]) -> None:
    """/proc and /tmp (every run mounts its own), /dev and /etc."""
    for directory in ("/proc", "/tmp", "/dev", "/etc"):
        os.makedirs(_at(directory), exist_ok=True)
    os.chmod(_at("/tmp"), 0o1777)
    for name, (major, minor) in DEVICES.items():
        path = _at(f"/dev/{name}")
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
            os.chmod(path, 0o666)
        except PermissionError:  # no CAP_MKNOD (some containers): the host's node, bound
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666))
            isolation.mount(f"/dev/{name}", path, None, isolation.MS_BIND)
            _DEVICE_MOUNTS.add(path)
    for name, text in DEVICE_LINKS.items():
        os.symlink(text, _at(f"/dev/{name}"))
    users = "".join(f"sandbox{i}:x:{uid}:{uid}:sandbox:/tmp:/bin/sh\n" for i, uid in enumerate(uids))
    files = {
        "passwd": "root:x:0:0:root:/root:/bin/sh\n" + users + "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        "group": "root:x:0:\n" + "".join(f"sandbox{i}:x:{uid}:\n" for i, uid in enumerate(uids)) + "nogroup:x:65534:\n",
        "hosts": "127.0.0.1 localhost\n::1 localhost\n",
        "hostname": "sandbox\n",
    }
    for name, text in files.items():
        if not os.path.exists(_at(f"/etc/{name}")):
            with open(_at(f"/etc/{name}"), "w") as fh:
                fh.write(text)


def _enter() -> None:
    """Make the staged root read-only, nosuid and nodev (its own tmpfs keeps the device
    nodes) and pivot into it; the host's root is detached."""
    flags = isolation.MOUNT_ATTR_RDONLY | isolation.MOUNT_ATTR_NOSUID | isolation.MOUNT_ATTR_NODEV
    try:
        isolation.mount_setattr(STAGING, flags, 0, recursive=True)
        for point in (STAGING, *_DEVICE_MOUNTS):
            isolation.mount_setattr(point, 0, isolation.MOUNT_ATTR_NODEV, recursive=False)
    except OSError:
        _remount_readonly()
    _DEVICE_MOUNTS.clear()
    os.chdir(STAGING)
    if isolation._libc.syscall(SYS_pivot_root_x86_64, b".", b".") == 0:
        isolation.umount(".", isolation.MNT_DETACH)
        os.chdir("/")
        return
    import ctypes

    err = ctypes.get_errno()
    if err not in (errno.EPERM, errno.EACCES, errno.EINVAL, errno.ENOSYS):
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    # Where pivot_root is refused (a container runtime's default seccomp profile): the
    # staged root is moved onto "/", covering the host's, and becomes this process's root
    # (the runs, without capabilities, can neither unmount it nor leave a chroot).
    isolation.mount(STAGING, "/", None, isolation.MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def _remount_readonly() -> None:
    """Where mount_setattr is missing: each mount under the staging root remounted."""
    points = [p for p in isolation.mount_points() if p == STAGING or p.startswith(STAGING + "/")]
    for point in points:
        flags = isolation.MS_REMOUNT | isolation.MS_BIND | isolation.MS_RDONLY | isolation.MS_NOSUID
        if point != STAGING and point not in _DEVICE_MOUNTS:
            flags |= isolation.MS_NODEV
        isolation.mount(None, point, None, flags)
