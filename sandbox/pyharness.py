"""Python inside the sandbox: runs in the already-isolated child, never in the service.

Three ways a child runs:

* :func:`run_main` - the untrusted source as ``__main__`` in the warm interpreter.
* :func:`run_driver` - the untrusted source is loaded as module ``solution`` in its own
  process (the *candidate*), and trusted driver code runs in this process, calling the
  candidate's functions through proxies. Arguments and return values cross a pipe as
  ``marshal`` data checked to be plain builtin values, so nothing the candidate defines
  (a forged ``__eq__``, a patched builtin, an early ``exit``) reaches the driver. The
  candidate is forked *before* the driver code is read, so it never holds it.
* :func:`run_and_collect` - a command (a compiler), whose output files are sent back.
"""

from __future__ import annotations

import base64
import builtins
import io
import json
import marshal
import os
import select
import signal
import struct
import sys
import time
import traceback
import types
from typing import Any

RECORDS_FD = 3
_FRAME = struct.Struct(">I")
MAX_FRAME = 64 << 20
PLAIN_TYPES = (type(None), bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset)
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------------------- common


def _emit(obj: Any) -> None:
    data = (json.dumps(obj, default=repr) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[os.write(RECORDS_FD, view) :]


def _reset_interpreter(workdir: str, argv: list[str], module_name: str) -> types.ModuleType:
    """Fresh stdio objects, argv, path and a fresh module for the program."""
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8", errors="replace")
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8", errors="replace")
    sys.stderr = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
    sys.argv = ["solution.py", *argv]
    sys.path[:] = [workdir] + [p for p in sys.path if p and os.path.abspath(p) != _REPO_ROOT]
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


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass


def _compile_source(source: bytes) -> types.CodeType | None:
    try:
        return compile(source, "solution.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError) as exc:
        traceback.print_exception(exc, limit=0)
        _flush_stdio()
        _emit({"compile_error": f"{type(exc).__name__}: {exc}"})
        return None


# --------------------------------------------------------------------------- plain run


def run_main(source: bytes, argv: list[str], workdir: str) -> None:
    module = _reset_interpreter(workdir, argv, "__main__")
    code = _compile_source(source)
    if code is None:
        os._exit(1)
    os.close(RECORDS_FD)
    exit_code = 0
    try:
        exec(code, module.__dict__)
    except SystemExit as exc:
        exit_code = _exit_code_of(exc)
    except BaseException as exc:  # noqa: BLE001
        try:
            traceback.print_exception(exc)
        except BaseException:  # noqa: BLE001
            pass
        exit_code = 1
    try:
        import atexit

        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001
        pass
    _flush_stdio()
    os._exit(exit_code)


# --------------------------------------------------------------------------- driver + candidate


class CandidateError(Exception):
    """The candidate raised an exception that is not a builtin one."""


class CandidateDied(Exception):
    """The candidate process exited or was killed in the middle of a call."""


class CallTimeout(Exception):
    """A call to the candidate ran past its time limit (the candidate was killed)."""


class NotPlainData(TypeError):
    """A value that is not made only of builtin plain data types."""


def check_plain(value: Any, depth: int = 0) -> None:
    if depth > 200:
        raise NotPlainData("value nested too deeply")
    kind = type(value)
    if kind not in PLAIN_TYPES:
        raise NotPlainData(f"{kind.__name__} is not plain data")
    if kind in (tuple, list, set, frozenset):
        for item in value:
            check_plain(item, depth + 1)
    elif kind is dict:
        for key, item in value.items():
            check_plain(key, depth + 1)
            check_plain(item, depth + 1)


def _write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(_FRAME.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


def _read_frame(fd: int, deadline: float | None) -> bytes | None:
    """One frame, or None on EOF; raises CallTimeout past the deadline."""
    header = _read_n(fd, _FRAME.size, deadline)
    if header is None:
        return None
    (size,) = _FRAME.unpack(header)
    if size > MAX_FRAME:
        raise CandidateError(f"reply of {size} bytes is too large")
    return _read_n(fd, size, deadline)


def _read_n(fd: int, n: int, deadline: float | None) -> bytes | None:
    chunks = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CallTimeout("call timed out")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise CallTimeout("call timed out")
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _resolve(namespace: dict[str, Any], name: str) -> Any:
    fn = namespace.get(name)
    if fn is not None and callable(fn):
        return fn
    holder = namespace.get("Solution")  # LeetCode style: class Solution with the method
    if isinstance(holder, type) and hasattr(holder, name):
        return getattr(holder(), name)
    raise NameError(f"the solution defines no function {name!r}")


def _serve_candidate(source: bytes, requests: int, replies: int, workdir: str) -> None:
    module = _reset_interpreter(workdir, [], "solution")

    def reply(obj: Any) -> None:
        try:
            payload = marshal.dumps(obj)
        except ValueError:
            payload = marshal.dumps(("unplain", type(obj[1]).__name__ if len(obj) > 1 else "?"))
        _flush_stdio()
        _write_frame(replies, payload)

    try:
        code = compile(source, "solution.py", "exec", dont_inherit=True)
        exec(code, module.__dict__)
    except SystemExit as exc:
        reply(("load_error", f"the solution exited while loading (code {exc.code!r})"))
        os._exit(0)
    except BaseException as exc:  # noqa: BLE001
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        reply(("load_error", text[-2000:]))
        os._exit(0)
    names = [
        name
        for name, value in list(module.__dict__.items())
        if not name.startswith("__") and callable(value) and not isinstance(value, type | types.ModuleType)
    ]
    reply(("ready", names))
    while True:
        frame = _read_frame(requests, None)
        if frame is None:
            os._exit(0)
        name, args, kwargs = marshal.loads(frame)
        try:
            value = _resolve(module.__dict__, name)(*args, **kwargs)
            reply(("ok", value))
        except SystemExit as exc:
            reply(("exit", repr(exc.code)[:200]))
        except BaseException as exc:  # noqa: BLE001
            reply(("raise", type(exc).__name__, str(exc)[:2000]))


class Candidate:
    """The untrusted solution loaded in its own process, reached through a pipe."""

    def __init__(self, source: bytes, workdir: str, close_in_child: tuple[int, ...]) -> None:
        self.source = source
        self.workdir = workdir
        self.close_in_child = close_in_child
        self.pid: int | None = None
        self.names: list[str] = []
        self.load_error: str | None = None
        self.death: str | None = None

    def start(self, timeout: float | None = None) -> None:
        req_r, req_w = os.pipe2(os.O_CLOEXEC)
        rep_r, rep_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            try:
                for fd in (req_w, rep_r, *self.close_in_child):
                    try:
                        os.close(fd)
                    except OSError:  # already closed in the driver (a restart)
                        pass
                _serve_candidate(self.source, req_r, rep_w, self.workdir)
            finally:
                os._exit(1)
        os.close(req_r)
        os.close(rep_w)
        self.pid, self._requests, self._replies = pid, req_w, rep_r
        self.death = None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            frame = _read_frame(rep_r, deadline)
        except CallTimeout:
            self.kill()
            self.load_error = "the solution timed out while loading"
            return
        except CandidateError as exc:
            self.kill()
            self.load_error = str(exc)
            return
        if frame is None:
            self.load_error = f"the solution process died while loading ({self._reap()})"
            return
        try:
            message = self._decode(frame)
        except CandidateError as exc:
            self.kill()
            self.load_error = str(exc)
            return
        if message[0] == "ready":
            self.names = [n for n in message[1] if type(n) is str]
            self.load_error = None
        else:
            self.load_error = str(message[1]) if len(message) > 1 else "load failed"

    @staticmethod
    def _decode(frame: bytes) -> tuple[Any, ...]:
        try:
            message = marshal.loads(frame)
            check_plain(message)
        except (ValueError, EOFError, TypeError) as exc:
            raise CandidateError(f"malformed reply from the solution: {exc}") from None
        if type(message) is not tuple or not message or type(message[0]) is not str:
            raise CandidateError("malformed reply from the solution")
        return message

    def _reap(self) -> str:
        if self.pid is None:
            return "not running"
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return "gone"
        self.pid = None
        for fd in (self._requests, self._replies):
            try:
                os.close(fd)
            except OSError:
                pass
        if os.WIFSIGNALED(status):
            return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
        return f"exit code {os.WEXITSTATUS(status)}"

    def kill(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()

    def call(self, name: str, args: tuple | list, kwargs: dict | None = None, timeout: float | None = None) -> Any:
        if self.pid is None:
            raise CandidateDied(self.death or "the solution process is not running")
        try:
            payload = marshal.dumps((name, tuple(args), dict(kwargs or {})))
            check_plain(marshal.loads(payload))
        except (ValueError, NotPlainData) as exc:
            raise NotPlainData(f"arguments to {name} must be plain data: {exc}") from None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            _write_frame(self._requests, payload)
            frame = _read_frame(self._replies, deadline)
        except CallTimeout:
            self.kill()
            self.death = f"{name} timed out after {timeout:g}s"
            raise CallTimeout(self.death) from None
        except BrokenPipeError:
            frame = None
        except CandidateError:
            self.kill()
            self.death = f"the solution sent a malformed reply to {name}"
            raise
        if frame is None:
            self.death = f"the solution process died during {name} ({self._reap()})"
            raise CandidateDied(self.death)
        message = self._decode(frame)
        kind = message[0]
        if kind == "ok" and len(message) == 2:
            return message[1]
        if kind == "raise" and len(message) == 3:
            exc_name, text = str(message[1]), str(message[2])
            exc_type = getattr(builtins, exc_name, None)
            if (
                isinstance(exc_type, type)
                and issubclass(exc_type, Exception)
                and exc_type.__module__ == "builtins"
            ):
                raise exc_type(text)
            raise CandidateError(f"{exc_name}: {text}")
        if kind == "exit":
            raise CandidateError(f"the solution called exit({message[1]}) inside {name}")
        if kind == "unplain":
            raise NotPlainData(f"{name} returned a {message[1]}, which is not plain data")
        raise CandidateError(f"unexpected reply from the solution: {kind}")


class RemoteFunction:
    """A driver-side stand-in for a function of the solution."""

    def __init__(self, solution: Solution, name: str) -> None:
        self._solution = solution
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._solution.call(self.__name__, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<solution function {self.__name__}>"


class Solution:
    """What driver code sees as ``solution``."""

    def __init__(self, candidate: Candidate, restarts: bool) -> None:
        self._candidate = candidate
        self._restarts = restarts
        self.call_timeout: float | None = None

    @property
    def load_error(self) -> str | None:
        return self._candidate.load_error

    @property
    def names(self) -> list[str]:
        return list(self._candidate.names)

    def functions(self) -> dict[str, RemoteFunction]:
        return {name: RemoteFunction(self, name) for name in self._candidate.names}

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self._candidate.pid is None and self._restarts:
            self._candidate.start(self.call_timeout)
            if self._candidate.load_error:
                raise CandidateDied(self._candidate.load_error)
        return self._candidate.call(name, args, kwargs, self.call_timeout)

    def stop(self) -> None:
        self._candidate.kill()


def run_driver(source: bytes, driver_fd: int, data: Any, workdir: str, restarts: bool) -> None:
    _reset_interpreter(workdir, [], "__driver__")
    candidate = Candidate(source, workdir, close_in_child=(RECORDS_FD, driver_fd))
    candidate.start()  # forked before the driver code is read: the candidate never holds it
    solution = Solution(candidate, restarts)
    driver_source = os.pread(driver_fd, os.fstat(driver_fd).st_size, 0)
    os.close(driver_fd)
    candidate.close_in_child = (RECORDS_FD,)  # the number may be reused by a restart's pipes
    namespace = {
        "__name__": "__driver__",
        "__builtins__": builtins,
        "solution": solution,
        "emit": _emit,
        "data": data,
        "CallTimeout": CallTimeout,
        "CandidateDied": CandidateDied,
        "CandidateError": CandidateError,
        "NotPlainData": NotPlainData,
    }
    exit_code = 0
    try:
        exec(compile(driver_source, "driver", "exec", dont_inherit=True), namespace)
    except BaseException as exc:  # noqa: BLE001
        _emit({"driver_error": "".join(traceback.format_exception_only(type(exc), exc)).strip()[-2000:]})
        exit_code = 1
    solution.stop()
    _flush_stdio()
    os._exit(exit_code)


# --------------------------------------------------------------------------- command + collect


def run_and_collect(argv: list[str], env: dict[str, str], collect: list[str], max_bytes: int = 48 << 20) -> None:
    pid = os.fork()
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
                _emit({"file": name, "data": base64.b64encode(blob).decode()})
    os._exit(code if code >= 0 else 128 - code)


def _which(name: str, env: dict[str, str]) -> str:
    for directory in env.get("PATH", "").split(":"):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    return name
