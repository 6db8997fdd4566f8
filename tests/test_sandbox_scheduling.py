"""Slots, limits and cancellation: real sandbox runs, asserting on statuses, CPU time,
order and counters (never on how long something took).

- A correct CPU-bound program is not a timeout when more runs than CPUs share them: its
  CPU limit decides "too slow", and its wall clock leaves out the waits for a CPU.
- A request cancelled while it waits never runs; one cancelled while it runs is killed
  and its slot is free again; time waiting for a slot counts toward no limit.
- Waiting requests take free slots lowest priority first, in arrival order among equals.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from sandbox import RunRequest, RunResult, SandboxPool

SLEEPER = "import time\ntime.sleep(600)\n"
# Spins until it has used exactly this much CPU, however much it has to share.
SPIN_FOR = "import time\nwhile time.process_time() < {cpu}:\n    pass\nprint('done')\n"


def wait_until(condition, what: str, limit_s: float = 60.0) -> None:
    """Wait for a state of the pool (bounded, so a broken pool fails instead of hanging)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


class Background:
    """A run on a thread of its own, with its own cancel event."""

    def __init__(self, pool: SandboxPool, req: RunRequest, priority: float = 0.0, done: list | None = None, name=""):
        self.cancel = threading.Event()
        self.result: RunResult | None = None

        def target() -> None:
            self.result = pool.run(req, cancel=self.cancel, priority=priority)
            if done is not None:
                done.append(name)

        self.thread = threading.Thread(target=target)
        self.thread.start()

    def join(self) -> RunResult:
        self.thread.join(120)
        assert not self.thread.is_alive(), "the run never returned"
        assert self.result is not None
        return self.result


def left_behind(pool: SandboxPool) -> list[int]:
    """Processes of the pool's run uids (its sweepers excepted: they hold them by design)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in pool.sweeper_pids():
            try:
                uid = int(open(f"/proc/{entry}/status").read().split("Uid:")[1].split()[0])
            except (OSError, IndexError, ValueError):
                continue
            if uid in pool.uids:
                found.append(int(entry))
    return found


@pytest.fixture
def one_slot():
    with SandboxPool(size=1) as pool:
        yield pool
        assert pool.waiting == 0 and pool.running == 0
        wait_until(lambda: not left_behind(pool), "no process of a run is left", limit_s=5)


def occupy(pool: SandboxPool) -> Background:
    """Fill the pool's only slot with a program that sleeps until cancelled."""
    blocker = Background(pool, RunRequest(source=SLEEPER, time_limit_s=1.0, wall_limit_s=600))
    wait_until(lambda: pool.running == 1, "the blocker holds the slot")
    return blocker


def test_correct_cpu_bound_programs_sharing_the_cpus_are_not_timeouts():
    cpus = len(os.sched_getaffinity(0))
    runs = 3 * cpus  # three runs per CPU, all at once
    with SandboxPool(size=runs) as pool:
        assert pool.wait_started(120) and not pool.start_errors
        request = RunRequest(source=SPIN_FOR.format(cpu=1.0), time_limit_s=1.5)
        started = [Background(pool, request) for _ in range(runs)]
        results = [b.join() for b in started]
    assert [r.status for r in results] == ["ok"] * runs, [(r.status, r.reason, r.cpu_s, r.wall_s) for r in results]
    # The run's CPU as its cgroup counts it: a program still on a CPU when it is read has
    # its last few milliseconds not yet added.
    assert all(r.stdout == "done\n" and 0.98 <= r.cpu_s < 1.5 for r in results), results
    # They did share: each needed 1 CPU second with a third of a CPU, far longer than the
    # 2.5 s a wall clock counting the waits for a CPU would have allowed.
    assert max(r.wall_s for r in results) > 1.5 + 1.0, [r.wall_s for r in results]


def test_a_program_over_its_cpu_limit_is_a_timeout_whatever_the_sharing():
    with SandboxPool(size=2) as pool:
        slow = pool.run(RunRequest(source=SPIN_FOR.format(cpu=2.0), time_limit_s=1.0))
    assert slow.status == "timeout" and "CPU time limit of 1s" in slow.reason, slow
    assert 1.0 <= slow.cpu_s < 1.5, slow


def test_cancelled_while_waiting_it_never_runs_and_while_running_it_is_killed(one_slot):
    pool = one_slot
    blocker = occupy(pool)
    waiter = Background(pool, RunRequest(source="print('ran')"))
    wait_until(lambda: pool.waiting == 1, "the second run waits")
    assert pool.running == 1
    waiter.cancel.set()
    cancelled = waiter.join()
    assert cancelled.status == "cancelled" and "waiting" in cancelled.reason, cancelled
    assert cancelled.stdout == "" and cancelled.exit_code is None and cancelled.cpu_s == 0.0
    assert pool.waiting == 0 and pool.running == 1

    blocker.cancel.set()
    killed = blocker.join()
    # killed wherever it was (its program started, or just before)
    assert killed.status == "cancelled" and killed.signal == 9, killed
    assert pool.running == 0 and pool.waiting == 0
    after = pool.run(RunRequest(source="print(6 * 7)"))  # the slot is free and healthy
    assert after.status == "ok" and after.stdout == "42\n", after


def test_a_cancel_set_before_the_call_returns_without_running(one_slot):
    cancel = threading.Event()
    cancel.set()
    result = one_slot.run(RunRequest(source="print('ran')"), cancel=cancel)
    assert result.status == "cancelled" and result.stdout == "", result


