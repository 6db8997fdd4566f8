"""How many slots a pool has by default, and which CPU a driver run is kept on.

More slots than CPUs: a program that sleeps or blocks holds a slot but no CPU, so with
slots = CPUs a few such programs leave the CPUs idle while fast work waits. Runs that want
CPU share the cores (each run is a session of its own, so the scheduler divides the CPUs
between runs rather than between processes), and since a run's wall clock does not count
its waits for a CPU, sharing never makes a correct program a timeout. The number of slots
is bounded by memory: each slot may hold a run at its memory limit. How the defaults were
measured is in docs/sandbox.md ("Slots").
"""

from __future__ import annotations

import os
import threading

SLOTS_PER_CPU = 4
"""Slots per CPU the service may use (``REWARD_SANDBOX_SLOTS_PER_CPU``)."""
SLOT_MEMORY_MB = 1024
"""Memory set aside per slot when bounding their number by memory
(``REWARD_SANDBOX_SLOT_MEMORY_MB``): the code domain's default memory limit of a run."""
MAX_SLOTS = 128
"""Each slot takes two uids out of a pool's 256."""


def usable_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def default_slots() -> int:
    """SLOTS_PER_CPU per usable CPU, at most as many as the available memory holds at
    SLOT_MEMORY_MB each (at least one per CPU), at most MAX_SLOTS."""
    cpus = len(usable_cpus())
    per_cpu = int(os.environ.get("REWARD_SANDBOX_SLOTS_PER_CPU", "") or SLOTS_PER_CPU)
    slot_mb = int(os.environ.get("REWARD_SANDBOX_SLOT_MEMORY_MB", "") or SLOT_MEMORY_MB)
    by_memory = available_memory_mb() // max(1, slot_mb)
    return max(1, min(MAX_SLOTS, cpus * per_cpu, max(cpus, by_memory)))


def available_memory_mb() -> int:
    """MemAvailable, or less when this process's cgroup has a lower limit."""
    available = _meminfo_available_mb()
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),  # v1
    ):
        try:
            with open(limit_file) as fh:
                raw = fh.read().strip()
            if raw == "max":
                continue
            with open(usage_file) as fh:
                used = int(fh.read().strip())
            available = min(available, max(0, int(raw) - used) >> 20)
        except (OSError, ValueError):
            continue
    return available


def _meminfo_available_mb() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) >> 10
    except (OSError, ValueError, IndexError):
        pass
    return SLOT_MEMORY_MB  # unknown: as if one slot's worth


class CpuPicker:
    """The CPU for a driver run: the one with the fewest driver runs of the pool on it
    now, in turn among equals. (Slots outnumber CPUs, so a fixed CPU per slot would
    pile driver runs on one CPU while another is idle.)"""

    def __init__(self, cpus: list[int]) -> None:
        self._load = dict.fromkeys(cpus, 0)
        self._turn = 0
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            cpus = list(self._load)
            self._turn = (self._turn + 1) % len(cpus)
            order = cpus[self._turn :] + cpus[: self._turn]
            cpu = min(order, key=self._load.__getitem__)
            self._load[cpu] += 1
            return cpu

    def give_back(self, cpu: int) -> None:
        with self._lock:
            if cpu in self._load:
                self._load[cpu] -= 1
