"""A command run in the sandbox (a compiler) whose output files are sent back as records."""

from __future__ import annotations

import base64
import glob
import os

from sandbox import isolation
from sandbox.pyharness.plain import emit
from sandbox.wire import RECORDS_FD

MAX_ARTIFACT_BYTES = 64 << 20
"""What a compile step may hand back (a language's ``max_artifact_mb`` is at most this)."""


def run_and_collect(argv: list[str], env: dict[str, str], collect: list[str], max_bytes: int = MAX_ARTIFACT_BYTES) -> None:
    """Run the command (as PID 1's child), then send back the files ``collect`` names
    (names, or glob patterns: a compiler's several outputs), in all at most ``max_bytes``."""
    pid = isolation.fork()
    if pid == 0:
        try:
            os.close(RECORDS_FD)
            os.execve(which(argv[0], env), argv, env)
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
        names = []
        for pattern in collect:
            names += sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        left = max_bytes
        for name in names:
            try:
                with open(name, "rb") as fh:
                    blob = fh.read(left + 1)
            except OSError:
                continue
            if len(blob) > left:
                emit({"file_too_large": name, "too_large": os.stat(name).st_size})
                break
            left -= len(blob)
            emit({"file": name, "data": base64.b64encode(blob).decode()})
    os._exit(code if code >= 0 else 128 - code)


def which(name: str, env: dict[str, str]) -> str:
    """A command's path: as given when it has a slash, else found on the environment's PATH."""
    if "/" in name:
        return name
    for directory in env.get("PATH", "").split(":"):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    return name

