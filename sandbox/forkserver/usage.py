"""What a running run has used, read from /proc where its cgroup does not say: CPU
seconds, the longest wait of one of its threads for a CPU, and the memory its processes
hold together.

Read by the server at the moments a run could have reached a limit (see
:mod:`.supervise`), never on the way of a run that ends before them. The run's processes
are those of its PID namespace: listed through the run's own /proc (reached as
``<pid>/root/proc`` under the host's /proc, which the server keeps open) when it has one,
else found by their parent links on the host's /proc. CPU counts every thread, live or
ended, and every reaped descendant.
"""

from __future__ import annotations

import os

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_MB = os.sysconf("SC_PAGE_SIZE") / (1 << 20)


def cpu_wait_measured() -> bool:
    """Whether this kernel reports run-queue delays (CONFIG_SCHED_INFO)."""
    try:
        with open("/proc/self/schedstat", "rb") as fh:
            return len(fh.read().split()) >= 2
    except OSError:
        return False


def _read(path: str, proc_fd: int | None) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc_fd)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def _listdir(path: str, proc_fd: int | None) -> list[str]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=proc_fd)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def run_usage(pid: int, private_proc: bool, proc_fd: int | None = None) -> tuple[float, float, float]:
    """CPU seconds, the longest wait for a CPU of one thread (seconds) and the resident
    memory (MB, anonymous pages: what the run's processes hold of their own, and what they
    share copy-on-write with the interpreter, counted in each) of the run whose PID 1 is
    ``pid`` (zeros once it is gone). ``proc_fd`` is the host's /proc (None: ``/proc``)."""
    base = "" if proc_fd is not None else "/proc/"
    proc, members = base, None
    if private_proc:
        try:
            proc = f"{base}{pid}/root/proc/"
            members = [entry for entry in _listdir(proc, proc_fd) if entry.isdigit()]
        except OSError:
            proc, members = base, None
    if members is None:
        members = _descendants(pid, base, proc_fd)
    cpu = wait = memory = 0.0
    for member in members:
        try:
            fields = _read(f"{proc}{member}/stat", proc_fd).rsplit(b")", 1)[1].split()
            # utime, stime (every thread, ended ones too), cutime, cstime (reaped descendants)
            cpu += (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / CLOCK_TICKS
            statm = _read(f"{proc}{member}/statm", proc_fd).split()
            memory += (int(statm[1]) - int(statm[2])) * PAGE_MB  # resident less file-backed and shared memory
            if int(fields[17]) == 1:  # one thread: the process's own line is the thread's
                wait = max(wait, int(_read(f"{proc}{member}/schedstat", proc_fd).split()[1]) / 1e9)
                continue
            for tid in _listdir(f"{proc}{member}/task", proc_fd):
                wait = max(wait, int(_read(f"{proc}{member}/task/{tid}/schedstat", proc_fd).split()[1]) / 1e9)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return cpu, wait, memory


def _descendants(pid: int, base: str, proc_fd: int | None) -> list[str]:
    """``pid`` and its descendants, by the parent links of every process on the host."""
    children: dict[str, list[str]] = {}
    for entry in _listdir(base or ".", proc_fd):
        if entry.isdigit():
            try:
                parent = _read(f"{base}{entry}/stat", proc_fd).rsplit(b")", 1)[1].split()[1].decode()
            except (OSError, IndexError):
                continue
            children.setdefault(parent, []).append(entry)
    found, todo = [], [str(pid)]
    while todo:
        member = todo.pop()
        found.append(member)
        todo.extend(children.get(member, ()))
    return found
