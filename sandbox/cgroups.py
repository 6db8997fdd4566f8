"""Which control groups limit and measure a run on this host, set up by the pool.

A run's limits hold for all its processes together: memory (swap off), processes, and its
CPU time measured by the kernel, never reported by the program. Each fork server keeps a
few cgroups of its own and puts each run in one (sandbox/forkserver/runcgroups.py); here
the pool finds what the host offers and makes its own parent directory per hierarchy:

- cgroup v2 (the unified hierarchy): ``cpu.stat`` and ``cpu.pressure`` (CPU used, and the
  time the run waited for a CPU, counted once per run) in any cgroup; ``memory.max`` and
  ``pids.max`` where the memory and pids controllers are delegated. They are when the
  service's cgroup is the hierarchy's root, when it is the root of a cgroup namespace (a
  container: the container's processes move to a leaf, as container init systems do),
  or when ``REWARD_SANDBOX_CGROUP`` names a cgroup set aside for the sandbox.
- cgroup v1: the ``memory``, ``pids`` and ``cpuacct`` hierarchies, for what v2 lacks.
- neither: a watchdog in the fork server sums the run's processes' memory from /proc and
  kills the run past its limit; processes are bounded per uid (RLIMIT_NPROC), CPU is read
  from /proc and from the run's exit status.

``REWARD_SANDBOX_CGROUPS=0`` turns control groups off (the watchdog then holds).
"""

from __future__ import annotations

import errno
import itertools
import os
import time
from dataclasses import dataclass, field
from typing import Any

V1_CONTROLLERS = ("memory", "pids", "cpuacct")
_counter = itertools.count()
PREFIX = "reward-sandbox-"


@dataclass
class CgroupPlan:
    """Where this pool's runs get their cgroups, and what each resource is limited by."""

    v2: str | None = None
    """The pool's directory in the unified hierarchy (cpu.stat, cpu.pressure; memory and
    pids when ``v2_controllers`` has them)."""
    v2_controllers: list[str] = field(default_factory=list)
    v1: dict[str, str] = field(default_factory=dict)
    """v1 controller -> the pool's directory in its hierarchy."""
    notes: dict[str, str] = field(default_factory=dict)
    """Why a mechanism is not in use, by resource."""

    def to_wire(self) -> dict[str, Any]:
        return {"v2": self.v2, "v2_controllers": self.v2_controllers, "v1": self.v1}

    def mechanisms(self) -> dict[str, str]:
        """Per resource, what holds it (what ``/readyz`` reports)."""
        memory = "cgroup v2 memory.max" if "memory" in self.v2_controllers else (
            "cgroup v1 memory" if "memory" in self.v1 else "watchdog (the run's processes' memory summed from /proc)"
        )  # fmt: skip
        processes = "cgroup v2 pids.max" if "pids" in self.v2_controllers else (
            "cgroup v1 pids" if "pids" in self.v1 else "RLIMIT_NPROC per uid"
        )  # fmt: skip
        cpu = "cgroup v2 cpu.stat" if self.v2 else ("cgroup v1 cpuacct" if "cpuacct" in self.v1 else "/proc and the exit status")
        waits = "cgroup v2 cpu.pressure, once per run" if self.v2 else "the longest wait of a thread (schedstat)"
        return {"memory": memory, "processes": processes, "cpu": cpu, "cpu_wait": waits}

    def remove(self) -> None:
        for path in [self.v2, *self.v1.values()]:
            if path:
                remove_tree(path)


def _mounts() -> tuple[str | None, dict[str, tuple[str, str]]]:
    """The unified hierarchy's mount point, and each v1 controller's (mount point, mount root)."""
    v2, v1 = None, {}
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(fields) < 5 or len(tail) < 3:
                continue
            root, point, fstype, options = fields[3], _unescape(fields[4]), tail[0], tail[2].split(",")
            if fstype == "cgroup2" and v2 is None:
                v2 = point
            elif fstype == "cgroup":
                for controller in V1_CONTROLLERS:
                    if controller in options and controller not in v1:
                        v1[controller] = (point, root)
    return v2, v1


def _unescape(path: str) -> str:
    return path.encode().decode("unicode_escape") if "\\" in path else path


def _own_cgroups() -> tuple[str | None, dict[str, str]]:
    """This process's cgroup in the unified hierarchy and per v1 controller."""
    v2, v1 = None, {}
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if not controllers:
                v2 = path
            for controller in controllers.split(","):
                if controller in V1_CONTROLLERS:
                    v1[controller] = path
    return v2, v1


def _join(point: str, mount_root: str, path: str) -> str:
    if mount_root != "/" and path.startswith(mount_root):
        path = path[len(mount_root) :]
    return os.path.join(point, path.lstrip("/"))


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def _usable(directory: str) -> bool:
    return os.path.isdir(directory) and os.access(directory, os.W_OK)


