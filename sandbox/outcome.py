"""What came of a run: a fork server's reply and the run's output turned into a RunResult."""

from __future__ import annotations

import base64
import json
import signal
from typing import Any

from sandbox import model
from sandbox.model import RunResult
from sandbox.settings import EXEC_COLLECT, RunSettings


def classify(settings: RunSettings, reply: dict[str, Any], out: list[bytearray]) -> RunResult:
    """The pool's RunResult from a fork server's reply and the run's stdout, stderr and records."""
    if "outcome" in reply:  # the worker itself failed
        return RunResult(status=model.SANDBOX_ERROR, reason=reply.get("reason"), stderr=bytes(out[1]).decode(errors="replace"))
    stdout, stderr, raw_records = (bytes(b) for b in out[:3])
    records: list[Any] = []
    files: dict[str, bytes] = {}
    setup: dict[str, Any] | None = None
    compile_error: str | None = None
    for line in raw_records.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "sandbox" in record and setup is None:
            setup = record
        elif isinstance(record, dict) and "file" in record and settings.mode == EXEC_COLLECT:
            files[str(record["file"])] = base64.b64decode(record.get("data", ""))
        elif isinstance(record, dict) and "compile_error" in record and compile_error is None:
            compile_error = str(record["compile_error"])
        else:
            records.append(record)
    result = RunResult(
        status=model.OK,
        exit_code=reply.get("exit_code"),
        signal=reply.get("signal"),
        stdout=stdout.decode("utf-8", errors="replace"),
        stderr=stderr.decode("utf-8", errors="replace"),
        wall_s=float(reply.get("wall_s", 0.0)),
        cpu_s=float(reply.get("cpu_s", 0.0)),
        max_rss_mb=float(reply.get("max_rss_mb", 0.0)),
        records=records,
        files=files,
    )
    killed_for = reply.get("killed_for")
    cpu_limit = settings.cpu_rlimit_s
    sig = result.signal
    if killed_for == "cancelled" and (setup is None or setup.get("sandbox") != "ready"):
        result.status, result.reason = model.CANCELLED, "cancelled before the program started"
    elif setup is None or setup.get("sandbox") != "ready":
        if killed_for in ("timeout", "cpu_limit"):
            result.status, result.reason = model.SANDBOX_ERROR, "the sandbox setup timed out"
        else:
            why = (setup or {}).get("error") or f"the child died before the program started ({reply})"
            result.status, result.reason = model.SANDBOX_ERROR, f"sandbox setup failed: {why}"
    elif killed_for == "cancelled":
        result.status, result.reason = model.CANCELLED, "cancelled while running"
    elif killed_for == "cpu_limit":
        result.status, result.reason = model.TIMEOUT, f"CPU time limit of {settings.time_limit_s:g}s exceeded"
    elif killed_for == "timeout":
        result.status = model.TIMEOUT
        result.reason = f"wall-clock limit of {settings.wall_limit_s:g}s exceeded (the program slept or was blocked)"
    elif killed_for == "memory_limit":
        result.status = model.MEMORY_LIMIT
        result.reason = f"memory limit of {settings.memory_mb} MB exceeded (the run's processes together)"
    elif killed_for == "output_limit":
        result.status = model.OUTPUT_LIMIT
        result.reason = f"output exceeded {settings.max_output_bytes} bytes"
    elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and result.cpu_s >= cpu_limit - 0.05):
        result.status, result.reason = model.TIMEOUT, f"CPU time limit of {settings.time_limit_s:g}s exceeded"
    elif sig == signal.SIGXFSZ:
        result.status, result.reason = model.OUTPUT_LIMIT, f"file size limit of {settings.max_file_mb} MB exceeded"
    elif compile_error is not None:
        result.status, result.reason = model.COMPILE_ERROR, compile_error
    elif result.exit_code == 0 and sig is None:
        result.status = model.OK
    elif _looks_like_memory_exhaustion(result.stderr):
        result.status, result.reason = model.MEMORY_LIMIT, f"memory limit of {settings.memory_mb} MB exceeded"
    else:
        result.status = model.RUNTIME_ERROR
        if sig is not None:
            try:
                name = signal.Signals(sig).name
            except ValueError:
                name = str(sig)
            result.reason = f"killed by signal {name}"
        else:
            last = _last_message(result.stderr)
            result.reason = f"exit code {result.exit_code}" + (f": {last[:300]}" if last else "")
    return result


_BANNERS = ("Node.js v", "    at ", "Thrown at:", "^")
"""Lines a runtime prints after its error that say nothing of it (Node.js's version, stack
frames, a caret under the source)."""


def _last_message(stderr: str) -> str:
    """The last line of stderr that says what went wrong."""
    for line in reversed(stderr.strip().splitlines()):
        text = line.rstrip()
        if text.strip() and not text.lstrip().startswith(_BANNERS) and not text.startswith("    at "):
            return text.strip()
    return ""


MEMORY_EXHAUSTION = (
    "MemoryError",  # Python; Java's OutOfMemoryError
    "std::bad_alloc",
    "Cannot allocate memory",
    "heap out of memory",  # V8
    "runtime: out of memory",  # Go
    "memory allocation of",  # Rust's alloc failure
    "xmalloc: cannot allocate",  # bash
)
"""What a runtime says on stderr when it could not get memory (a run's limit met)."""


def _looks_like_memory_exhaustion(stderr: str) -> bool:
    tail = stderr[-4000:]
    return any(sign in tail for sign in MEMORY_EXHAUSTION)
