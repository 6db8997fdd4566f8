"""A pool of fork-server workers, one per slot, each with its own unprivileged uid."""

from __future__ import annotations

import itertools
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from sandbox import model
from sandbox.artifacts import ArtifactCache
from sandbox.cgroups import CgroupPlan, plan_cgroups
from sandbox.constants import LAYER_NAMES
from sandbox.handle import ForkServerHandle
from sandbox.languages import Language, get_language
from sandbox.model import RunRequest, RunResult
from sandbox.outcome import classify
from sandbox.rootspec import root_plans
from sandbox.runtime import RuntimeUnavailable, candidate_runtime
from sandbox.settings import PYTHON, PYTHON_DRIVER, RunSettings
from sandbox.sizing import CpuPicker, default_slots, usable_cpus
from sandbox.slots import Slots, Ticket
from sandbox.steps import Steps, artifacts_of, bundle, cacheable, compile_outcome, unbundle

_pool_counter = itertools.count()
_CPU_FIELD = RunSettings._fields.index("cpu")
_WORKER_FAILED = "sandbox worker failed"
WORKER_FAILURE_TRIES = 2
"""Times a run is sent when the fork server under it dies (it is replaced in between)."""
UID_BASE = 100_000
UIDS_PER_POOL = 256
"""Each slot takes two uids (its runs alternate between them), so a pool has at most 128 slots."""


class SandboxUnavailable(RuntimeError):
    """Strict mode was asked for and the host does not allow every isolation layer."""


def _slot_uid_base() -> int:
    """Distinct uids for every slot of every pool alive on the machine: from the pid
    (unique among live processes) and a per-process pool counter."""
    configured = os.environ.get("REWARD_SANDBOX_UID_BASE")
    if configured:
        return int(configured) + (next(_pool_counter) % 16) * UIDS_PER_POOL
    return UID_BASE + ((os.getpid() % (1 << 18)) << 13) + (next(_pool_counter) % 32) * UIDS_PER_POOL


class SandboxPool:
    """Fork servers, one per slot (by default several per CPU, see sandbox/sizing.py).
    :meth:`run` is blocking and thread-safe: callers wait for a free slot, in order of
    priority, and may cancel."""

    def __init__(self, size: int | None = None, strict: bool = False, layers: dict[str, bool] | None = None) -> None:
        self.size = max(1, size or default_slots())
        if self.size > UIDS_PER_POOL // 2:
            raise ValueError(f"a sandbox pool has at most {UIDS_PER_POOL // 2} slots, not {self.size}")
        self.owner_pid = os.getpid()
        self.strict = strict
        self._enabled = layers
        self._uid_base = _slot_uid_base()
        self._slots: Slots[ForkServerHandle] = Slots()
        self._workers: list[ForkServerHandle] = []
        self._lock = threading.Lock()
        self._closed = False
        self._compile_locks: dict[str, threading.Lock] = {}
        try:
            self.runtime = candidate_runtime()
            """The interpreter and site-packages programs run with (sandbox/runtime.py)."""
            plans = root_plans(self.runtime)
        except (RuntimeUnavailable, ValueError, OSError) as exc:
            raise SandboxUnavailable(f"the candidate runtime cannot be used: {exc}") from None
        self.cgroup_plan: CgroupPlan = plan_cgroups()
        self._options = {"root": plans, "cgroups": self.cgroup_plan.to_wire()}
        self.roots = [name for name, _plan in plans["roots"]]
        """The roots' names, by index (sandbox/rootspec.py)."""
        self._artifacts = ArtifactCache()
        """Compiled programs, on disk and bounded in bytes (sandbox/artifacts.py)."""
        self._run_ids = itertools.count(1)
        cpus = usable_cpus()
        self.sharing = -(-self.size // len(cpus))
        """How many runs may share a CPU when every slot is busy."""
        self._cpus = CpuPicker(cpus) if os.environ.get("REWARD_SANDBOX_PIN", "1") != "0" else None
        # One slot per CPU is started now; the rest start in the background and take
        # runs as they come up (a service is ready as soon as with one slot per CPU).
        # Every fork server, replacements included, is launched from one thread the pool
        # owns: its parent-death signal follows the thread that started it, and a caller's
        # thread may end long before the pool does.
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")
        eager = min(self.size, len(cpus))
        self.start_errors: dict[int, str] = {}
        """Slots started in the background that failed to start, and why."""
        self._starter: threading.Thread | None = None
        try:
            self._take_ready(self._launch(range(eager)), raise_errors=True)
        except BaseException:
            self.close()
            raise
        self.cpu_waits_measured = all(w.cpu_waits_measured for w in self._workers)
        """Whether the kernel reports the runs' waits for a CPU (their wall clock then
        leaves them out); without, the default wall-clock limit scales with ``sharing``."""
        self.steps = Steps({name: i for i, name in enumerate(self.roots)}, self.runtime.directory, self.sharing,
                           self.cpu_waits_measured)  # fmt: skip
        """How a request becomes its steps' settings (sandbox/steps.py)."""
        missing = [name for name, held in self.layers.items() if not held]
        if strict and missing:
            errors = self.layer_errors
            detail = "; ".join(f"{name}: {errors.get(name, 'unavailable')}" for name in missing)
            self.close()
            raise SandboxUnavailable(f"strict sandbox refused to start, layers unavailable: {detail}")
        if self.size > eager:
            try:
                more = self._launch(range(eager, self.size))
            except BaseException:
                self.close()
                raise
            self._starter = threading.Thread(target=self._take_ready, args=(more,), name="sandbox-start", daemon=True)
            self._starter.start()

    def _launch(self, slots: range) -> list[ForkServerHandle]:
        """Start these slots' fork servers all at once (each takes a fraction of a second)."""
        return self._spawner.submit(self._launch_here, slots).result()

    def _launch_here(self, slots: range) -> list[ForkServerHandle]:
        starting = [self._handle(slot) for slot in slots]
        try:
            for worker in starting:
                worker.start()
        except BaseException:
            for worker in starting:
                worker.stop()
            raise
        return starting

    def _handle(self, slot: int) -> ForkServerHandle:
        return ForkServerHandle(slot, self._uid_base + 2 * slot, self._enabled, self.runtime.python, self._options)

    def _take_ready(self, starting: list[ForkServerHandle], raise_errors: bool = False) -> None:
        """Each fork server takes runs once it reports ready; one that failed is stopped."""
        errors: dict[int, str] = {}
        for worker in starting:
            error = worker.wait_ready()
            with self._lock:
                ready = error is None and not self._closed
                if ready:
                    self._workers.append(worker)
                    self._slots.add(worker)
            if not ready:
                worker.stop()
                if error is not None:
                    errors[worker.slot] = error
        self.start_errors.update(errors)
        if errors and raise_errors:
            slot, error = next(iter(errors.items()))
            raise SandboxUnavailable(f"sandbox worker {slot} failed to start: {error}")

    def wait_started(self, timeout: float | None = None) -> bool:
        """Wait until every slot is up (or failed to start); whether that happened in time."""
        if self._starter is not None:
            self._starter.join(timeout)
            return not self._starter.is_alive()
        return True

    # ------------------------------------------------------------------ reporting

    @property
    def layers(self) -> dict[str, bool]:
        return {name: all(w.layers.get(name, False) for w in self._workers) for name in LAYER_NAMES}

    @property
    def native_setup(self) -> bool:
        """Whether the children's setup runs in C (sandbox/_native.c, built by the install)
        rather than in Python: the same steps, faster."""
        return all(w.native_setup for w in self._workers)

    @property
    def layer_errors(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        for worker in self._workers:
            for name, why in worker.layer_errors.items():
                errors.setdefault(name, why)
        return errors

    @property
    def limits(self) -> dict[str, Any]:
        """What holds each limit of a run (cgroups, or the watchdog and rlimits), and why
        a cgroup mechanism is not in use where it is not."""
        active = bool(self._workers) and all(w.layers.get("run_limits", False) for w in self._workers)
        plan = self.cgroup_plan if active else CgroupPlan()
        notes = dict(self.cgroup_plan.notes)
        if not active and "run_limits" in self.layer_errors:
            notes["run_limits"] = self.layer_errors["run_limits"]
        return {"mechanisms": plan.mechanisms(), **({"notes": notes} if notes else {})}

    @property
    def compile_root(self) -> bool:
        """Whether compilers are seen only by compile steps (a root of their own)."""
        return bool(self._workers) and all(getattr(w, "compile_root", False) for w in self._workers)

    @property
    def uids(self) -> list[int]:
        """Every uid a run of this pool may have: two per slot."""
        return [uid for w in self._workers for uid in (w.uid, w.uid + 1)]

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    def zygote_pids(self) -> list[int]:
        """Each fork server's zygote (the process that forks and reaps its children)."""
        return [w.zygote_pid for w in self._workers if w.zygote_pid is not None]

    def sweeper_pids(self) -> list[int]:
        """Each fork server's sweeper (kills whatever is left of an ended run)."""
        return [w.sweeper_pid for w in self._workers if w.sweeper_pid is not None]

    @property
    def waiting(self) -> int:
        """Runs waiting for a free slot now."""
        return self._slots.waiting

    @property
    def running(self) -> int:
        """Runs holding a slot now (sent to a fork server, or about to be)."""
        return self._slots.running

    # ------------------------------------------------------------------ running

    def run(self, req: RunRequest, *, cancel: threading.Event | None = None, priority: float = 0.0) -> RunResult:
        """Run ``req`` in a fresh child of a free slot and wait for the outcome.

        ``priority``: waiting runs take free slots lowest first, in arrival order among
        equals. ``cancel``: set while the run waits, it returns at once with status
        ``cancelled`` and never runs; set while it runs, the run is killed, its slot freed
        and the status is ``cancelled``. The wait for a slot never counts toward a limit."""
        try:
            language = get_language(req.language)
        except ValueError as exc:
            return RunResult(status=model.SANDBOX_ERROR, reason=str(exc))
        if req.driver is not None and not language.in_process:
            return RunResult(status=model.SANDBOX_ERROR, reason=f"a driver needs Python, not {language.name}")
        if not language.in_process and not language.installed():
            return RunResult(status=model.SANDBOX_ERROR, reason=f"{language.name} is not installed on this host")
        if language.in_process:
            mode = PYTHON_DRIVER if req.driver is not None else PYTHON
            files = {**req.files, **req.run_files}
            settings = self.steps.settings(req, mode=mode, argv=tuple(req.argv), files=files, source_file=language.source_file)
            source = req.source.encode("utf-8", "surrogatepass")
            return self._dispatch(settings, source, req.stdin, files, req.driver, cancel, priority)
        artifacts: dict[str, bytes] = {}
        compiled = None
        if language.compiled:
            compiled = self._compile(language, req, cancel, priority)
            if compiled.status != model.OK:
                return compiled
            artifacts = artifacts_of(language, compiled.files)
            compiled = replace(compiled, files={})
        settings, files = self.steps.run_step(language, req, artifacts)
        source = req.source.encode("utf-8", "surrogatepass")
        result = self._dispatch(settings, source, req.stdin, files, None, cancel, priority)
        result.compile = compiled
        return result

    def _compile(
        self, language: Language, req: RunRequest, cancel: threading.Event | None, priority: float
    ) -> RunResult:
        """The compile step's result, its artifacts among its files: from the cache (on
        disk), else compiled now, once per source even when many tests of it arrive at once."""
        key = self.steps.compile_key(language, req)
        with self._lock:
            lock = self._compile_locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._cached_compile(key)
            if cached is not None:
                return cached
            settings, files = self.steps.compile_step(language, req)
            result = self._dispatch(settings, b"", b"", files, None, cancel, priority)
            if result.status == model.CANCELLED:
                return result  # not cached: the next test of this source compiles it
            result = compile_outcome(language, result)
            artifacts = artifacts_of(language, result.files) if result.status == model.OK else {}
            self._artifacts.put(key, bundle(artifacts), cacheable(result))
            return replace(result, files=artifacts)

    def _cached_compile(self, key: str) -> RunResult | None:
        meta = self._artifacts.meta(key)
        if meta is None:
            return None
        if meta["result"].status != model.OK:
            return replace(meta["result"])
        got = self._artifacts.get(key)
        if got is None:
            return None  # evicted meanwhile: compiled again
        return replace(got[1]["result"], files=unbundle(got[0]))

    def _dispatch(
        self,
        settings: RunSettings,
        source: bytes,
        stdin: str | bytes,
        files: dict[str, bytes],
        driver: str | None,
        cancel: threading.Event | None,
        priority: float,
    ) -> RunResult:
        if self._closed:
            return RunResult(status=model.SANDBOX_ERROR, reason="the sandbox pool is closed")
        stdin_bytes = stdin.encode() if isinstance(stdin, str) else bytes(stdin)
        blobs = [source, stdin_bytes, *files.values()]
        header: dict[str, Any] = {"op": "run"}
        if driver is not None:
            header["driver_blob"] = len(files)
            blobs.append(driver.encode())
        queued_s = 0.0
        for _ in range(WORKER_FAILURE_TRIES):
            result = self._dispatch_once(settings, header, blobs, cancel, priority)
            queued_s += result.queued_s
            result.queued_s = queued_s
            if result.status != model.SANDBOX_ERROR or not result.reason or not result.reason.startswith(_WORKER_FAILED):
                return result
            # The slot's fork server died under the run (it was replaced): the run never
            # finished, so it runs again, elsewhere if another slot is free first.
        return result

    def _dispatch_once(
        self, settings: RunSettings, header: dict[str, Any], blobs: list[bytes], cancel: threading.Event | None,
        priority: float,
    ) -> RunResult:
        run_id = next(self._run_ids)
        ticket: Ticket[ForkServerHandle] = Ticket(priority, cancel, lambda: ticket.worker.cancel(run_id))  # type: ignore[union-attr]
        queued = time.monotonic()
        worker = self._slots.acquire(ticket)
        queued_s = time.monotonic() - queued
        if worker is None:
            if self._closed:
                return RunResult(status=model.SANDBOX_ERROR, reason="the sandbox pool is closed", queued_s=queued_s)
            return RunResult(status=model.CANCELLED, reason="cancelled while waiting for a slot", queued_s=queued_s)
        wire = settings.to_wire()
        cpu = None
        if self._cpus is not None and settings.mode == PYTHON_DRIVER:
            cpu = wire[_CPU_FIELD] = self._cpus.take()
        try:
            header["settings"] = wire
            try:
                answer = worker.request(run_id, header, blobs, cancel)
            except (OSError, EOFError, ValueError) as exc:
                worker = self._replace(worker)
                return RunResult(status=model.SANDBOX_ERROR, reason=f"{_WORKER_FAILED}: {exc}", queued_s=queued_s)
        finally:
            self._slots.done(ticket)
            if cpu is not None:
                self._cpus.give_back(cpu)  # type: ignore[union-attr]
            self._slots.release(worker)
        if answer is None:
            return RunResult(status=model.CANCELLED, reason="cancelled before it started", queued_s=queued_s)
        result = classify(settings, *answer)
        result.queued_s = queued_s
        return result

    def _replace(self, dead: ForkServerHandle) -> ForkServerHandle:
        try:
            dead.stop()
        except Exception:  # noqa: BLE001
            pass
        fresh = self._handle(dead.slot)
        self._spawner.submit(fresh.start).result()
        error = fresh.wait_ready()
        if error is not None:
            raise SandboxUnavailable(f"sandbox worker {dead.slot} failed to restart: {error}")
        with self._lock:
            self._workers[self._workers.index(dead)] = fresh
        return fresh

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._slots.close()
        starter = getattr(self, "_starter", None)
        if starter is not None:
            starter.join(30)  # the slots it starts see the pool closed and stop
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            try:
                worker.stop()
            except Exception:  # noqa: BLE001
                pass
        self._spawner.shutdown(wait=False)
        self.cgroup_plan.remove()
        self._artifacts.close()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- process-global pool

_default_pool: SandboxPool | None = None
_default_lock = threading.Lock()


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def start_default_pool(size: int | None = None, strict: bool = False) -> SandboxPool:
    """Start the process-global pool (call early: before secrets are loaded and threads start)."""
    global _default_pool
    with _default_lock:
        if _default_pool is not None:
            _default_pool.close()
        _default_pool = SandboxPool(size=size, strict=strict)
        return _default_pool


def get_default_pool() -> SandboxPool:
    """The process-global pool, started on first use from REWARD_SANDBOX_WORKERS / REWARD_SANDBOX_STRICT."""
    global _default_pool
    with _default_lock:
        if _default_pool is not None and _default_pool.owner_pid != os.getpid():
            _default_pool = None  # inherited through fork: its channels belong to the parent
        if _default_pool is None:
            workers = os.environ.get("REWARD_SANDBOX_WORKERS", "").strip()
            _default_pool = SandboxPool(
                size=int(workers) if workers else None, strict=_env_flag("REWARD_SANDBOX_STRICT")
            )
        return _default_pool


def current_pool() -> SandboxPool | None:
    """The process-global pool if one was started in this process (for /readyz)."""
    pool = _default_pool
    return pool if pool is not None and pool.owner_pid == os.getpid() else None


def close_default_pool() -> None:
    global _default_pool
    with _default_lock:
        if _default_pool is not None and _default_pool.owner_pid == os.getpid():
            _default_pool.close()
        _default_pool = None
