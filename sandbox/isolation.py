"""Kernel isolation primitives over libc (ctypes): namespaces, mounts, prctl, seccomp.

Python 3.11 has no ``os.unshare``/``os.setns``/``mount``; these are thin, checked
wrappers. The seccomp filter is a hand-built classic-BPF program (no libseccomp
needed): a deny list of syscalls that a test program has no business making
(ptrace, the new mount API, chroot, kernel modules, keyrings, bpf, io_uring, SysV IPC,
...), ``socket`` limited to AF_UNIX, ``clone`` and ``unshare`` without the namespace
flags a child's setup does not use (no user namespace, ever), and foreign ABIs killed.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc_holding_gil = ctypes.PyDLL(None, use_errno=True)
_fork = _libc_holding_gil.fork
_fork.restype = ctypes.c_int
_fork.argtypes = ()

# clone/unshare flags (linux/sched.h)
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080
NAMESPACE_FLAGS = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET

# mount flags (linux/mount.h)
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18

# prctl options (linux/prctl.h)
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2

# mount_setattr (Linux 5.12+)
SYS_mount_setattr_x86_64 = 442
AT_FDCWD = -100
AT_RECURSIVE = 0x8000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def fork() -> int:
    """fork(2) without CPython's at-fork machinery, for a single-threaded process.

    ``os.fork`` re-initialises the runtime's thread and import state and runs the
    registered at-fork callbacks in the child; in a warm interpreter of this size that
    writes to a couple of hundred shared pages (copy-on-write faults) before the child
    runs a line. With one thread there is nothing to re-initialise: the child goes on
    with the interpreter as it was, holding the GIL (the call never released it). The
    callers reseed :mod:`random` in the child themselves (``reseed_random``)."""
    pid = _fork()
    if pid < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"fork: {os.strerror(err)}")
    return pid


def reseed_random() -> None:
    """What ``os.fork``'s at-fork callback does for :mod:`random` in a child: a fresh
    seed, so runs forked from one server do not share a random sequence."""
    import sys

    module = sys.modules.get("random")
    if module is not None:
        # Random.seed(None) without its Python-level argument checks: the C method, and
        # what the Python method resets besides.
        instance = module._inst
        module.Random.__mro__[1].seed(instance)
        instance.gauss_next = None


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    def enc(s: str | None) -> bytes | None:
        return None if s is None else s.encode()

    _check(
        _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
        f"mount {fstype or ''} on {target}",
    )


MNT_DETACH = 2


def umount(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}")


def mount_points() -> list[str]:
    """This mount namespace's mount points, in mount order (stacked ones repeated)."""
    points = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            raw = line.split()[4]
            points.append(raw.encode().decode("unicode_escape") if "\\" in raw else raw)
    return points


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(
        _libc.prctl(
            ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(arg4), ctypes.c_ulong(arg5)
        ),
        f"prctl({option})",
    )


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def mount_setattr(path: str, attr_set: int, attr_clr: int = 0, recursive: bool = True) -> None:
    """Set (and clear) mount attributes on the mount at ``path`` and, with ``recursive``,
    every mount under it (this mount namespace only)."""
    if platform.machine() != "x86_64":
        raise OSError(38, "mount_setattr: syscall number known only for x86_64")
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    _check(
        _libc.syscall(
            ctypes.c_long(SYS_mount_setattr_x86_64),
            ctypes.c_int(AT_FDCWD),
            path.encode(),
            ctypes.c_uint(AT_RECURSIVE if recursive else 0),
            ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr)),
        ),
        "mount_setattr",
    )


# --------------------------------------------------------------------------- seccomp

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
EPERM = 1
ENOSYS = 38
EAFNOSUPPORT = 97
AF_UNIX = 1

# classic BPF opcodes
_BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_BPF_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_BPF_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_BPF_RET_K = 0x06  # BPF_RET | BPF_K

# offsets in struct seccomp_data
_OFF_NR = 0
_OFF_ARCH = 4
_OFF_ARG0_LOW = 16

# x86_64 syscall numbers (asm/unistd_64.h); tests check them against the header.
X86_64_DENIED_SYSCALLS: dict[str, int] = {
    "ptrace": 101,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "pidfd_getfd": 438,
    "umount2": 166,
    "pivot_root": 155,
    "chroot": 161,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
    "kexec_load": 246,
    "kexec_file_load": 320,
    "init_module": 175,
    "finit_module": 313,
    "delete_module": 176,
    "reboot": 169,
    "swapon": 167,
    "swapoff": 168,
    "acct": 163,
    "bpf": 321,
    "perf_event_open": 298,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "keyctl": 250,
    "add_key": 248,
    "request_key": 249,
    "settimeofday": 164,
    "clock_settime": 227,
    "clock_adjtime": 305,
    "adjtimex": 159,
    "open_by_handle_at": 304,
    "name_to_handle_at": 303,
    "syslog": 103,
    "quotactl": 179,
    "lookup_dcookie": 212,
    "iopl": 172,
    "ioperm": 173,
    "fanotify_init": 300,
    "move_pages": 279,
    "migrate_pages": 256,
    "uselib": 134,
    "setdomainname": 171,
    "vhangup": 153,
    # SysV IPC and POSIX message queues: objects that would outlive a run in the slot's
    # IPC namespace (POSIX shared memory and semaphores live in the run's own /dev/shm).
    "shmget": 29,
    "semget": 64,
    "msgget": 68,
    "mq_open": 240,
    # Watching files for another process's access: two runs would see each other through
    # the read-only files their roots share.
    "inotify_init": 253,
    "inotify_init1": 294,
    "inotify_add_watch": 254,
    # A run's processes keep the priority they started with: one that lowered its own
    # would wait for a CPU most of the time, which its wall clock credits.
    "setpriority": 141,
    "sched_setparam": 142,
    "sched_setscheduler": 144,
    "sched_setattr": 314,
}
CAPABILITY_CHECKED_SYSCALLS: dict[str, int] = {"mount": 165, "setns": 308, "sethostname": 170}
"""Left to the kernel: a child's own setup makes them after the filter is in force (it is
inherited from the zygote), and the kernel refuses them to a process without
capabilities; the filter keeps a run from ever getting any (no user namespaces)."""
X86_64_SOCKET = 41
X86_64_CLONE = 56
X86_64_CLONE3 = 435
X86_64_UNSHARE = 272
X86_64_FLOCK = 73
X86_64_FCNTL = 72
FCNTL_LOCKS_AS_NO_OPS = (6, 7, 37, 38)
"""F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW: granted without taking a lock, as flock
is. A lock on a file the roots of two runs share (the read-only libraries) is a signal
from one run to another; a run's own files are its own, so no run needs a lock to keep
another out."""
FCNTL_DENIED = (1024, 1026)
"""F_SETLEASE, F_NOTIFY: leases and directory notifications would tell a run about
another's opens."""
_OFF_ARG1_LOW = 24
UNSHARE_DENIED_FLAGS = CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWTIME
"""unshare flags no setup step uses; the others need CAP_SYS_ADMIN, which a run never has."""


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k & 0xFFFFFFFF)


def build_seccomp_program() -> bytes:
    """The filter as raw ``struct sock_filter`` records (x86_64 only)."""
    prog = [
        _insn(_BPF_LD_W_ABS, 0, 0, _OFF_ARCH),
        _insn(_BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        _insn(_BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),  # i386 / foreign ABI
        _insn(_BPF_LD_W_ABS, 0, 0, _OFF_NR),
        _insn(_BPF_JGE_K, 0, 1, X32_SYSCALL_BIT),
        _insn(_BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),  # x32 ABI
    ]
    for nr in X86_64_DENIED_SYSCALLS.values():
        prog.append(_insn(_BPF_JEQ_K, 0, 1, nr))
        prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM))
    # clone3 takes its flags in a struct the filter cannot read: ENOSYS makes libc fall back to clone.
    prog.append(_insn(_BPF_JEQ_K, 0, 1, X86_64_CLONE3))
    prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS))
    # clone: no namespace flags.
    prog.append(_insn(_BPF_JEQ_K, 0, 4, X86_64_CLONE))
    prog.append(_insn(_BPF_LD_W_ABS, 0, 0, _OFF_ARG0_LOW))
    prog.append(_insn(_BPF_JSET_K, 0, 1, NAMESPACE_FLAGS))
    prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM))
    prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    # unshare: no user, network, cgroup or time namespace.
    prog.append(_insn(_BPF_JEQ_K, 0, 4, X86_64_UNSHARE))
    prog.append(_insn(_BPF_LD_W_ABS, 0, 0, _OFF_ARG0_LOW))
    prog.append(_insn(_BPF_JSET_K, 0, 1, UNSHARE_DENIED_FLAGS))
    prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM))
    prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    # socket: AF_UNIX only (no network, no netlink, no packet sockets).
    prog.append(_insn(_BPF_JEQ_K, 0, 4, X86_64_SOCKET))
    prog.append(_insn(_BPF_LD_W_ABS, 0, 0, _OFF_ARG0_LOW))
    prog.append(_insn(_BPF_JEQ_K, 0, 1, AF_UNIX))
    prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EAFNOSUPPORT))
    # flock: granted, no lock taken (errno 0: the call returns 0 without running).
    prog.append(_insn(_BPF_JEQ_K, 0, 1, X86_64_FLOCK))
    prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | 0))
    # fcntl: record locks granted without a lock; leases and notifications refused.
    block = 1 + 2 * (len(FCNTL_LOCKS_AS_NO_OPS) + len(FCNTL_DENIED)) + 1
    prog.append(_insn(_BPF_JEQ_K, 0, block, X86_64_FCNTL))
    prog.append(_insn(_BPF_LD_W_ABS, 0, 0, _OFF_ARG1_LOW))
    for command in FCNTL_LOCKS_AS_NO_OPS:
        prog.append(_insn(_BPF_JEQ_K, 0, 1, command))
        prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | 0))
    for command in FCNTL_DENIED:
        prog.append(_insn(_BPF_JEQ_K, 0, 1, command))
        prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM))
    prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    prog.append(_insn(_BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    return b"".join(prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class SeccompFilter:
    """A prepared filter; :meth:`install` is one prctl call. The zygote installs it once
    and every child inherits it (an install costs a BPF compile, too much per run)."""

    def __init__(self) -> None:
        if platform.machine() != "x86_64":
            raise OSError(38, f"seccomp filter has syscall numbers for x86_64 only, not {platform.machine()}")
        raw = build_seccomp_program()
        self._buffer = ctypes.create_string_buffer(raw, len(raw))
        self._fprog = _SockFprog(len(raw) // 8, ctypes.addressof(self._buffer))

    def install(self) -> None:
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(self._fprog))


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def namespace_id(kind: str, pid: str = "self") -> str:
    """The identity of a namespace (e.g. ``net:[4026531840]``), for probes and tests."""
    return os.readlink(f"/proc/{pid}/ns/{kind}")
