"""In a prepared child, from its request on: the request is received, the rlimits are set
and the child drops to the slot's uid, both before any untrusted code, and the program
runs (in the warm interpreter, as a driver with its candidate, or as a command)."""

from __future__ import annotations

import ctypes
import json
import os
import resource
import socket
from typing import Any

from sandbox import isolation, native, pyharness
from sandbox.constants import CHILD_ENV, CONTROL_FD
from sandbox.forkserver import handover, layers
from sandbox.forkserver.descriptors import received_fds
from sandbox.forkserver.slot import LayerFailure, Slot, layer_step
from sandbox.settings import EXEC, EXEC_COLLECT, PROBE, PYTHON, PYTHON_DRIVER, RunSettings
from sandbox.wire import RECORDS_FD


def run(slot: Slot, uid: int, workdir: str) -> None:
    """In the child, once set up (namespaces, mounts, work dir, descriptors): wait for
    the request as root, then the rlimits and the drop to the slot's uid, before any
    untrusted code."""
    enabled = slot.layers
    if enabled["seccomp"] and slot.seccomp is not None and not slot.filter_inherited:
        layer_step("seccomp", slot.seccomp.install)  # the probe's child: as root, no_new_privs not needed
    isolation.reseed_random()
    # Still before the request: the stdio objects are made and the paths a run takes
    # are walked once, so their copy-on-write faults are paid while waiting.
    pyharness.prepare(workdir)
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, CONTROL_FD)

    # ---- the request: a payload memfd, the stdin memfd, the driver memfd
    settings, nonce, source, files, driver_fd = handover.receive(control)
    if driver_fd is not None:
        os.dup2(driver_fd, CONTROL_FD)  # replaces the control socket
    else:
        os.close(CONTROL_FD)
    keep = RECORDS_FD + 1 + (driver_fd is not None)
    os.closerange(keep, 1 << 20)

    mode = settings.mode
    if settings.cpu is not None:
        # A driver and its candidate on one CPU (the pool picks it, see pool.py): they
        # answer each other call by call, and a call across two CPUs costs a wake-up
        # from idle on the other one, several times the call itself.
        try:
            os.sched_setaffinity(0, (settings.cpu,))
        except OSError:
            pass  # a CPU taken away since (cpuset change): the run goes anywhere
    # The work files (a compiled program among them) are written before the file-size
    # limit is set: it limits what the program writes, not what it was given.
    owner = uid if enabled["uid"] else -1
    for name, data in files.items():
        _write_work_file(name, data, owner=owner)
    if settings.source_file:
        _write_work_file(settings.source_file, source, executable=False, owner=owner)
    # ---- before any untrusted code: rlimits, then the slot's uid
    # (The sweeper's real uid is the slot's first: one more process for that uid.)
    extra = int(uid == slot.sweeper_uid)
    if native.lib is not None:  # both in one call
        limits = native.NativeLimits(*rlimit_values(settings, extra)) if enabled["rlimits"] else None
        failed = native.lib.sandbox_limit_and_drop(limits, uid if enabled["uid"] else -1, uid)
        if failed:
            err = ctypes.get_errno()
            raise LayerFailure("rlimits" if failed == 1 else "uid", OSError(err, os.strerror(err)))
    else:
        if enabled["rlimits"]:
            layer_step("rlimits", _set_rlimits, settings, extra)
        if enabled["uid"]:
            layer_step("uid", _drop_privileges, uid, uid)

    if mode == PROBE:
        _emit_raw({"sandbox": "ready"})
        _emit_raw({"probe": layers.observe(settings)})
        os._exit(0)

    if mode in (PYTHON, PYTHON_DRIVER):
        pyharness.expect_trailer(nonce)
    if mode != PYTHON:  # a plain Python run writes it with the end of its records
        os.write(RECORDS_FD, pyharness.READY_RECORD)
    if mode == PYTHON:
        pyharness.run_main(source, list(settings.argv), workdir)
    elif mode == PYTHON_DRIVER:
        pyharness.run_driver(source, keep - 1, settings.driver_data, workdir, settings.restarts)
    elif mode == EXEC:
        os.close(RECORDS_FD)
        argv = list(settings.argv)
        env = dict(settings.env) or CHILD_ENV
        os.execve(pyharness.which(argv[0], env), argv, env)
    elif mode == EXEC_COLLECT:
        pyharness.run_and_collect(list(settings.argv), dict(settings.env) or CHILD_ENV, list(settings.collect))
    os._exit(125)


WARM_CALLS = 16
"""Calls that make CPython 3.11 quicken a function (it does after 8)."""


def warm_up() -> None:
    """In the fork server, once: the code every child runs once per run and the server
    never does is run here until the interpreter has quickened it. A child running code
    that is not quickened yet writes to the code object (its warm-up counter and, on
    quickening, the bytecode), and so copies its pages; quickened and specialised code it
    only reads."""
    wire = RunSettings(mode=PYTHON).to_wire()
    header = json.dumps({"settings": wire, "nonce": "00" * 16, "blob_sizes": [1]}, separators=(",", ":"))
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        for _ in range(WARM_CALLS):
            settings = RunSettings.from_wire(json.loads(header)["settings"])
            rlimit_values(settings, 0)
            received_fds([])
            bytes.fromhex("00" * 16)
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, left.fileno()).detach()
            isolation.reseed_random()  # reseeds the server's generator: every child reseeds its own
    finally:
        left.close()
        right.close()


def rlimit_values(settings: RunSettings, extra_processes: int = 0) -> tuple[int, int, int, int, int, int]:
    """CPU seconds (soft, hard), address space (unlimited for a runtime that reserves large
    ranges up front: its memory is held by the run's cgroup), file size, open files, processes."""
    cpu = settings.cpu_rlimit_s
    address_space = settings.memory_mb << 20 if settings.address_space_limit else resource.RLIM_INFINITY
    return (
        cpu, cpu + 1, address_space, settings.max_file_mb << 20,
        settings.max_open_files, settings.max_processes + extra_processes,
    )  # fmt: skip


def _set_rlimits(settings: RunSettings, extra_processes: int = 0) -> None:
    """What sandbox_limit_and_drop in sandbox/_native.c sets, in Python."""
    cpu_soft, cpu_hard, memory, file_size, open_files, processes = rlimit_values(settings, extra_processes)
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


def _write_work_file(name: str, data: bytes, executable: bool = True, owner: int = -1) -> None:
    if os.path.isabs(name) or ".." in name.split("/") or not name:
        raise OSError(22, f"file name {name!r} must stay inside the work dir")
    if "/" in name:
        os.makedirs(os.path.dirname(name), exist_ok=True)
    # O_EXCL|O_NOFOLLOW: the work dir is a fresh tmpfs, and nothing in it is followed.
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o755 if executable else 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if owner >= 0:
            try:
                os.fchown(fd, owner, owner)
            except PermissionError:
                pass  # no CAP_CHOWN (a container): the program may read and run it, not change it
    finally:
        os.close(fd)


def _emit_raw(obj: Any) -> None:
    os.write(RECORDS_FD, (json.dumps(obj) + "\n").encode())