def _delegate_v2(base: str, wanted: list[str], is_namespace_root: bool) -> tuple[list[str], str | None]:
    """Enable ``wanted`` controllers for children of ``base``; which it could, and why not."""
    available = _read(os.path.join(base, "cgroup.controllers")).split()
    wanted = [c for c in wanted if c in available]
    if not wanted:
        return [], "the memory and pids controllers are not available in the unified hierarchy here"
    enabled = _read(os.path.join(base, "cgroup.subtree_control")).split()
    missing = [c for c in wanted if c not in enabled]
    if not missing:
        return wanted, None
    control = os.path.join(base, "cgroup.subtree_control")
    try:
        _write(control, " ".join(f"+{c}" for c in missing))
        return wanted, None
    except OSError as exc:
        if exc.errno != errno.EBUSY or not is_namespace_root:
            return [], f"cannot enable {', '.join(missing)} in {base}: {exc.strerror} (set REWARD_SANDBOX_CGROUP to a delegated cgroup)"
    # The root of a cgroup namespace (a container) that holds processes: they move to a
    # leaf of their own, so the root may enable controllers for its children.
    leaf = os.path.join(base, "reward-service")
    os.makedirs(leaf, exist_ok=True)
    for pid in _read(os.path.join(base, "cgroup.procs")).split():
        try:
            _write(os.path.join(leaf, "cgroup.procs"), pid)
        except OSError:
            pass  # gone meanwhile, or a kernel thread
    try:
        _write(control, " ".join(f"+{c}" for c in missing))
    except OSError as exc:
        return [], f"cannot enable {', '.join(missing)} in {base}: {exc.strerror}"
    return wanted, None


def plan_cgroups() -> CgroupPlan:
    """Find what the host offers and make this pool's directories (removed by :meth:`CgroupPlan.remove`)."""
    plan = CgroupPlan()
    if os.environ.get("REWARD_SANDBOX_CGROUPS", "1").strip().lower() in ("0", "false", "no", "off"):
        plan.notes["all"] = "REWARD_SANDBOX_CGROUPS=0"
        return plan
    if os.geteuid() != 0:
        plan.notes["all"] = "the sandbox is not running as root"
        return plan
    name = f"{PREFIX}{os.getpid()}-{next(_counter)}"
    try:
        v2_point, v1_points = _mounts()
        own_v2, own_v1 = _own_cgroups()
    except OSError as exc:
        plan.notes["all"] = f"cannot read the cgroup mounts: {exc}"
        return plan
    configured = os.environ.get("REWARD_SANDBOX_CGROUP", "").strip()
    if v2_point is not None and (configured or own_v2 is not None):
        base = configured or _join(v2_point, "/", own_v2 or "/")
        if _usable(base):
            remove_stale(base)
            # The hierarchy's own root has no cgroup.type and may hold processes beside
            # enabled controllers; a namespace root (a container) may not.
            is_root = not os.path.exists(os.path.join(base, "cgroup.type"))
            namespace_root = own_v2 == "/" and not is_root and not configured
            controllers, why = _delegate_v2(base, ["memory", "pids"], namespace_root)
            try:
                os.makedirs(os.path.join(base, name))
                plan.v2 = os.path.join(base, name)
                if controllers:
                    _write(os.path.join(plan.v2, "cgroup.subtree_control"), " ".join(f"+{c}" for c in controllers))
                    plan.v2_controllers = controllers
            except OSError as exc:
                why = why or f"cannot make a cgroup under {base}: {exc.strerror}"
            if why:
                plan.notes["v2"] = why
        else:
            plan.notes["v2"] = f"{base} is not writable"
    for controller in V1_CONTROLLERS:
        if controller in plan.v2_controllers or (controller == "cpuacct" and plan.v2):
            continue
        if controller not in v1_points or controller not in own_v1:
            continue
        point, root = v1_points[controller]
        base = _join(point, root, own_v1[controller])
        if not _usable(base):
            plan.notes[controller] = f"{base} is not writable"
            continue
        remove_stale(base)
        try:
            os.makedirs(os.path.join(base, name))
        except OSError as exc:
            plan.notes[controller] = f"cannot make a cgroup under {base}: {exc.strerror}"
            continue
        plan.v1[controller] = os.path.join(base, name)
    return plan


def remove_tree(path: str) -> None:
    """Remove a pool's cgroup directory: children first (a cgroup is removed with rmdir,
    once no process is left in it; the last runs' processes may take a moment to go)."""
    for attempt in range(50):
        try:
            for entry in os.scandir(path):
                if entry.is_dir(follow_symlinks=False):
                    try:
                        os.rmdir(entry.path)
                    except OSError:
                        pass
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02 * (attempt + 1) if attempt < 10 else 0.2)


def remove_stale(base: str) -> None:
    """Directories left by pools of processes that are gone (killed before they cleaned up)."""
    try:
        entries = [e for e in os.scandir(base) if e.name.startswith(PREFIX) and e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for entry in entries:
        pid = entry.name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            for _ in range(2):
                try:
                    for child in os.scandir(entry.path):
                        if child.is_dir(follow_symlinks=False):
                            _rmdir(child.path)
                    os.rmdir(entry.path)
                    break
                except OSError:
                    time.sleep(0.05)


def _rmdir(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass
