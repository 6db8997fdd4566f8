"""A pool of fork-server workers, one per slot, each with its own unprivileged uid."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import queue
import socket
import subprocess
import sys
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from sandbox import model
from sandbox.constants import LAYER_NAMES, SANDBOX_PATH
from sandbox.languages import Language, get_language
from sandbox.model import RunRequest, RunResult
from sandbox.outcome import classify
from sandbox.settings import EXEC, EXEC_COLLECT, PYTHON, PYTHON_DRIVER, RunSettings
from sandbox.wire import recv_message, send_message

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_BOOTSTRAP = (
    # The package's __init__ (the pool, subprocess, threading, ...) is not loaded: a bare
    # package module stands in, so the fork server, which every run copies, holds only
    # what runs need.
    "import sys, types; root = sys.argv.pop(1); sys.path.insert(0, root); "
    "package = types.ModuleType('sandbox'); package.__path__ = [root + '/sandbox']; "
    "sys.modules['sandbox'] = package; "
    "from sandbox.forkserver.main import main; main()"
)
_pool_counter = itertools.count()
UID_BASE = 100_000
UIDS_PER_POOL = 256
"""Each slot takes two uids (its runs alternate between them), so a pool has at most 128 slots."""


def _home_cpu(slot: int) -> int | None:
    """The CPU a slot's runs are kept on (slots spread over the CPUs this process may use),
    or None when pinning is off (``REWARD_SANDBOX_PIN=0``)."""
    if os.environ.get("REWARD_SANDBOX_PIN", "1") == "0":
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[slot % len(cpus)]


class SandboxUnavailable(RuntimeError):
    """Strict mode was asked for and the host does not allow every isolation layer."""


def _slot_uid_base() -> int:
    """Distinct uids for every slot of every pool alive on the machine: from the pid
    (unique among live processes) and a per-process pool counter."""
    configured = os.environ.get("REWARD_SANDBOX_UID_BASE")
    if configured:
        return int(configured) + (next(_pool_counter) % 16) * UIDS_PER_POOL
    return UID_BASE + ((os.getpid() % (1 << 18)) << 13) + (next(_pool_counter) % 32) * UIDS_PER_POOL


class _Worker:
    def __init__(self, slot: int, uid: int, enabled_layers: dict[str, bool] | None) -> None:
        self.slot = slot
        self.uid = uid
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket = parent_end
        self.fd = parent_end.fileno()
        options = {
            "layers": enabled_layers,
            "native_setup": os.environ.get("REWARD_SANDBOX_NATIVE", "1") != "0",
            "cpu": _home_cpu(slot),
        }
        args = [sys.executable, "-I", "-c", _BOOTSTRAP, _REPO_ROOT, str(child_end.fileno()), str(uid), json.dumps(options)]
        self.process = subprocess.Popen(
            args,
            pass_fds=[child_end.fileno()],
            env={"PATH": SANDBOX_PATH, "LANG": "C.UTF-8"},  # none of the service's environment
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            cwd="/",
        )
        child_end.close()
        header, _ = recv_message(self.fd)
        if header.get("op") != "ready":
            self.stop()
            raise SandboxUnavailable(f"sandbox worker {slot} failed to start: {header.get('error')}")
        self.layers: dict[str, bool] = header["layers"]
        self.layer_errors: dict[str, str] = header.get("layer_errors", {})
        self.zygote_pid: int | None = header.get("zygote_pid")
        self.sweeper_pid: int | None = header.get("sweeper_pid")
        self.native_setup: bool = header.get("native_setup", False)

    def request(self, header: dict[str, Any], blobs: list[bytes]) -> tuple[dict[str, Any], list[bytearray]]:
        send_message(self.fd, header, blobs)
        return recv_message(self.fd)

    def stop(self) -> None:
        try:
            send_message(self.fd, {"op": "stop"})
        except OSError:
            pass
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._socket.close()


class SandboxPool:
    """Fork-server workers sized to the cores; :meth:`run` is blocking and thread-safe
    (callers queue when every slot is busy)."""

    def __init__(self, size: int | None = None, strict: bool = False, layers: dict[str, bool] | None = None) -> None:
        self.size = max(1, size or os.cpu_count() or 1)
        if self.size > UIDS_PER_POOL // 2:
            raise ValueError(f"a sandbox pool has at most {UIDS_PER_POOL // 2} slots, not {self.size}")
        self.owner_pid = os.getpid()
        self.strict = strict
        self._enabled = layers
        self._uid_base = _slot_uid_base()
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self._compiled: OrderedDict[str, RunResult] = OrderedDict()
        self._compile_locks: dict[str, threading.Lock] = {}
        try:
            for slot in range(self.size):
                worker = _Worker(slot, self._uid_base + 2 * slot, layers)
                self._workers.append(worker)
                self._idle.put(worker)
        except BaseException:
            self.close()
            raise
        missing = [name for name, held in self.layers.items() if not held]
        if strict and missing:
            errors = self.layer_errors
            detail = "; ".join(f"{name}: {errors.get(name, 'unavailable')}" for name in missing)
            self.close()
            raise SandboxUnavailable(f"strict sandbox refused to start, layers unavailable: {detail}")

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

    # ------------------------------------------------------------------ running

    def run(self, req: RunRequest) -> RunResult:
        try:
            language = get_language(req.language)
        except ValueError as exc:
            return RunResult(status=model.SANDBOX_ERROR, reason=str(exc))
        if req.driver is not None and not language.in_process:
            return RunResult(status=model.SANDBOX_ERROR, reason=f"a driver needs Python, not {language.name}")
        if language.compile_argv is not None:
            compiled = self._compile(language, req)
            if compiled.status != model.OK:
                return compiled
            files = dict(req.files)
            assert language.artifact is not None
            files[language.artifact] = compiled.files[language.artifact]
            settings = self._settings(req, mode=EXEC, argv=(*language.run_argv, *req.argv), files=files)
            result = self._dispatch(settings, req.source.encode(), req.stdin, files, None)
            result.compile = compiled
            return result
        mode = PYTHON_DRIVER if req.driver is not None else PYTHON
        settings = self._settings(req, mode=mode, argv=tuple(req.argv), files=req.files, source_file=language.source_file)
        return self._dispatch(settings, req.source.encode("utf-8", "surrogatepass"), req.stdin, req.files, req.driver)

    @staticmethod
    def _settings(
        req: RunRequest, *, mode: str, argv: tuple[str, ...], files: dict[str, bytes], source_file: str | None = None
    ) -> RunSettings:
        return RunSettings(
            mode=mode,
            argv=argv,
            files=tuple(files),
            collect=tuple(req.collect),
            source_file=source_file,
            time_limit_s=float(req.time_limit_s),
            memory_mb=int(req.memory_mb),
            max_output_bytes=int(req.max_output_bytes),
            max_processes=int(req.max_processes),
            max_file_mb=int(req.max_file_mb),
            max_open_files=int(req.max_open_files),
            driver_data=req.driver_data,
            restarts=bool(req.driver_restarts),
        )

    def _compile(self, language: Language, req: RunRequest) -> RunResult:
        key = hashlib.sha256(f"{language.name}\0{language.compile_argv}\0{req.source}".encode()).hexdigest()
        with self._lock:
            lock = self._compile_locks.setdefault(key, threading.Lock())
        with lock:  # one compile per source even when many tests of it arrive at once
            with self._lock:
                cached = self._compiled.get(key)
                if cached is not None:
                    self._compiled.move_to_end(key)
                    return cached
            compile_req = replace(
                req,
                time_limit_s=language.compile_time_limit_s,
                memory_mb=max(req.memory_mb, language.compile_memory_mb),
                collect=[language.artifact] if language.artifact else [],
                max_processes=max(req.max_processes, 16),
                max_file_mb=max(req.max_file_mb, 64),
                stdin=b"",
            )
            files = {language.source_file: req.source.encode()}
            settings = self._settings(compile_req, mode=EXEC_COLLECT, argv=tuple(language.compile_argv or ()), files=files)
            result = self._dispatch(settings, b"", b"", files, None)
            if result.status == model.OK and language.artifact not in result.files:
                result = replace(result, status=model.COMPILE_ERROR, reason="the compiler left no program")
            elif result.status in (model.RUNTIME_ERROR, model.MEMORY_LIMIT):
                tail = result.stderr.strip()[-2000:]
                result = replace(result, status=model.COMPILE_ERROR, reason=f"compilation failed: {tail}")
            elif result.status != model.OK:
                result = replace(result, reason=f"compilation: {result.reason}")
            if result.status == model.COMPILE_ERROR and result.reason is None:
                result.reason = "compilation failed"
            with self._lock:
                self._compiled[key] = result
                while len(self._compiled) > 256:
                    old, _ = self._compiled.popitem(last=False)
                    self._compile_locks.pop(old, None)
            return result

    def _dispatch(
        self,
        settings: RunSettings,
        source: bytes,
        stdin: str | bytes,
        files: dict[str, bytes],
        driver: str | None,
    ) -> RunResult:
        if self._closed:
            return RunResult(status=model.SANDBOX_ERROR, reason="the sandbox pool is closed")
        stdin_bytes = stdin.encode() if isinstance(stdin, str) else bytes(stdin)
        blobs = [source, stdin_bytes, *files.values()]
        header: dict[str, Any] = {"op": "run", "settings": settings.to_wire()}
        if driver is not None:
            header["driver_blob"] = len(files)
            blobs.append(driver.encode())
        worker = self._idle.get()
        try:
            try:
                reply, out = worker.request(header, blobs)
            except (OSError, EOFError, ValueError) as exc:
                worker = self._replace(worker)
                return RunResult(status=model.SANDBOX_ERROR, reason=f"sandbox worker failed: {exc}")
        finally:
            self._idle.put(worker)
        return classify(settings, reply, out)

    def _replace(self, dead: _Worker) -> _Worker:
        try:
            dead.stop()
        except Exception:  # noqa: BLE001
            pass
        fresh = _Worker(dead.slot, dead.uid, self._enabled)
        with self._lock:
            self._workers[self._workers.index(dead)] = fresh
        return fresh

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers)
        for worker in workers:
            try:
                worker.stop()
            except Exception:  # noqa: BLE001
                pass

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
