"""The run of a plain program, and what every run shares: stdio, the interpreter reset,
the JSON records a run writes, and the trailer that ends it.

:func:`run_main` runs the untrusted source as ``__main__`` in the warm interpreter of a
fresh child (the fork server made it ahead: :func:`warm_up` once per server,
:func:`prepare` once per child).
"""

from __future__ import annotations

import builtins
import io
import json
import os
import struct
import sys
import traceback
import types
from typing import Any

from sandbox.wire import RECORDS_FD

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def emit(obj: Any) -> None:
    data = (json.dumps(obj, default=repr) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[os.write(RECORDS_FD, view) :]


_prepared: dict[str, Any] = {}


def _new_stdio() -> tuple[io.TextIOWrapper, io.TextIOWrapper, io.TextIOWrapper]:
    """A run's stdin, stdout and stderr, as a real interpreter's look to the program (its
    ``name`` and ``mode`` too: fast-I/O templates read ``sys.stdin.mode``)."""
    stdin = io.TextIOWrapper(io.BufferedReader(_raw(0, "r", "<stdin>")), encoding="utf-8", errors="replace")
    out = io.TextIOWrapper(io.BufferedWriter(_raw(1, "w", "<stdout>")), encoding="utf-8", errors="replace")
    # Text goes on to the byte buffer at once (which writes when full, 8 KiB), so at the
    # end the trailer joins the last output in one write: the server wakes once for both.
    out._CHUNK_SIZE = 1
    err = io.TextIOWrapper(
        io.BufferedWriter(_raw(2, "w", "<stderr>")), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )
    for stream, mode in ((stdin, "r"), (out, "w"), (err, "w")):
        stream.mode = mode  # type: ignore[misc]
    return stdin, out, err


def _raw(fd: int, mode: str, name: str) -> io.FileIO:
    raw = io.FileIO(fd, mode, closefd=False)
    raw.name = name  # type: ignore[misc]
    return raw


def program_path(workdir: str) -> list[str]:
    return [workdir] + [p for p in sys.path if p and os.path.abspath(p) != _REPO_ROOT]


def warm_up(workdir: str) -> None:
    """In the fork server, once: what the interpreter initialises on first use and what
    every run needs, made here so that every child inherits it instead of making its
    own (each object a fresh child makes or first touches costs it copy-on-write faults):
    the AST types (the first ``compile`` of a process builds them, about 2 ms), the stdio
    objects of a run (fresh: nothing is ever written through them in the server), the
    module path of a run in ``workdir``."""
    exec(compile(b"def f(x=1):\n    return [x for _ in ()]\n", "warm-up", "exec", dont_inherit=True), {})
    json.loads(json.dumps({"warm": [1, 2.5, None, "x"]}))
    _prepared["stdio"] = _new_stdio()
    _prepared["path"] = program_path(workdir)
    # What a run's reset replaces stays referenced here, so no child frees it: freeing the
    # server's own stdio objects, argv and __main__ (with everything its dict holds) would
    # write to a hundred pages of each child.
    _prepared["replaced"] = (
        sys.stdin, sys.stdout, sys.stderr, sys.__stdin__, sys.__stdout__, sys.__stderr__,
        sys.argv, sys.modules.get("__main__"),
    )  # fmt: skip


def prepare(workdir: str) -> None:
    """In a prepared child, before its request: the interpreter reset for a program in
    ``workdir`` (stdio, argv, path, a fresh ``__main__``), and the compile and JSON paths
    walked once. Their copy-on-write faults are then paid while the child waits, not
    while the run is timed."""
    if _prepared.get("path", [None])[0] != workdir:  # a host work dir (no mount namespace)
        _prepared["path"] = program_path(workdir)
    _prepared["main"] = _reset_interpreter(workdir, [], "__main__")
    compile(b"pass\n", "solution.py", "exec", dont_inherit=True)
    json.loads('{"mode":"python","argv":[],"files":[],"blob_sizes":[1]}')
    json.dumps({"sandbox": "ready"})


def prepared_interpreter(workdir: str, argv: list[str]) -> types.ModuleType:
    """The reset made by :func:`prepare` (with this run's argv), or a reset made now."""
    module = _prepared.pop("main", None)
    if module is None or sys.path[0] != workdir:
        return _reset_interpreter(workdir, argv, "__main__")
    if argv:
        sys.argv = ["solution.py", *argv]
    return module


_run_stdout: list[io.TextIOWrapper] = []
"""The stdout object made for this process's run (the trailer goes through it)."""


def _reset_interpreter(workdir: str, argv: list[str], module_name: str) -> types.ModuleType:
    """Fresh stdio objects, argv, path and a fresh module for the program."""
    stdio = _prepared.pop("stdio", None)  # made in the fork server, for a process's first run only
    sys.stdin, sys.stdout, sys.stderr = stdio or _new_stdio()
    _run_stdout[:] = [sys.stdout]
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    sys.argv = ["solution.py", *argv]
    path = _prepared.pop("path", None)
    sys.path[:] = path if path is not None and path[0] == workdir else program_path(workdir)
    return new_main_module(workdir, module_name)


def new_main_module(workdir: str, module_name: str) -> types.ModuleType:
    module = types.ModuleType(module_name)
    module.__file__ = os.path.join(workdir, "solution.py")
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules[module_name] = module
    if module_name != "__main__":
        sys.modules["__main__"] = module
    return module


def _exit_code_of(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        print(code, file=sys.stderr)
    except Exception:  # noqa: BLE001
        pass
    return 1


def flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass


TRAILER = struct.Struct(">16si")
"""What the harness writes last on stdout: the run's nonce and exit code. The server
answers as soon as it has this and end of file on every pipe, without waiting for the
process's teardown (it reads the run's CPU and memory from the run's cgroup, never from
the program); the process is reaped before the next run."""
_trailer: dict[str, bytes] = {}
FINISH_WAIT_S = 1.0
"""How long a driver waits at the end for the candidate to close its pipes."""


def expect_trailer(nonce: bytes) -> None:
    _trailer["nonce"] = nonce


def finish(exit_code: int) -> None:
    """Flush, write the trailer, close every descriptor the server reads, and exit.
    The program ran in this process and could forge the trailer, but that gains nothing:
    it could as well have printed the same output and exited with that code (what the
    run used, the server measures)."""
    nonce = _trailer.pop("nonce", None)
    run_stdout = _run_stdout[0] if _run_stdout else None
    for stream in (sys.stdout, sys.stderr):
        if stream is not run_stdout or nonce is None:
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001
                pass
    if nonce is not None:
        try:
            trailer = TRAILER.pack(nonce, exit_code)
            try:
                # The run's last output and the trailer in one write. (Text a program kept
                # pending by raising the chunk size would land after the trailer: the server
                # then takes no trailer and waits for the exit status, which is as good.)
                run_stdout.buffer.write(trailer)  # type: ignore[union-attr]
                run_stdout.buffer.flush()  # type: ignore[union-attr]
            except BaseException:  # noqa: BLE001
                flush_stdio()
                os.write(1, trailer)
            os.closerange(0, RECORDS_FD + 1)
        except BaseException:  # noqa: BLE001
            pass
    os._exit(exit_code)


def compile_source(source: bytes, ready_first: bool = False) -> types.CodeType | None:
    try:
        return compile(source, "solution.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError) as exc:
        traceback.print_exception(exc, limit=0)
        flush_stdio()
        if ready_first:
            os.write(RECORDS_FD, READY_RECORD)
        emit({"compile_error": f"{type(exc).__name__}: {exc}"})
        return None



READY_RECORD = b'{"sandbox": "ready"}\n'
"""The first record of every run: the sandbox is set up and the program starts."""


def run_main(source: bytes, argv: list[str], workdir: str) -> None:
    module = prepared_interpreter(workdir, argv)
    code = compile_source(source, ready_first=True)
    if code is None:
        os._exit(1)
    # The ready record and the end of the records pipe together, just before the program
    # runs (which may write no record): the server wakes once for both.
    os.write(RECORDS_FD, READY_RECORD)
    os.close(RECORDS_FD)
    exit_code = 0
    try:
        exec(code, module.__dict__)
    except SystemExit as exc:
        exit_code = _exit_code_of(exc)
    except BaseException as exc:  # noqa: BLE001
        try:
            # From the program's own frames on, as an interpreter running it would print it.
            traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
        except BaseException:  # noqa: BLE001
            pass
        exit_code = 1
    try:
        import atexit

        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001
        pass
    finish(exit_code)

