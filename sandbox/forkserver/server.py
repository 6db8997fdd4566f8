"""The fork server's own process: start-up, the request loop, and one run from hand-over
to reply.

It is started as a fresh ``python -I`` process with a scrubbed environment (so it holds
no secret of the service), joins network, IPC and UTS namespaces of its own, builds its
read-only file system view, pre-imports the common standard modules, probes which
isolation layers the host allows, and then serves run requests from the pool over a
socketpair, one at a time.

Each request goes to the oldest of the children kept prepared ahead. After the reply the
run is retired: its child is killed, the sweeper kills whatever else of it is left, and
the zygote reaps it in the background. The next run is handed over only once nothing of
an earlier run can run any more (see :meth:`ForkServer._clear_for`).
"""

from __future__ import annotations

import gc
import os
import select
import signal
import sys
import time
import traceback
from typing import Any

from sandbox import isolation, native, pyharness
from sandbox.constants import CHILD_ENV
from sandbox.forkserver import handover, layers, prepare, usage
from sandbox.forkserver.child import warm_up as warm_up_child_path
from sandbox.forkserver.prepare import PreparedChild
from sandbox.forkserver.slot import Slot
from sandbox.forkserver.supervise import Limits, supervise
from sandbox.forkserver.sweeper import Sweeper
from sandbox.forkserver.zygote import Zygote
from sandbox.settings import DEFAULT_MAX_FILE_MB, RUN_ROOT, RunSettings, root_key, tmp_mb
from sandbox.wire import recv_message, send_message

PREPARED_AHEAD = 2
"""Children each fork server keeps prepared (forked, namespaces and mounts made)."""
DEFAULT_KEY = root_key(tmp_mb(DEFAULT_MAX_FILE_MB), RUN_ROOT)
"""The key (size of /tmp, the run root) of the children prepared ahead."""

# Modules a typical test program imports; loading them once here makes a run cost a fork.
# Every module here is copied into every run (its memory and mappings are part of each
# fork and each teardown), so rarely used ones (dataclasses, datetime, hashlib,
# statistics, ...) are left for the programs that import them.
WARM_MODULES = (
    "collections", "itertools", "functools", "heapq", "bisect", "math", "random", "re",
    "string", "operator", "fractions", "decimal", "copy", "json", "typing", "array", "io",
    "sys", "os", "time", "traceback", "marshal", "enum", "struct", "abc", "contextlib",
    "atexit",
)  # fmt: skip


