"""What a running run has used: CPU seconds, and seconds spent waiting for a CPU.

Read from /proc by the server at the moments a run could have reached a limit (see
:mod:`.supervise`), never on the way of a run that ends before them. The run's
processes are those of its PID namespace: listed through the run's own /proc (reached as
``/proc/<pid>/root/proc``) when it has one, else found by their parent links on the
host's /proc. CPU counts every thread, live or ended, and every reaped descendant; the
wait for a CPU is the kernel's run-queue delay of each live thread (``schedstat``).
"""

from __future__ import annotations

import os

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_wait_measured() -> bool:
    """Whether this kernel reports run-queue delays (CONFIG_SCHED_INFO)."""
    try:
        with open("/proc/self/schedstat", "rb") as fh:
            return len(fh.read().split()) >= 2
    except OSError:
        return False


def _read(path: str) -> bytes:
    with open(path, "rb", buffering=0) as fh:
        return fh.read(4096)


def run_usage(pid: int, private_proc: bool) -> tuple[float, float]:
    """CPU seconds and CPU-wait seconds of the run whose PID 1 is ``pid`` (0, 0 once it is gone)."""
    proc, members = "/proc", None
    if private_proc:
        try:
            proc = f"/proc/{pid}/root/proc"
            members = [entry for entry in os.listdir(proc) if entry.isdigit()]
        except OSError:
            proc, members = "/proc", None
    if members is None:
        members = _descendants(pid)
    cpu = wait = 0.0
    for member in members:
        try:
            fields = _read(f"{proc}/{member}/stat").rsplit(b")", 1)[1].split()
            # utime, stime (every thread, ended ones too), cutime, cstime (reaped descendants)
            cpu += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / CLOCK_TICKS
            if int(fields[17]) == 1:  # one thread: the process's own line is the thread's
                wait += int(_read(f"{proc}/{member}/schedstat").split()[1]) / 1e9
                continue
            for tid in os.listdir(f"{proc}/{member}/task"):
                wait += int(_read(f"{proc}/{member}/task/{tid}/schedstat").split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return cpu, wait


def _descendants(pid: int) -> list[str]:
    """``pid`` and its descendants, by the parent links of every process on the host."""
    children: dict[str, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = _read(f"/proc/{entry}/stat").rsplit(b")", 1)[1].split()[1].decode()
            except (OSError, IndexError):
                continue
            children.setdefault(parent, []).append(entry)
    found, todo = [], [str(pid)]
    while todo:
        member = todo.pop()
        found.append(member)
        todo.extend(children.get(member, ()))
    return found
