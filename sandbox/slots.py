"""Who gets a free slot, and cancellation of waiting and running requests.

Waiting requests take free slots in order of priority (lower first), first come first
served among equals. A request may carry a cancel event: set while it waits, the request
leaves the queue at once and never runs; set while it runs, the pool is told (the fork
server kills the run and answers). One thread per pool looks at the events of the
requests that have one, every CANCEL_POLL_S, and only while there are such requests.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

CANCEL_POLL_S = 0.01
"""How often the cancel events of pending requests are looked at."""

W = TypeVar("W")

WAITING, RUNNING, DONE = "waiting", "running", "done"


class Ticket(Generic[W]):
    """One request's claim on a slot, from its wait to the end of its run."""

    __slots__ = ("priority", "seq", "cancel", "on_cancel", "state", "worker", "granted")

    def __init__(self, priority: float, cancel: threading.Event | None, on_cancel: Callable[[], None]) -> None:
        self.priority = priority
        self.seq = 0
        self.cancel = cancel
        self.on_cancel = on_cancel
        """Called (once, on the watcher's thread) when ``cancel`` is set while the request runs."""
        self.state = WAITING
        self.worker: W | None = None
        self.granted: threading.Event | None = None
        """Made only when the request has to wait."""

    def __lt__(self, other: Ticket[W]) -> bool:
        return (self.priority, self.seq) < (other.priority, other.seq)


class Slots(Generic[W]):
    """The pool's slots: the idle workers, the queue of waiting requests, the counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: deque[W] = deque()
        self._queue: list[Ticket[W]] = []
        self._seq = itertools.count()
        self._waiting = 0
        self._running = 0
        self._watched: set[Ticket[W]] = set()
        self._watch = threading.Condition(self._lock)
        self._watcher: threading.Thread | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot."""
        return self._waiting

    @property
    def running(self) -> int:
        """Slots busy with a request."""
        return self._running

    def add(self, worker: W) -> None:
        """A new slot (or a replaced one), free."""
        self.release(worker, busy=False)

    def acquire(self, ticket: Ticket[W]) -> W | None:
        """Wait for a slot; None if the ticket was cancelled first (it then never runs)."""
        with self._lock:
            if self._closed or (ticket.cancel is not None and ticket.cancel.is_set()):
                ticket.state = DONE
                return None
            ticket.seq = next(self._seq)
            if self._idle and not self._waiting:
                ticket.worker = self._idle.popleft()
                ticket.state = RUNNING
                self._running += 1
            else:
                ticket.granted = threading.Event()
                heapq.heappush(self._queue, ticket)
                self._waiting += 1
            if ticket.cancel is not None:
                self._watched.add(ticket)
                self._start_watcher()
                self._watch.notify()
        if ticket.granted is not None:
            ticket.granted.wait()
        return ticket.worker

    def release(self, worker: W, busy: bool = True) -> None:
        """A slot is free again: the first waiting request takes it."""
        with self._lock:
            if busy:
                self._running -= 1
            while self._queue:
                ticket = heapq.heappop(self._queue)
                if ticket.state != WAITING:
                    continue  # cancelled while waiting
                self._waiting -= 1
                ticket.worker = worker
                ticket.state = RUNNING
                self._running += 1
                ticket.granted.set()  # type: ignore[union-attr]
                return
            self._idle.append(worker)

    def done(self, ticket: Ticket[W]) -> None:
        """The request is over: its cancel event is no longer watched."""
        with self._lock:
            ticket.state = DONE
            self._watched.discard(ticket)

    def close(self) -> None:
        """No more slots: every waiting request is woken without one."""
        with self._lock:
            self._closed = True
            for ticket in self._queue:
                if ticket.state == WAITING:
                    ticket.state = DONE
                    ticket.granted.set()  # type: ignore[union-attr]
            self._queue.clear()
            self._waiting = 0
            self._watch.notify()

    # ------------------------------------------------------------------ cancellation

    def _start_watcher(self) -> None:
        if self._watcher is None and not self._closed:
            self._watcher = threading.Thread(target=self._watch_cancels, name="sandbox-cancel", daemon=True)
            self._watcher.start()

    def _watch_cancels(self) -> None:
        while True:
            with self._lock:
                while not self._watched and not self._closed:
                    self._watch.wait()
                if self._closed:
                    return
                fired = [t for t in self._watched if t.cancel is not None and t.cancel.is_set()]
                running = []
                for ticket in fired:
                    self._watched.discard(ticket)
                    if ticket.state == WAITING:  # leaves the queue (skipped when popped)
                        ticket.state = DONE
                        self._waiting -= 1
                        ticket.granted.set()  # type: ignore[union-attr]
                    elif ticket.state == RUNNING:
                        running.append(ticket)
            for ticket in running:
                ticket.on_cancel()
            time.sleep(CANCEL_POLL_S)