class ForkServer:
    def __init__(
        self, channel_fd: int, uid: int, enabled_layers: dict[str, bool] | None = None, options: dict[str, Any] | None = None
    ) -> None:
        self.channel = channel_fd
        self.slot = Slot(uid, enabled_layers)
        self.options = options or {}
        self._uid_turn = 0
        self._cgroup_turn = 0
        self.zygote = Zygote(self.slot)
        self.sweeper = Sweeper()
        self._prepared: list[PreparedChild] = []
        """Children prepared ahead for requests of the default key, oldest first."""
        self._ended: PreparedChild | None = None
        """The child of the run that just ended, until it is retired after the reply."""
        self._scratch = bytearray(65536)
        """Where the server reads a run's pipes; zeroed after each run."""
        self._cpus = len(os.sched_getaffinity(0))
        self._waits_measured = usage.cpu_wait_measured()
        self._run_id: int | None = None
        """The pool's id of the request being run (a cancellation names it)."""
        self._stopping = False
        """The pool asked the server to stop (or is gone) while a run was supervised."""

    # ------------------------------------------------------------------ startup

    def start(self) -> None:
        try:
            isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            pass
        # The children's environment, set once here: every child inherits it (the server
        # was started with a scrubbed one, so nothing of the service's is in it).
        os.environ.clear()
        os.environ.update(CHILD_ENV)
        for name in WARM_MODULES:
            try:
                __import__(name)
            except ImportError:
                pass
        # The server runs without the site module (nothing of a virtualenv on the path):
        # what it adds that programs use, exit() and quit(), is added here.
        import site

        site.setquit()
        site.setcopyright()
        layers.prepare(self.slot, self.options)
        if self.slot.module_path is not None:
            # The minimal root's module path: the standard library and the candidate
            # site-packages, nothing of the service (its checkout is not in the root).
            sys.path[:] = self.slot.module_path
            sys.path_importer_cache.clear()
        pyharness.warm_up("/tmp")
        layers.probe(self.slot, self.run)
        warm_up_child_path()
        # The harness stays loaded (every run is a fork of this process), but is no module
        # a program can import by name, and nothing of the service's own code is.
        for name in [n for n in sys.modules if n == "sandbox" or n.startswith("sandbox.")]:
            del sys.modules[name]
        # Everything loaded so far is left alone by the cyclic GC from now on: a collection
        # in the server or in a child would otherwise write to every object's header and
        # copy-on-write fault the whole heap after each fork.
        gc.collect()
        gc.freeze()

    # ------------------------------------------------------------------ serving

    def serve(self) -> None:
        if self._ended is not None:  # the probe's
            self._retire(self._ended)
            self._ended = None
        slot = self.slot
        if slot.layers["uid"] and os.geteuid() == 0:
            self.sweeper.start(slot.uids)
            slot.sweeper_uid = slot.uids[0]
        self.zygote.start()
        self._allocate_ahead()  # the first runs' children
        self._fork_allocated()
        ready = {
            "op": "ready", "layers": slot.layers, "layer_errors": slot.layer_errors,
            "zygote_pid": self.zygote.pid, "sweeper_pid": self.sweeper.pid,
            "native_setup": native.lib is not None, "cpu_waits_measured": self._waits_measured,
            "cgroups": slot.cgroups.report() if slot.cgroups is not None else None,
            "compile_root": len(slot.root_ns_fds) > 1 and slot.root_ns_fds[1] is not None,
        }  # fmt: skip
        send_message(self.channel, ready)
        try:
            self._serve_requests()
        finally:
            self.zygote.stop()  # it kills and reaps every child it forked
            self.sweeper.stop()
            for child in [*self._prepared, *self.zygote.dying.values(), self._ended]:
                if child is not None:
                    child.release()
            self._prepared.clear()
            self.zygote.dying.clear()
            self._ended = None
            if slot.cgroups is not None:
                slot.cgroups.close()

    def _serve_requests(self) -> None:
        """One request at a time. While waiting for one, the server takes the zygote's
        answers (pidfds of new children, exit reports); once those have come, its
        descriptor count is the same whenever it is idle."""
        poller = select.poll()
        poller.register(self.channel, select.POLLIN)
        if self.zygote.channel is not None:
            poller.register(self.zygote.channel, select.POLLIN)
        while True:
            ready = {fd for fd, _events in poller.poll()}
            if self.channel not in ready:
                self.zygote.pump()
                continue
            try:
                header, blobs = recv_message(self.channel)
            except EOFError:
                return
            op = header.get("op")
            if op == "stop":
                return
            if op != "run":
                continue  # a cancellation that came after its run had ended
            self._run_id = header.get("id")
            try:
                settings = RunSettings.from_wire(header["settings"])
                control = (self.channel, self._control)
                reply, out_blobs = self.run(settings, blobs, header.get("driver_blob"), control)
            except Exception as exc:  # never let one request take the server down
                reply = {"outcome": "sandbox_error", "reason": f"{type(exc).__name__}: {exc}"}
                out_blobs = [bytearray(), bytearray(traceback.format_exc().encode()), bytearray()]
            try:
                send_message(self.channel, reply, out_blobs)
            finally:
                for blob in out_blobs:
                    blob[:] = bytes(len(blob))
            if self._stopping:
                return
            # Off the caller's path: the run is retired (killed, swept), the next children's
            # descriptors are made and the zygote is asked for them; the next request is
            # handed out only once nothing of this run can run any more, see _clear_for().
            if self._ended is not None:
                self._retire(self._ended)
                self._ended = None
            try:
                self._allocate_ahead()
            except OSError:
                pass  # out of descriptors: the next request forks its child on demand
            self._fork_allocated()

    def _allocate_ahead(self) -> None:
        """Descriptors for the children to keep prepared (PREPARED_AHEAD, for requests
        of the default key); they are forked by :meth:`_fork_allocated`."""
        while len(self._prepared) < PREPARED_AHEAD:
            self._prepared.append(self._allocate(DEFAULT_KEY))

    def _fork_allocated(self) -> None:
        for child in self._prepared:
            if child.pid is None and not child.requested:
                self.zygote.fork(child)

    def _allocate(self, key: int) -> PreparedChild:
        uid = self.slot.uids[self._uid_turn]
        self._uid_turn ^= 1
        return prepare.allocate(self.slot, key, uid, self._free_cgroup())

    def _free_cgroup(self) -> int:
        """A cgroup of the slot that no live child holds (-1: the slot has none). When all
        are held, a child being reaped frees one."""
        count = len(self.slot.cgroup_fds)
        if not count:
            return -1
        while True:
            held = {child.cgroup for child in (*self._prepared, *self.zygote.dying.values(), self._ended) if child}
            for step in range(count):
                index = (self._cgroup_turn + step) % count
                if index not in held:
                    self._cgroup_turn = (index + 1) % count
                    return index
            self.zygote.pump()

    # ------------------------------------------------------------------ one run

    def _control(self) -> tuple[bool, bool]:
        """The pool wrote while a run is supervised: whether to cancel the run, and
        whether to go on listening. A cancellation names its run; a stop (the pool is
        closing) or the pool's end of the channel closing ends the run and the server."""
        try:
            header, _ = recv_message(self.channel)
        except (EOFError, OSError, ValueError):
            self._stopping = True
            return True, False
        op = header.get("op")
        if op == "stop":
            self._stopping = True
            return True, False
        return op == "cancel" and header.get("id") == self._run_id, True

    def run(
        self,
        settings: RunSettings,
        blobs: list[bytearray],
        driver_blob: int | None = None,
        control: tuple[int, Any] | None = None,
    ) -> tuple[dict[str, Any], list[bytearray]]:
        """Hand the request to the oldest prepared child (forking one now if none of its
        key is ready) and supervise it until its outcome is known."""
        if self._ended is not None:  # a run not followed by a reply (the layer probe)
            self._retire(self._ended)
            self._ended = None
        key = settings.key
        zygote = self.zygote
        child = None
        if self._prepared and self._prepared[0].key == key and self._prepared[0].requested:
            child = self._prepared.pop(0)
            if not zygote.await_forked(child):
                child.release()
                child = None
        if child is None:
            child = zygote.fork(self._allocate(key))
            if not zygote.await_forked(child):
                why = child.failed
                child.release()
                raise OSError(f"the zygote could not fork a child: {why}")
        self._clear_for(child)  # nothing of an earlier run is alive when this one starts
        group = None
        slot = self.slot
        if slot.cgroups is not None and child.cgroup >= 0:
            group = slot.cgroups.sets[child.cgroup]
            group.begin(settings.memory_mb, settings.max_processes)
        started = time.monotonic()
        child.close_child_ends()
        assert child.pid is not None
        if child.pidfd < 0:
            child.pidfd = os.pidfd_open(child.pid)
        try:
            handover.send(child, settings, blobs, driver_blob)
            private_proc = slot.layers["pid_ns"] and slot.layers["private_proc"]
            limits = Limits(
                settings, started, child.pid, private_proc, self._cpus, self._waits_measured, group, slot.host_proc_fd
            )
            return supervise(child, settings, limits, self._scratch, zygote.reap, control)
        finally:
            child.release_pipes()
            self._ended = child  # retired after the reply

    def _retire(self, child: PreparedChild) -> None:
        """After a run (and its reply): a child that answered before it was gone is
        killed, the sweeper is asked to kill whatever else of the run is left, and the
        child is reaped by the zygote in the background."""
        child.release_pipes()
        if child.pid is None:  # reaped already (its outcome came from its exit status)
            child.release()
            return
        try:
            signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        zygote = self.zygote
        if zygote.channel is None:  # the probe, before the zygote exists
            zygote.reap(child)
            child.release()
            return
        if child.pid in zygote.exits:
            del zygote.exits[child.pid]
            child.pid = None
            child.release()
            return
        zygote.dying[child.pid] = child
        group = self.slot.cgroups.sets[child.cgroup] if self.slot.cgroups is not None and child.cgroup >= 0 else None
        if group is None or not group.kill():
            self.sweeper.sweep()

    def _clear_for(self, child: PreparedChild) -> None:
        """Before a hand-over: nothing of an earlier run may still run. The sweeper's
        answer means every process of every ended run has SIGKILL pending; the run
        before that used the child's uid is reaped too (so none of its processes still
        counts against the uid's process limit). Runs alternate between the slot's two
        uids, so that reap was usually over long ago. Without a sweeper (no uid layer)
        every ended run is reaped first."""
        self.sweeper.wait()
        zygote = self.zygote
        for pid, dying in list(zygote.dying.items()):
            # The last run in the child's cgroup too: its counters are the new run's from now on.
            same_cgroup = dying.cgroup >= 0 and dying.cgroup == child.cgroup
            if self.sweeper.pid is None or dying.uid == child.uid or same_cgroup:
                while pid in zygote.dying:
                    zygote.pump()
