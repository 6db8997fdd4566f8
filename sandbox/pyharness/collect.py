"""A command run in the sandbox (a compiler) whose output files are sent back as records."""

from __future__ import annotations

import base64
import os

from sandbox import isolation
from sandbox.pyharness.plain import emit
from sandbox.wire import RECORDS_FD

MAX_ARTIFACT_BYTES = 64 << 20
"""What a compile step may hand back (a language's ``max_artifact_mb`` is at most this)."""


def run_and_collect(argv: list[str], env: dict[str, str], collect: list[str], max_bytes: int = MAX_ARTIFACT_BYTES) -> None:
    pid = isolation.fork()
    if pid == 0:
        try:
            os.close(RECORDS_FD)
            os.execve(argv[0] if "/" in argv[0] else _which(argv[0], env), argv, env)
        finally:
            os._exit(127)
    status = 0
    while True:  # as PID 1, reap every orphan until the command itself is done
        try:
            done, st = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if done == pid:
            status = st
            break
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        for name in collect:
            try:
                with open(name, "rb") as fh:
                    blob = fh.read(max_bytes + 1)
            except OSError:
                continue
            if len(blob) <= max_bytes:
                emit({"file": name, "data": base64.b64encode(blob).decode()})
            else:
                emit({"file_too_large": name, "too_large": os.stat(name).st_size})
    os._exit(code if code >= 0 else 128 - code)


def _which(name: str, env: dict[str, str]) -> str:
    for directory in env.get("PATH", "").split(":"):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    return name

