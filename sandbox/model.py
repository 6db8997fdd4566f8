"""What a sandbox run is asked to do and what came of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sandbox import settings


class RunStatus(StrEnum):
    """What came of a run (``RunResult.status``)."""

    OK = "ok"
    RUNTIME_ERROR = "runtime_error"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    COMPILE_ERROR = "compile_error"
    SANDBOX_ERROR = "sandbox_error"
    CANCELLED = "cancelled"
    """The caller cancelled the run (while it waited for a slot, or while it ran)."""


# The statuses by their short names, as the sandbox's modules use them.
OK = RunStatus.OK
RUNTIME_ERROR = RunStatus.RUNTIME_ERROR
TIMEOUT = RunStatus.TIMEOUT
MEMORY_LIMIT = RunStatus.MEMORY_LIMIT
OUTPUT_LIMIT = RunStatus.OUTPUT_LIMIT
COMPILE_ERROR = RunStatus.COMPILE_ERROR
SANDBOX_ERROR = RunStatus.SANDBOX_ERROR
CANCELLED = RunStatus.CANCELLED
STATUSES = tuple(RunStatus)


@dataclass(kw_only=True)
class RunRequest:
    """One program to run in a fresh, isolated child.

    ``driver`` (Python only) is *trusted* code run in a separate process inside the
    sandbox. The untrusted ``source`` is then loaded as a module in its own process,
    and the driver reaches its functions through ``solution`` (call proxies whose
    arguments and return values cross a pipe as plain data) and reports JSON records
    with ``emit(obj)``; ``data`` holds ``driver_data``. Without a driver, ``source``
    runs as ``__main__`` with ``stdin``.
    """

    source: str
    language: str = "python"
    stdin: str | bytes = ""
    time_limit_s: float = settings.DEFAULT_TIME_LIMIT_S
    """The program's time limit, the reward decision "too slow": CPU seconds, summed over
    its processes. Past it the run is a ``timeout``. Time spent waiting for a slot, or
    for a CPU that other runs hold, does not count."""
    wall_limit_s: float | None = None
    """Seconds the run may spend neither on a CPU nor waiting for one: what stops a
    program that sleeps or blocks (status ``timeout``). None: ``time_limit_s`` plus
    ``settings.WALL_SLACK_S`` (where the kernel does not report waits for a CPU, the
    time limit is first multiplied by how many runs may share a CPU)."""
    memory_mb: int = settings.DEFAULT_MEMORY_MB
    """Address-space limit per process."""
    max_output_bytes: int = settings.DEFAULT_MAX_OUTPUT_BYTES
    """Cap on stdout and on stderr each; past it the run is killed (status output_limit)."""
    argv: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    """Extra files written into the work dir before the run (a compiled language's compile
    step sees them too, and they are part of what its program is cached by)."""
    compile_files: dict[str, bytes] = field(default_factory=dict)
    """Files only a compile step sees (headers), part of what its program is cached by."""
    run_files: dict[str, bytes] = field(default_factory=dict)
    """Files only the run sees, never a compile step nor its cache key: per-run data of one
    compiled program (a checker's input, answer and output) leaves it compiled once."""
    collect: list[str] = field(default_factory=list)
    """Files read back from the work dir after the run (returned in RunResult.files)."""
    driver: str | None = None
    driver_data: Any = None
    driver_restarts: bool = False
    """Let ``solution`` re-load the candidate after a call timed out or crashed. The new
    candidate is forked from the driver process, so leave it off when the driver code
    holds anything the solution must not see (assert code with expected values)."""
    max_processes: int = settings.DEFAULT_MAX_PROCESSES
    entry: str | None = None
    """Where a program starts when not where its language says (Java: the class whose
    ``main`` runs, when it is not the public class)."""
    max_file_mb: int = settings.DEFAULT_MAX_FILE_MB
    max_open_files: int = settings.DEFAULT_MAX_OPEN_FILES


@dataclass(kw_only=True)
class RunResult:
    status: RunStatus
    exit_code: int | None = None
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    wall_s: float = 0.0
    """From the hand-over to the outcome (waits for a CPU included)."""
    cpu_s: float = 0.0
    queued_s: float = 0.0
    """Time the run waited for a free slot (counted by no limit)."""
    max_rss_mb: float = 0.0
    records: list[Any] = field(default_factory=list)
    """JSON records emitted by a driver, in order."""
    files: dict[str, bytes] = field(default_factory=dict)
    reason: str | None = None
    """A human-readable account of a non-ok status."""
    compile: RunResult | None = None
    """For compiled languages: the compile step's result (when it ran in this call)."""

    @property
    def ok(self) -> bool:
        return self.status == OK
