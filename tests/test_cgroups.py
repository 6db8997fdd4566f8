"""Control groups: what the pool finds on a host, and what a run's cgroup reads and writes.

The test VM has cgroup v1 memory and pids and a unified hierarchy without controllers, so
the real path there is covered by the sandbox tests (tests/test_sandbox_limits.py). The
cgroup v2 controller path (memory.max, pids.max, memory.events) is exercised here on a
directory laid out as the kernel lays out a delegated cgroup, with the kernel's file
formats: what the code writes and what it makes of what it reads.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox import cgroups
from sandbox.forkserver.runcgroups import RunCgroup, RunCgroups, _field


def test_stat_fields_are_read_by_name():
    oom_control = b"oom_kill_disable 0\nunder_oom 0\noom_kill 5\n"
    assert _field(oom_control, b"oom_kill") == 5
    assert _field(b"some avg10=0.00 avg60=0.00 avg300=0.00 total=123456\nfull avg10=0.00 total=9\n", b"total") == 123456
    assert _field(b"usage_usec 250\nuser_usec 200\n", b"usage_usec") == 250
    assert _field(b"low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n", b"oom_kill") == 2
    assert _field(b"", b"oom_kill") == 0


def _delegated_v2(path: Path) -> Path:
    """A cgroup v2 directory as the kernel shows one with memory and pids delegated."""
    path.mkdir(parents=True)
    (path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (path / "cgroup.subtree_control").write_text("memory pids\n")
    (path / "cgroup.procs").write_text("")
    (path / "cgroup.type").write_text("domain\n")
    return path


def _v2_child(path: Path) -> None:
    """What the kernel puts in a new child of a delegated cgroup."""
    for name, text in {
        "cgroup.procs": "", "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
        "cpu.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        "memory.max": "max\n", "memory.swap.max": "max\n", "memory.peak": "0\n",
        "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n", "pids.max": "max\n",
    }.items():  # fmt: skip
        (path / name).write_text(text)


def test_a_delegated_v2_cgroup_limits_and_measures_a_run(tmp_path, monkeypatch):
    base = _delegated_v2(tmp_path / "service")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cgroups, "_mounts", lambda: (str(tmp_path), {}))
    monkeypatch.setattr(cgroups, "_own_cgroups", lambda: ("/service", {}))
    plan = cgroups.plan_cgroups()
    assert plan.v2 and plan.v2.startswith(str(base)) and plan.v2_controllers == ["memory", "pids"]
    assert Path(plan.v2, "cgroup.subtree_control").read_text() == "+memory +pids"
    assert plan.mechanisms()["memory"] == "cgroup v2 memory.max" and "pids.max" in plan.mechanisms()["processes"]
    # the fork server's ring, each cgroup as the kernel would fill it in
    real_mkdir = os.mkdir

    def mkdir(name, mode=0o777, *, dir_fd=None):
        real_mkdir(name, mode, dir_fd=dir_fd)
        _v2_child(Path(f"/proc/self/fd/{dir_fd}").resolve() / name)

    monkeypatch.setattr(os, "mkdir", mkdir)
    ring = RunCgroups(plan.to_wire(), "slot7")
    assert ring and ring.error is None and len(ring.sets) == 6
    assert ring.report() == {"cpu": True, "cpu_wait": True, "memory": "v2", "processes": True}
    group: RunCgroup = ring.sets[0]
    directory = Path(plan.v2, "slot7-0")
    assert (directory / "memory.swap.max").read_text().startswith("0")  # swap off
    (directory / "cpu.stat").write_text("usage_usec 1000\nuser_usec 900\n")
    (directory / "cpu.pressure").write_text("some avg10=0.00 total=500\nfull total=0\n")
    group.begin(memory_mb=128, max_processes=16)
    assert (directory / "memory.max").read_text().startswith(str(128 << 20))
    assert (directory / "pids.max").read_text().startswith("16")
    (directory / "cpu.stat").write_text("usage_usec 1501000\nuser_usec 1400000\n")
    (directory / "cpu.pressure").write_text("some avg10=0.00 total=250500\nfull total=0\n")
    assert group.cpu_s() == pytest.approx(1.5)
    assert group.waited_s() == pytest.approx(0.25)
    assert not group.memory_killed()
    (directory / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\noom_group_kill 0\n")
    assert group.memory_killed()
    ring.close()  # (a cgroup directory is removed with rmdir; these, holding files, stay)


def test_an_undelegated_v2_cgroup_measures_cpu_and_leaves_memory_to_v1_or_the_watchdog(tmp_path, monkeypatch):
    base = tmp_path / "user.slice"
    base.mkdir()
    (base / "cgroup.controllers").write_text("cpu memory pids\n")
    (base / "cgroup.subtree_control").write_text("")
    (base / "cgroup.type").write_text("domain\n")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(cgroups, "_mounts", lambda: (str(tmp_path), {}))
    monkeypatch.setattr(cgroups, "_own_cgroups", lambda: ("/user.slice", {}))

    def busy(path: str, text: str) -> None:  # the kernel refuses controllers to a cgroup holding processes
        if path.endswith("cgroup.subtree_control") and Path(path).parent == base:
            raise OSError(16, "Device or resource busy")
        Path(path).write_text(text)

    monkeypatch.setattr(cgroups, "_write", busy)
    plan = cgroups.plan_cgroups()
    assert plan.v2 is not None and plan.v2_controllers == []
    assert "REWARD_SANDBOX_CGROUP" in plan.notes["v2"]
    mechanisms = plan.mechanisms()
    assert mechanisms["cpu"] == "cgroup v2 cpu.stat" and mechanisms["memory"].startswith("watchdog")


def test_cgroups_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("REWARD_SANDBOX_CGROUPS", "0")
    plan = cgroups.plan_cgroups()
    assert plan.v2 is None and plan.v1 == {} and plan.notes == {"all": "REWARD_SANDBOX_CGROUPS=0"}
    assert plan.mechanisms()["memory"].startswith("watchdog")
