"""A fork server's own cgroups: a few per slot, one per child alive at a time, reused.

A child moves itself into its cgroup while it is prepared (before the request, off the
caller's path: a move costs tens of microseconds); from then on every process of its run
is in it. At the hand-over the server sets the run's limits on the cgroup (memory with
swap off, processes) and reads where its counters stand; at the end it reads them again:
the CPU the run's processes used (all of them, ended ones too), the longest wait for a
CPU, the peak memory and whether the kernel killed a process for memory. The program
reports none of these. A cgroup is used again only once the child that had it is reaped.

The directories are made before the server leaves the host's file system (its root is
then the minimal one, without /sys): only descriptors are kept. The pool makes their
parents (sandbox/cgroups.py).
"""

from __future__ import annotations

import os
from typing import Any

RING = 6
"""Cgroups per slot: a child takes one no other live child of the slot holds (the running
one, two prepared ahead, one made for a request of another kind, those being reaped)."""
_UNLIMITED = "max"


def _pread(fd: int) -> bytes:
    return os.pread(fd, 4096, 0)


def _put(fd: int, text: str) -> None:
    os.pwrite(fd, text.encode(), 0)


def _field(data: bytes, name: bytes) -> int:
    """The number of ``name`` in a cgroup file of ``name N`` lines, or of ``key=N`` pairs
    (cpu.pressure's ``total=N``)."""
    for line in data.split(b"\n"):
        if line.startswith(name + b" "):
            return int(line[len(name) + 1 :].split()[0])
        for pair in line.split():
            if pair.startswith(name + b"="):
                return int(pair[len(name) + 1 :])
    return 0


class RunCgroup:
    """One cgroup (one directory per hierarchy in use) and its open files."""

    def __init__(self, dirs: dict[str, int], v2_controllers: list[str]) -> None:
        self.dir_fds = dirs
        self.procs: list[int] = []
        self.files: dict[str, int] = {}
        self.memory_mb: int | None = None
        self.max_processes: int | None = None
        self.base_cpu = self.base_wait = self.base_oom = 0
        for hierarchy in dirs:
            self.procs.append(self._open(hierarchy, "cgroup.procs", os.O_WRONLY))
        if "v2" in dirs:
            self.files["cpu"] = self._open("v2", "cpu.stat")
            self._try("wait", "v2", "cpu.pressure")
            self._try("kill", "v2", "cgroup.kill", os.O_WRONLY)
        elif "cpuacct" in dirs:
            self.files["cpu"] = self._open("cpuacct", "cpuacct.usage")
        if "memory" in v2_controllers:
            self.memory = "v2"
            self.files["mem_max"] = self._open("v2", "memory.max", os.O_WRONLY)
            self._try("swap_max", "v2", "memory.swap.max", os.O_WRONLY)
            if "swap_max" in self.files:
                _put(self.files["swap_max"], "0")
            self._try("peak", "v2", "memory.peak", os.O_RDWR)
            self.files["oom"] = self._open("v2", "memory.events")
        elif "memory" in dirs:
            self.memory = "v1"
            self.files["mem_max"] = self._open("memory", "memory.limit_in_bytes", os.O_RDWR)
            self._try("memsw_max", "memory", "memory.memsw.limit_in_bytes", os.O_RDWR)
            self.files["peak"] = self._open("memory", "memory.max_usage_in_bytes", os.O_RDWR)
            self.files["oom"] = self._open("memory", "memory.oom_control")
            self._try("swappiness", "memory", "memory.swappiness", os.O_WRONLY)
            if "swappiness" in self.files:
                _put(self.files.pop("swappiness"), "0")
        else:
            self.memory = None
        if "pids" in v2_controllers:
            self.files["pids_max"] = self._open("v2", "pids.max", os.O_WRONLY)
        elif "pids" in dirs:
            self.files["pids_max"] = self._open("pids", "pids.max", os.O_WRONLY)

    def _open(self, hierarchy: str, name: str, flags: int = os.O_RDONLY) -> int:
        return os.open(name, flags | os.O_CLOEXEC, dir_fd=self.dir_fds[hierarchy])

    def _try(self, key: str, hierarchy: str, name: str, flags: int = os.O_RDONLY) -> None:
        try:
            self.files[key] = self._open(hierarchy, name, flags)
        except OSError:
            pass

    # ------------------------------------------------------------------ per run

    def begin(self, memory_mb: int, max_processes: int) -> None:
        """At the hand-over: the run's limits, and where the counters stand."""
        files = self.files
        if self.memory is not None and memory_mb != self.memory_mb:
            self._set_memory(memory_mb)
        if "pids_max" in files and max_processes != self.max_processes:
            _put(files["pids_max"], str(max_processes))
            self.max_processes = max_processes
        if "peak" in files:
            try:
                _put(files["peak"], "0")  # v1: resets the high-water mark; v2: from now on, for this descriptor
            except OSError:
                os.close(files.pop("peak"))  # a kernel without the reset: no peak rather than an old one
        self.base_cpu = self._cpu_raw()
        self.base_wait = self._wait_raw()
        self.base_oom = self._oom_raw()

    def _set_memory(self, memory_mb: int) -> None:
        limit = str(memory_mb << 20)
        files = self.files
        if self.memory == "v2":
            _put(files["mem_max"], limit)
        else:
            # memory+swap may not be set below memory, nor memory above memory+swap: the
            # order depends on the direction.
            raising = self.memory_mb is not None and memory_mb > self.memory_mb
            order = ("memsw_max", "mem_max") if raising else ("mem_max", "memsw_max")
            for key in order:
                if key in files:
                    _put(files[key], limit)
        self.memory_mb = memory_mb

    def _cpu_raw(self) -> int:
        fd = self.files.get("cpu")
        if fd is None:
            return 0
        data = _pread(fd)
        return _field(data, b"usage_usec") * 1000 if data.startswith(b"usage_usec") else int(data.strip() or 0)

    def _wait_raw(self) -> int:
        fd = self.files.get("wait")
        return _field(_pread(fd), b"total") * 1000 if fd is not None else 0

    def _oom_raw(self) -> int:
        fd = self.files.get("oom")
        return _field(_pread(fd), b"oom_kill") if fd is not None else 0

    def kill(self) -> bool:
        """SIGKILL every process of the run at once (cgroup v2's cgroup.kill): when this
        returns, none of them runs another instruction. False where the kernel has no
        cgroup.kill (the sweeper does it then)."""
        fd = self.files.get("kill")
        if fd is None:
            return False
        try:
            _put(fd, "1")
        except OSError:
            return False
        return True

    @property
    def measures_cpu(self) -> bool:
        return "cpu" in self.files

    @property
    def measures_waits(self) -> bool:
        return "wait" in self.files

    def cpu_s(self) -> float:
        """CPU seconds of the run's processes since :meth:`begin`."""
        return (self._cpu_raw() - self.base_cpu) / 1e9

    def waited_s(self) -> float:
        """Seconds during which some process of the run waited for a CPU (counted once,
        however many waited at the same time)."""
        return (self._wait_raw() - self.base_wait) / 1e9

    def peak_mb(self) -> float:
        fd = self.files.get("peak")
        if fd is None:
            return 0.0
        try:
            return int(_pread(fd).strip() or 0) / (1 << 20)
        except ValueError:
            return 0.0

    def memory_killed(self) -> bool:
        """Whether the kernel killed a process of the run for memory since :meth:`begin`."""
        return self.memory is not None and self._oom_raw() > self.base_oom

    def close(self) -> None:
        for fd in [*self.procs, *self.files.values()]:
            try:
                os.close(fd)
            except OSError:
                pass
        self.procs, self.files = [], {}


