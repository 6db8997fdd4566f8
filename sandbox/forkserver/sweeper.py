"""The sweeper: the process that kills whatever is left of a slot's ended runs.

It holds the slot's two uids (real the first, effective the second) in the server's PID
namespace, no capability and nothing but its two pipes, and on request calls
``kill(-1, SIGKILL)``: every process it may signal, i.e. every process of the slot's
runs. When its answer is in, no process of an ended run can run another instruction,
without waiting for the teardown of its memory and namespaces. Runs cannot see it (their
PID namespaces are below its own).
"""

from __future__ import annotations

import os
import signal

from sandbox import isolation
from sandbox.forkserver.descriptors import close_all_but


class Sweeper:
    def __init__(self) -> None:
        self.pid: int | None = None
        self._request_w = self._ack_r = -1
        self._pending = False

    def start(self, uids: tuple[int, int]) -> None:
        request_r, self._request_w = os.pipe2(os.O_CLOEXEC)
        self._ack_r, ack_w = os.pipe2(os.O_CLOEXEC)
        pid = isolation.fork()
        if pid == 0:  # ------------------------------------------------ the sweeper
            try:
                isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
                close_all_but(request_r, ack_w)
                real, effective = uids
                os.setgroups([])
                os.setresgid(real, effective, effective)
                os.setresuid(real, effective, effective)
                while os.read(request_r, 1):
                    try:
                        os.kill(-1, signal.SIGKILL)
                    except ProcessLookupError:
                        pass  # nothing of any run was left
                    os.write(ack_w, b".")
            finally:
                os._exit(0)
        os.close(request_r)
        os.close(ack_w)
        self.pid = pid

    def sweep(self) -> None:
        """Ask for a sweep; :meth:`wait` takes the answer."""
        if self.pid is not None:
            os.write(self._request_w, b".")
            self._pending = True

    def wait(self) -> None:
        """Return once the last sweep asked for is done."""
        if self._pending:
            os.read(self._ack_r, 1)
            self._pending = False

    def stop(self) -> None:
        if self.pid is None:
            return
        os.close(self._request_w)  # end of file: it exits
        os.close(self._ack_r)
        self._request_w = self._ack_r = -1
        os.waitpid(self.pid, 0)
        self.pid = None
