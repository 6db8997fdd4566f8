"""Python inside the sandbox: runs in the already-isolated child, never in the service.

Three ways a child runs:

* :func:`run_main` - the untrusted source as ``__main__`` in the warm interpreter.
* :func:`run_driver` - the untrusted source is loaded as module ``solution`` in its own
  process (the *candidate*), and trusted driver code runs in this process, calling the
  candidate's functions through proxies; classes the candidate defines get proxies too,
  whose instances live in the candidate and whose method calls cross the same pipe. Arguments and return values cross a pipe as
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
import resource
import select
import signal
import struct
import sys
import time
import traceback
import types
from typing import Any

from sandbox import isolation
from sandbox.wire import FRAME_LENGTH as _FRAME
from sandbox.wire import RECORDS_FD

MAX_FRAME = 64 << 20
PLAIN_TYPES = (type(None), bool, int, float, complex, str, bytes, tuple, list, dict, set, frozenset)
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------------------- common


def _emit(obj: Any) -> None:
    data = (json.dumps(obj, default=repr) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[os.write(RECORDS_FD, view) :]


_prepared: dict[str, Any] = {}


def _new_stdio() -> tuple[io.TextIOWrapper, io.TextIOWrapper, io.TextIOWrapper]:
    stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8", errors="replace")
    out = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8", errors="replace")
    # Text goes on to the byte buffer at once (which writes when full, 8 KiB), so at the
    # end the trailer joins the last output in one write: the server wakes once for both.
    out._CHUNK_SIZE = 1
    err = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)), encoding="utf-8", errors="backslashreplace", line_buffering=True
    )
    return stdin, out, err


def _program_path(workdir: str) -> list[str]:
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
    _prepared["path"] = _program_path(workdir)
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
        _prepared["path"] = _program_path(workdir)
    _prepared["main"] = _reset_interpreter(workdir, [], "__main__")
    compile(b"pass\n", "solution.py", "exec", dont_inherit=True)
    json.loads('{"mode":"python","argv":[],"files":[],"blob_sizes":[1]}')
    json.dumps({"sandbox": "ready"})


def _prepared_interpreter(workdir: str, argv: list[str]) -> types.ModuleType:
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
    sys.path[:] = path if path is not None and path[0] == workdir else _program_path(workdir)
    return _new_main_module(workdir, module_name)


def _new_main_module(workdir: str, module_name: str) -> types.ModuleType:
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


TRAILER = struct.Struct(">16sidd")
"""What the harness writes last on stdout: the run's nonce, exit code, CPU seconds and
peak RSS (MB). The server answers as soon as it has this and end of file on every pipe,
without waiting for the process's teardown; the process is reaped before the next run."""
_trailer: dict[str, bytes] = {}
FINISH_WAIT_S = 1.0
"""How long a driver waits at the end for the candidate to close its pipes."""


def expect_trailer(nonce: bytes) -> None:
    _trailer["nonce"] = nonce


def _finish(exit_code: int) -> None:
    """Flush, write the trailer, close every descriptor the server reads, and exit.
    The program ran in this process and could forge the trailer, but that gains nothing:
    it could as well have printed the same output and exited with that code."""
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
            me = resource.getrusage(resource.RUSAGE_SELF)
            kids = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
            trailer = TRAILER.pack(nonce, exit_code, cpu, max(me.ru_maxrss, kids.ru_maxrss) / 1024.0)
            try:
                # The run's last output and the trailer in one write. (Text a program kept
                # pending by raising the chunk size would land after the trailer: the server
                # then takes no trailer and waits for the exit status, which is as good.)
                run_stdout.buffer.write(trailer)  # type: ignore[union-attr]
                run_stdout.buffer.flush()  # type: ignore[union-attr]
            except BaseException:  # noqa: BLE001
                _flush_stdio()
                os.write(1, trailer)
            os.closerange(0, RECORDS_FD + 1)
        except BaseException:  # noqa: BLE001
            pass
    os._exit(exit_code)