class RunCgroups:
    """The slot's ring of cgroups, made from the pool's plan (``wire``: see
    sandbox/cgroups.py ``CgroupPlan.to_wire``)."""

    def __init__(self, wire: dict[str, Any] | None, name: str) -> None:
        self.sets: list[RunCgroup] = []
        self._parents: dict[str, int] = {}
        self._name = name
        self.error: str | None = None
        wire = wire or {}
        parents = {"v2": wire.get("v2")} if wire.get("v2") else {}
        parents.update(wire.get("v1") or {})
        if not parents:
            return
        try:
            for hierarchy, path in parents.items():
                self._parents[hierarchy] = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            for index in range(RING):
                dirs = {}
                for hierarchy, parent in self._parents.items():
                    entry = f"{name}-{index}"
                    try:
                        os.mkdir(entry, dir_fd=parent)
                    except FileExistsError:
                        pass
                    dirs[hierarchy] = os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=parent)
                self.sets.append(RunCgroup(dirs, list(wire.get("v2_controllers") or [])))
        except OSError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.close()

    def __bool__(self) -> bool:
        return bool(self.sets)

    def procs_table(self) -> list[list[int]]:
        """Per cgroup, the descriptors a child writes its pid to (one per hierarchy)."""
        return [list(group.procs) for group in self.sets]

    def report(self) -> dict[str, Any]:
        group = self.sets[0] if self.sets else None
        return {
            "cpu": bool(group and group.measures_cpu),
            "cpu_wait": bool(group and group.measures_waits),
            "memory": group.memory if group else None,
            "processes": bool(group and "pids_max" in group.files),
            **({"error": self.error} if self.error else {}),
        }

    def close(self) -> None:
        """Close every descriptor and remove the directories (those still holding a
        process stay; the pool removes them when it closes)."""
        for group in self.sets:
            for fd in group.dir_fds.values():
                os.close(fd)
            group.close()
        for parent in self._parents.values():
            for index in range(RING):
                try:
                    os.rmdir(f"{self._name}-{index}", dir_fd=parent)
                except OSError:
                    pass
            os.close(parent)
        self.sets, self._parents = [], {}
