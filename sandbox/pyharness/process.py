"""The driver's side of the candidate process: start it, send requests, read replies.

The candidate is forked from the driver before the driver code is read (and, with
restarts, again after a call timed out or crashed), so it never holds the test code.
Replies are checked here: plain data as it came, encoded values rebuilt by
:class:`sandbox.pyharness.values.Decoder` with the driver's own types.
"""

from __future__ import annotations

import builtins
import keyword
import marshal
import os
import signal
from collections.abc import Callable
from typing import Any

from sandbox import isolation
from sandbox.pyharness.candidate import serve_candidate
from sandbox.pyharness.frames import (
    CallClock,
    CallTimeout,
    CandidateDied,
    CandidateError,
    Deadline,
    read_frame,
    read_n,
    write_frame,
)
from sandbox.pyharness.plain import flush_stdio
from sandbox.pyharness.values import Decoder, NotPlainData, check_plain, is_plain

FINISH_WAIT_S = 1.0
"""How long a driver waits at the end for the candidate to close its pipes."""
CALLABLE_ATTRIBUTE = object()
"""What :meth:`Candidate.request` returns when an asked-for attribute is a method."""


_RAISED_HERE = {
    name: value for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, Exception)
    and not issubclass(value, (StopIteration, StopAsyncIteration))
}  # fmt: skip
"""The exceptions a solution's call raises again in the driver, by name. StopIteration is
not one: raised inside ``map(f, xs)`` it would end the test's iteration early (``all(map(f,
xs))`` would hold); it arrives as a CandidateError, as a generator's turns into a
RuntimeError."""


def _names(reported: Any) -> list[str]:
    """The names of a "ready" reply the driver may bind (the candidate could have written
    any reply): identifiers, no keywords, no dunders such as ``__builtins__``."""
    if type(reported) is not list:
        return []
    return [
        n for n in reported
        if type(n) is str and n.isidentifier() and not keyword.iskeyword(n) and not n.startswith("__")
    ]  # fmt: skip


class Candidate:
    """The untrusted solution loaded in its own process, reached through a pipe."""

    def __init__(self, source: bytes, workdir: str, close_in_child: tuple[int, ...], prelude: str | None = None) -> None:
        self.source = source
        self.prelude = prelude
        self.workdir = workdir
        self.close_in_child = close_in_child
        self.pid: int | None = None
        self.names: list[str] = []
        self.class_names: list[str] = []
        self.generation = 0
        """Counts loads: objects made by an earlier load are gone with its process."""
        self.load_error: str | None = None
        self.death: str | None = None
        self.decoder: Callable[[], Decoder] = lambda: Decoder({})
        """Makes the decoder for an encoded reply (set by the driver's :class:`Solution`)."""

    def start(self, timeout: float | None = None) -> None:
        req_r, req_w = os.pipe2(os.O_CLOEXEC)
        rep_r, rep_w = os.pipe2(os.O_CLOEXEC)
        flush_stdio()  # the candidate goes on with this process's stdio objects: nothing pending
        pid = isolation.fork()
        if pid == 0:
            try:
                for fd in (req_w, rep_r, *self.close_in_child):
                    try:
                        os.close(fd)
                    except OSError:  # already closed in the driver (a restart)
                        pass
                serve_candidate(self.source, self.prelude, req_r, rep_w, self.workdir)
            finally:
                os._exit(1)
        os.close(req_r)
        os.close(rep_w)
        self.pid, self._requests, self._replies = pid, req_w, rep_r
        self.death = None
        self.generation += 1
        deadline = None if timeout is None else CallClock(pid, timeout)
        try:
            frame = read_frame(rep_r, deadline)
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
            message = self._message(frame)
        except CandidateError as exc:
            self.kill()
            self.load_error = str(exc)
            return
        if message[0] == "ready" and len(message) == 3:
            self.names = _names(message[1])
            self.class_names = _names(message[2])
            self.load_error = None
        else:
            self.load_error = str(message[1]) if len(message) > 1 else "load failed"

    @staticmethod
    def _message(frame: bytes) -> tuple[Any, ...]:
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
            deadline = Deadline(FINISH_WAIT_S)
            while read_n(self._replies, 1 << 16, deadline) is not None:
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

    def request(self, request: tuple[Any, ...], what: str, timeout: float | None = None) -> Any:
        """Send one request (see :mod:`sandbox.pyharness.candidate`) and return its reply's
        value: data rebuilt on this side, ``("handle", number)`` for a new instance,
        ``CALLABLE_ATTRIBUTE`` for a callable attribute."""
        if self.pid is None:
            raise CandidateDied(self.death or "the solution process is not running")
        try:
            payload = marshal.dumps(request)
            if not is_plain(marshal.loads(payload)):
                raise ValueError("not plain data")
        except ValueError as exc:
            raise NotPlainData(f"arguments to {what} must be plain data: {exc}") from None
        deadline = None if timeout is None else CallClock(self.pid, timeout)
        try:
            write_frame(self._requests, payload)
            frame = read_frame(self._replies, deadline)
        except CallTimeout:
            self.kill()
            self.death = f"{what} ran past its {timeout:g} s time limit"
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
        return self._reply_value(self._message(frame), request, what)

    def _reply_value(self, message: tuple[Any, ...], request: tuple[Any, ...], what: str) -> Any:
        kind = message[0]
        if kind == "ok" and len(message) == 2:
            return message[1]
        if kind == "okx" and len(message) == 2:
            try:
                return self.decoder().decode(message[1])
            except (NotPlainData, RecursionError) as exc:
                raise CandidateError(f"{what} returned a value that cannot be read: {exc}") from None
        if request[0] == "new" and kind == "handle" and len(message) == 2 and type(message[1]) is int:
            return message
        if request[0] == "attr" and kind == "method" and len(message) == 1:
            return CALLABLE_ATTRIBUTE
        if kind == "raise" and len(message) == 3:
            exc_name, text = str(message[1]), str(message[2])
            exc_type = _RAISED_HERE.get(exc_name)
            if exc_type is not None:
                raise exc_type(text)
            raise CandidateError(f"{exc_name}: {text}")
        if kind == "exit":
            raise CandidateError(f"the solution called exit({message[1]}) inside {what}")
        if kind == "unplain":
            raise NotPlainData(f"{what} returned a {message[1]}, which is not plain data")
        raise CandidateError(f"unexpected reply from the solution: {kind}")