def test_a_cancelled_driver_run_leaves_nothing_behind(one_slot):
    pool = one_slot
    driver = "emit({'started': True})\nimport time\ntime.sleep(600)\n"
    run = Background(pool, RunRequest(source="def f():\n    return 1\n", driver=driver, time_limit_s=1, wall_limit_s=600))
    wait_until(lambda: pool.running == 1, "the driver runs")
    run.cancel.set()
    result = run.join()
    assert result.status == "cancelled", result
    assert pool.run(RunRequest(source="print(1)")).stdout == "1\n"


def test_time_waiting_for_a_slot_counts_toward_no_limit(one_slot):
    pool = one_slot
    blocker = Background(pool, RunRequest(source="import time\ntime.sleep(3)\n", time_limit_s=1.0, wall_limit_s=60))
    wait_until(lambda: pool.running == 1, "the blocker holds the slot")
    quick = pool.run(RunRequest(source="print('quick')", time_limit_s=0.5, wall_limit_s=0.5))
    assert blocker.join().status == "ok"
    assert quick.status == "ok" and quick.stdout == "quick\n", quick
    assert quick.queued_s > 0.5  # it waited longer than either of its limits


def test_waiting_runs_take_free_slots_by_priority_then_in_arrival_order(one_slot):
    pool = one_slot
    blocker = occupy(pool)
    order: list[str] = []
    queued = []
    for name, priority in (("long", 5.0), ("short-1", 1.0), ("short-2", 1.0), ("urgent", 0.0), ("short-3", 1.0)):
        queued.append(Background(pool, RunRequest(source=f"print({name!r})"), priority, order, name))
        wait_until(lambda n=len(queued): pool.waiting == n, f"{name} waits")
    blocker.cancel.set()
    assert blocker.join().status == "cancelled"
    results = [b.join() for b in queued]
    assert all(r.status == "ok" for r in results), results
    assert order == ["urgent", "short-1", "short-2", "short-3", "long"]


def test_concurrent_driver_runs_are_kept_on_different_cpus():
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("one CPU: nothing to spread over")
    driver = "import os, time\nemit({'cpu': sorted(os.sched_getaffinity(0))})\ntime.sleep(3)\n"
    source = "import os\ndef cpus():\n    return sorted(os.sched_getaffinity(0))\n"
    driver = driver.replace("emit({", "emit({'candidate': solution.call('cpus'), ")
    with SandboxPool(size=4) as pool:  # more slots than CPUs
        assert pool.wait_started(120)
        held = [Background(pool, RunRequest(source=source, driver=driver, time_limit_s=1, wall_limit_s=60)) for _ in range(2)]
        wait_until(lambda: pool.running == 2, "both driver runs hold a slot at once")
        results = [run.join() for run in held]
    assert [r.status for r in results] == ["ok", "ok"], results
    seen = [r.records[0] for r in results]
    assert all(len(s["cpu"]) == 1 and s["candidate"] == s["cpu"] for s in seen), seen
    assert seen[0]["cpu"] != seen[1]["cpu"], seen


def test_closing_the_pool_wakes_waiting_runs():
    pool = SandboxPool(size=1)
    blocker = occupy(pool)
    waiter = Background(pool, RunRequest(source="print('ran')"))
    wait_until(lambda: pool.waiting == 1, "the second run waits")
    pool.close()
    assert waiter.join().status == "sandbox_error"
    assert blocker.join().status == "cancelled"


def test_default_slots_are_several_per_cpu_and_bounded_by_memory(monkeypatch):
    from sandbox.sizing import available_memory_mb, default_slots

    cpus = len(os.sched_getaffinity(0))
    monkeypatch.delenv("REWARD_SANDBOX_SLOTS_PER_CPU", raising=False)
    monkeypatch.setenv("REWARD_SANDBOX_SLOT_MEMORY_MB", "1")
    assert default_slots() == min(128, 4 * cpus)
    monkeypatch.setenv("REWARD_SANDBOX_SLOTS_PER_CPU", "3")
    assert default_slots() == min(128, 3 * cpus)
    # No more slots than the available memory holds at this much per slot (one per CPU at least).
    monkeypatch.setenv("REWARD_SANDBOX_SLOT_MEMORY_MB", str(available_memory_mb() // 2 + 1))
    assert default_slots() == cpus


def test_a_pool_made_on_a_thread_outlives_the_thread():
    # Fork servers die with the thread that started them (their parent-death signal):
    # the pool starts them from a thread of its own, not the caller's.
    made: list[SandboxPool] = []
    thread = threading.Thread(target=lambda: made.append(SandboxPool(size=2)))
    thread.start()
    thread.join()
    pool = made[0]
    try:
        assert pool.wait_started(60)
        time.sleep(0.5)  # a parent-death signal would have been delivered by now
        results = [pool.run(RunRequest(source="print(7)")) for _ in range(4)]
        assert [r.stdout for r in results] == ["7\n"] * 4, results
    finally:
        pool.close()


def test_a_run_whose_fork_server_dies_runs_again_on_a_fresh_one():
    with SandboxPool(size=1) as pool:
        assert pool.run(RunRequest(source="print(1)")).ok
        os.kill(pool.worker_pids()[0], signal.SIGKILL)
        result = pool.run(RunRequest(source="print(2)"))
        assert result.ok and result.stdout == "2\n", result
        assert pool.run(RunRequest(source="print(3)")).stdout == "3\n"
