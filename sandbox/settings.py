"""The settings of one run, as the pool sends them to a fork server and a child receives them.

Every default of a run is defined here, once; :class:`sandbox.model.RunRequest` takes its
defaults from the same names. ``RunSettings`` is a typed named tuple rather than a
dataclass: the fork server, whose memory every run copies, loads it too, and the
``dataclasses`` module would bring ``inspect``, ``ast`` and ``dis`` into every run.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

DEFAULT_TIME_LIMIT_S = 5.0
"""The program's time limit: CPU seconds, summed over its processes."""
WALL_SLACK_S = 1.0
"""What the default wall-clock limit adds to the time limit (see :func:`default_wall_limit_s`)."""
DEFAULT_MEMORY_MB = 512
DEFAULT_MAX_OUTPUT_BYTES = 1 << 20
DEFAULT_MAX_PROCESSES = 32
DEFAULT_MAX_FILE_MB = 16
DEFAULT_MAX_OPEN_FILES = 64

# RunSettings.mode values
PYTHON = "python"
"""The source runs as ``__main__`` in the fork server's warm interpreter."""
PYTHON_DRIVER = "python_driver"
"""Trusted driver code runs beside the source, which is loaded as module ``solution``."""
EXEC = "exec"
"""A command (a compiled language's program)."""
EXEC_COLLECT = "exec_collect"
"""A command whose output files are sent back (a compile step)."""
PROBE = "probe"
"""The fork server's layer probe: the child reports what holds inside it."""


def default_wall_limit_s(time_limit_s: float, sharing: int = 1) -> float:
    """The wall-clock limit of a run that sets none. It stops a program that sleeps or
    blocks; a busy one meets its CPU limit first. The wall clock counts only the time the
    run is neither on a CPU nor waiting for one, so runs sharing the CPUs do not use it
    up; where the kernel does not report the waits, ``sharing`` (how many runs may share
    a CPU) scales the time limit instead."""
    return time_limit_s * sharing + WALL_SLACK_S


WAIT_ALLOWANCE_MIN = 8
"""The least waiting for a CPU the wall clock credits a run, in multiples of its time limit."""


def wait_allowance_s(time_limit_s: float, sharing: int) -> float:
    """The most waiting for a CPU a run's wall clock credits it: twice as long as a
    CPU-bound run can wait when every slot shares the CPUs, and at least
    ``WAIT_ALLOWANCE_MIN`` times its time limit (a machine loaded from outside the sandbox
    slows every run). Counted once per run, so processes waiting side by side gain
    nothing; bounded, so a run whose processes get little CPU (the scheduler's choice, or
    its own) cannot hold its slot for long."""
    return time_limit_s * max(WAIT_ALLOWANCE_MIN, 2 * sharing)


class RunSettings(NamedTuple):
    """What a fork server and its child need to know about one run (the program itself,
    its stdin, files and driver travel beside it as blobs)."""

    mode: str
    argv: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    """Names of the files written into the work dir (their contents are blobs)."""
    collect: tuple[str, ...] = ()
    source_file: str | None = None
    """Where the source is written in the work dir (Python), if anywhere."""
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    """CPU seconds, summed over the run's processes: past them the run is a timeout."""
    wall_limit_s: float = default_wall_limit_s(DEFAULT_TIME_LIMIT_S)
    """Seconds the run may spend neither on a CPU nor waiting for one (sleeping, blocked)."""
    memory_mb: int = DEFAULT_MEMORY_MB
    max_output_bytes: int = DEFAULT_MAX_OUTPUT_BYTES
    max_processes: int = DEFAULT_MAX_PROCESSES
    max_file_mb: int = DEFAULT_MAX_FILE_MB
    max_open_files: int = DEFAULT_MAX_OPEN_FILES
    driver_data: Any = None
    restarts: bool = False
    cpu: int | None = None
    """The CPU a driver run and its candidate are kept on (None: anywhere)."""
    wait_allowance_s: float = 0.0
    """The most waiting for a CPU that the wall clock credits a run (counted once per run,
    however many of its processes wait at once): what a run may hold its slot beyond
    ``wall_limit_s`` because other runs held the CPUs."""
    files_mb: int = 0
    """Megabytes of the files written into the work dir before the run (a compiled
    program): its /tmp holds them besides ``max_file_mb``."""
    root: int = 0
    """The index of the root the run sees (``RUN_ROOT``, ``COMPILE_ROOT``, a language's)."""
    env: tuple[tuple[str, str], ...] = ()
    """The environment of a command (EXEC, EXEC_COLLECT); empty: the sandbox's own."""
    address_space_limit: bool = True
    """Whether ``memory_mb`` is also each process's address-space limit (runtimes that
    reserve large ranges at start, a JVM, V8, Go, are held by the run's cgroup alone)."""

    def to_wire(self) -> list[Any]:
        """As JSON data: the values in field order (both ends run the same code)."""
        return list(self)

    @classmethod
    def from_wire(cls, values: list[Any]) -> RunSettings:
        """From :meth:`to_wire`'s form. (Made in every child: no field name is looked up.)"""
        return cls._make(values)

    @property
    def cpu_rlimit_s(self) -> int:
        """RLIMIT_CPU's soft limit: whole seconds, just above the time limit."""
        return int(math.ceil(self.time_limit_s)) + 1

    @property
    def tmp_mb(self) -> int:
        """The size of the run's /tmp."""
        return tmp_mb(self.max_file_mb) + self.files_mb

    @property
    def key(self) -> int:
        """What a prepared child fixes before its request: the size of its /tmp and its root."""
        return root_key(self.tmp_mb, self.root)


def tmp_mb(max_file_mb: int) -> int:
    return max(64, 4 * max_file_mb)


MAX_ROOTS = 16
RUN_ROOT, COMPILE_ROOT = 0, 1
"""The roots' indexes: the run root (the fork server's own), the compile root, then the
languages' own roots in the order of the pool's plan."""


def root_key(tmp_size_mb: int, root: int) -> int:
    """A child's key: its /tmp size and the index of the root it sees."""
    return tmp_size_mb * MAX_ROOTS + root


def key_parts(key: int) -> tuple[int, int]:
    """The /tmp size and the root's index, from a key."""
    return key // MAX_ROOTS, key % MAX_ROOTS