def _compile_source(source: bytes, ready_first: bool = False) -> types.CodeType | None:
    try:
        return compile(source, "solution.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError) as exc:
        traceback.print_exception(exc, limit=0)
        _flush_stdio()
        if ready_first:
            os.write(RECORDS_FD, READY_RECORD)
        _emit({"compile_error": f"{type(exc).__name__}: {exc}"})
        return None


# --------------------------------------------------------------------------- plain run


READY_RECORD = b'{"sandbox": "ready"}\n'
"""The first record of every run: the sandbox is set up and the program starts."""


def run_main(source: bytes, argv: list[str], workdir: str) -> None:
    module = _prepared_interpreter(workdir, argv)
    code = _compile_source(source, ready_first=True)
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
            traceback.print_exception(exc)
        except BaseException:  # noqa: BLE001
            pass
        exit_code = 1
    try:
        import atexit

        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001
        pass
    _finish(exit_code)


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
    """One frame, or None on EOF; raises CallTimeout past the deadline. The other side
    writes a frame in one write and waits for the answer, so one read usually brings it
    whole: header and payload come in one system call, not two."""
    if deadline is not None:
        _wait_readable(fd, deadline)
    chunk = os.read(fd, _FIRST_READ)
    if not chunk:
        return None
    if len(chunk) < _FRAME.size:
        rest = _read_n(fd, _FRAME.size - len(chunk), deadline)
        if rest is None:
            return None
        chunk += rest
    (size,) = _FRAME.unpack_from(chunk)
    if size > MAX_FRAME:
        raise CandidateError(f"reply of {size} bytes is too large")
    got = len(chunk) - _FRAME.size
    if got > size:
        raise CandidateError("more than one frame at once")
    if got == size:
        return chunk[_FRAME.size :]
    rest = _read_n(fd, size - got, deadline)
    return None if rest is None else chunk[_FRAME.size :] + rest


_FIRST_READ = 1 << 16


def _wait_readable(fd: int, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise CallTimeout("call timed out")
    ready, _, _ = select.select([fd], [], [], left)
    if not ready:
        raise CallTimeout("call timed out")


def _read_n(fd: int, n: int, deadline: float | None) -> bytes | None:
    chunks = []
    while n:
        if deadline is not None:
            _wait_readable(fd, deadline)
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


def _exported_names(namespace: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Module-level functions (helpers included), and the classes the solution defines."""
    functions, classes = [], []
    for name, value in list(namespace.items()):
        if name.startswith("__"):
            continue
        if isinstance(value, type):
            if value.__module__ == "solution":
                classes.append(name)
        elif callable(value) and not isinstance(value, types.ModuleType):
            functions.append(name)
    return functions, classes


class _Objects:
    """The candidate's side of the object proxies: objects the driver holds by number.

    Requests (marshal tuples), each answered with one reply:
    ``("call", name, args, kwargs)`` a module-level function -> ``("ok", plain)``;
    ``("new", class_name, args, kwargs)`` an instance kept here -> ``("handle", number)``;
    ``("method", owner, attr, args, kwargs)`` ``owner`` a number or a class name ->
    ``("ok", plain)``; ``("attr", owner, attr)`` -> ``("method",)`` when callable, else
    ``("ok", plain)``. Only instance creation yields a handle: every value that reaches
    the driver's asserts is plain data."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self.held: dict[int, Any] = {}
        self.next_number = 1

    def owner(self, ref: Any) -> Any:
        if type(ref) is int:
            if ref not in self.held:
                raise NameError(f"no solution object number {ref}")
            return self.held[ref]
        value = self.namespace.get(ref)
        if not isinstance(value, type):
            raise NameError(f"the solution defines no class {ref!r}")
        return value

    def handle(self, request: tuple[Any, ...]) -> tuple[Any, ...]:
        op = request[0]
        if op == "call":
            _, name, args, kwargs = request
            return ("ok", _resolve(self.namespace, name)(*args, **kwargs))
        if op == "new":
            _, name, args, kwargs = request
            instance = self.owner(name)(*args, **kwargs)
            number = self.next_number
            self.next_number += 1
            self.held[number] = instance
            return ("handle", number)
        if op == "method":
            _, ref, attr, args, kwargs = request
            return ("ok", getattr(self.owner(ref), attr)(*args, **kwargs))
        if op == "attr":
            _, ref, attr = request
            value = getattr(self.owner(ref), attr)
            return ("method",) if callable(value) else ("ok", value)
        raise ValueError(f"unknown request {op!r}")


def _serve_candidate(source: bytes, requests: int, replies: int, workdir: str) -> None:
    # The driver made fresh stdio objects, argv and path just before forking this process
    # and wrote nothing through them yet: they serve here as they are (making new ones
    # would copy-on-write fault a couple of hundred pages); only the module is new.
    module = _new_main_module(workdir, "solution")

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
    functions, classes = _exported_names(module.__dict__)
    reply(("ready", functions, classes))
    objects = _Objects(module.__dict__)
    while True:
        frame = _read_frame(requests, None)
        if frame is None:
            # The driver is done: close stdout/stderr and the reply pipe first, so the run's
            # pipes reach end of file without waiting for this process's teardown.
            _flush_stdio()
            os.closerange(0, 3)
            os.close(replies)
            os._exit(0)
        request = marshal.loads(frame)
        try:
            reply(objects.handle(request))
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
        self.class_names: list[str] = []
        self.generation = 0
        """Counts loads: objects made by an earlier load are gone with its process."""
        self.load_error: str | None = None
        self.death: str | None = None

    def start(self, timeout: float | None = None) -> None:
        req_r, req_w = os.pipe2(os.O_CLOEXEC)
        rep_r, rep_w = os.pipe2(os.O_CLOEXEC)
        _flush_stdio()  # the candidate goes on with this process's stdio objects: nothing pending
        pid = isolation.fork()
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
        self.generation += 1
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
            classes = message[2] if len(message) > 2 and type(message[2]) is list else []
            self.class_names = [n for n in classes if type(n) is str]
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

    def finish(self) -> None:
        if self.pid is None:
            return
        os.close(self._requests)
        self._requests = -1
        try:
            deadline = time.monotonic() + FINISH_WAIT_S
            while _read_n(self._replies, 1 << 16, deadline) is not None:
                pass
        except (CallTimeout, OSError):
            pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.close(self._replies)
        self._replies = -1
        self.pid = None

    def kill(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()

    def call(self, name: str, args: tuple | list, kwargs: dict | None = None, timeout: float | None = None) -> Any:
        """Call the module-level function ``name``; the return value is plain data."""
        return self.request(("call", name, tuple(args), dict(kwargs or {})), name, timeout)

    def request(self, request: tuple[Any, ...], what: str, timeout: float | None = None) -> Any:
        """Send one request (see ``_Objects``) and return its reply's value: plain data,
        ``("handle", number)`` for a new instance, ``CALLABLE_ATTRIBUTE`` for a callable attribute."""
        if self.pid is None:
            raise CandidateDied(self.death or "the solution process is not running")
        try:
            payload = marshal.dumps(request)
            check_plain(marshal.loads(payload))
        except (ValueError, NotPlainData) as exc:
            raise NotPlainData(f"arguments to {what} must be plain data: {exc}") from None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            _write_frame(self._requests, payload)
            frame = _read_frame(self._replies, deadline)
        except CallTimeout:
            self.kill()
            self.death = f"{what} timed out after {timeout:g}s"
            raise CallTimeout(self.death) from None
        except BrokenPipeError:
            frame = None
        except CandidateError:
            self.kill()
            self.death = f"the solution sent a malformed reply to {what}"
            raise
        if frame is None:
            self.death = f"the solution process died during {what} ({self._reap()})"
            raise CandidateDied(self.death)
        message = self._decode(frame)
        kind = message[0]
        if kind == "ok" and len(message) == 2:
            return message[1]
        if request[0] == "new" and kind == "handle" and len(message) == 2 and type(message[1]) is int:
            return message
        if request[0] == "attr" and kind == "method" and len(message) == 1:
            return CALLABLE_ATTRIBUTE
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
            raise CandidateError(f"the solution called exit({message[1]}) inside {what}")
        if kind == "unplain":
            raise NotPlainData(f"{what} returned a {message[1]}, which is not plain data")
        raise CandidateError(f"unexpected reply from the solution: {kind}")


CALLABLE_ATTRIBUTE = object()
"""What :meth:`Candidate.request` returns when an asked-for attribute is a method."""


class RemoteFunction:
    """A driver-side stand-in for a function of the solution."""

    def __init__(self, solution: Solution, name: str) -> None:
        self._solution = solution
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._solution.call(self.__name__, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<solution function {self.__name__}>"


class RemoteMethod:
    """A method (or any callable attribute) of a solution class or object; calls return plain data."""

    def __init__(self, solution: Solution, owner: int | str, attr: str, generation: int, label: str) -> None:
        self._solution = solution
        self._owner = owner
        self._generation = generation
        self.__name__ = attr
        self._label = label

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        request = ("method", self._owner, self.__name__, args, kwargs)
        return self._solution._request(request, self._label, self._generation)

    def __repr__(self) -> str:
        return f"<solution method {self._label}>"


def _remote_attribute(solution: Solution, owner: int | str, attr: str, generation: int, label: str) -> Any:
    if attr.startswith("__") and attr.endswith("__"):
        # Special names are looked up on the proxy's own type (its identity __eq__, its
        # truth); they are never asked of the solution.
        raise AttributeError(attr)
    reply = solution._request(("attr", owner, attr), label, generation)
    if reply is CALLABLE_ATTRIBUTE:
        return RemoteMethod(solution, owner, attr, generation, label)
    return reply


class RemoteClass:
    """A driver-side stand-in for a class the solution defines. Calling it creates an
    instance in the solution's process and returns a :class:`RemoteObject`; attributes
    of the class (static and class methods, constants) are reached like an object's."""

    def __init__(self, solution: Solution, name: str) -> None:
        self._solution = solution
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> RemoteObject:
        generation = self._solution._generation()
        reply = self._solution._request(("new", self.__name__, args, kwargs), self.__name__, generation)
        if type(reply) is not tuple or len(reply) != 2 or reply[0] != "handle":
            raise CandidateError(f"{self.__name__}() did not create an object")
        return RemoteObject(self._solution, reply[1], self.__name__, generation)

    def __getattr__(self, attr: str) -> Any:
        return _remote_attribute(self._solution, self.__name__, attr, self._solution._generation(), f"{self.__name__}.{attr}")

    def __repr__(self) -> str:
        return f"<solution class {self.__name__}>"


class RemoteObject:
    """An instance living in the solution's process, held by number. Its methods run
    there; what they return crosses back as plain data. The proxy itself compares by
    identity: nothing the solution defines (``__eq__``, ``__bool__``) runs here."""

    __slots__ = ("_solution", "_number", "_class_name", "_generation")

    def __init__(self, solution: Solution, number: int, class_name: str, generation: int) -> None:
        object.__setattr__(self, "_solution", solution)
        object.__setattr__(self, "_number", number)
        object.__setattr__(self, "_class_name", class_name)
        object.__setattr__(self, "_generation", generation)

    def __getattr__(self, attr: str) -> Any:
        return _remote_attribute(self._solution, self._number, attr, self._generation, f"{self._class_name}.{attr}")

    def __setattr__(self, attr: str, value: Any) -> None:
        raise AttributeError(f"cannot set {attr!r} on a solution object from the driver")

    def __repr__(self) -> str:
        return f"<solution {self._class_name} object #{self._number}>"


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

    @property
    def class_names(self) -> list[str]:
        return list(self._candidate.class_names)

    def functions(self) -> dict[str, RemoteFunction]:
        return {name: RemoteFunction(self, name) for name in self._candidate.names}

    def classes(self) -> dict[str, RemoteClass]:
        return {name: RemoteClass(self, name) for name in self._candidate.class_names}

    def _ensure_running(self) -> None:
        if self._candidate.pid is None and self._restarts:
            self._candidate.start(self.call_timeout)
            if self._candidate.load_error:
                raise CandidateDied(self._candidate.load_error)

    def _generation(self) -> int:
        self._ensure_running()
        return self._candidate.generation

    def _request(self, request: tuple[Any, ...], what: str, generation: int) -> Any:
        self._ensure_running()
        if generation != self._candidate.generation:
            raise CandidateDied(f"{what}: the object was lost when the solution process was restarted")
        return self._candidate.request(request, what, self.call_timeout)

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._ensure_running()
        return self._candidate.call(name, args, kwargs, self.call_timeout)

    def stop(self) -> None:
        self._candidate.kill()

    def finish(self) -> None:
        """The end of the run: the candidate is told (its request pipe closes) and closes
        its pipes; once it has (or after FINISH_WAIT_S) it is killed without waiting for
        its teardown: this process is PID 1 of the run's namespace, and when it exits
        the kernel kills whatever is left and the server reaps it."""
        self._candidate.finish()


def run_driver(source: bytes, driver_fd: int, data: Any, workdir: str, restarts: bool) -> None:
    _prepared_interpreter(workdir, [])
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
    solution.finish()
    _finish(exit_code)


# --------------------------------------------------------------------------- command + collect


def run_and_collect(argv: list[str], env: dict[str, str], collect: list[str], max_bytes: int = 48 << 20) -> None:
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
                _emit({"file": name, "data": base64.b64encode(blob).decode()})
    os._exit(code if code >= 0 else 128 - code)


def _which(name: str, env: dict[str, str]) -> str:
    for directory in env.get("PATH", "").split(":"):
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    return name
