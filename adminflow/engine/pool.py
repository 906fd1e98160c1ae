"""The worker threads a process keeps for its runs, so that a run does not start its own.

Starting and joining 50 threads costs about as much as a 20 ms phase of 50
steps. A long-lived process (a task worker, the scheduler, ``runflow --due``)
runs flow after flow, so its threads are kept and handed to the next run.

A job never waits for a thread: it goes to an idle thread if there is one,
else to a new one. Executors bound their own concurrency (``max_workers``),
so two runs in one process each get theirs, and a pool grows only to the most
jobs it ever ran at once: the largest ``num_threads`` asked, when runs follow
one another. Idle threads block on a queue and cost no CPU; they are daemons,
so they never hold up the interpreter's exit. A child made by ``os.fork``
inherits none of the parent's threads, so its pools start empty.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar
from weakref import WeakSet

T = TypeVar("T")

_Job = tuple[Callable[[], Any], Callable[[Any], None]]
_Inbox = SimpleQueue[_Job | None]


class WorkerPool:
    """A growing set of named daemon threads that run jobs handed to them, one at a time.

    Each thread has an inbox of its own, and a job goes to the thread that
    became idle last: runs that follow one another get the same threads, and
    the phases of a run on one thread run on that one thread throughout.
    """

    def __init__(self, name: str = "adminflow-worker") -> None:
        self.name = name
        self._closed = False
        self._start_empty()
        _POOLS.add(self)

    def _start_empty(self) -> None:
        self._lock = threading.Lock()
        self._workers: list[tuple[threading.Thread, _Inbox]] = []
        self._idle: list[_Inbox] = []  # a stack: the thread idle for the shortest time on top
        self._numbers = itertools.count(1)

    def __repr__(self) -> str:
        with self._lock:
            return (
                f"<WorkerPool {self.name!r}: {len(self._workers)} threads, {len(self._idle)} idle>"
            )

    @property
    def threads(self) -> list[threading.Thread]:
        """The pool's threads, busy or idle, in the order they were started."""
        with self._lock:
            return [thread for thread, _inbox in self._workers]

    def submit(self, run: Callable[[], T], report: Callable[[T], None]) -> None:
        """Call ``run()`` on a pool thread, then ``report`` with what it returned.

        ``report`` is called once the thread counts as idle again, so whoever
        it wakes can submit more work and be served by this very thread rather
        than a new one. Neither may raise: a job that raised would never report.
        Raise RuntimeError once the pool is closed.
        """
        thread = None
        with self._lock:
            if self._closed:
                raise RuntimeError(f"worker pool '{self.name}' is closed")
            if self._idle:
                inbox = self._idle.pop()
            else:
                inbox = SimpleQueue()
                thread = threading.Thread(
                    target=self._serve,
                    args=(inbox,),
                    name=f"{self.name}-{next(self._numbers)}",
                    daemon=True,
                )
                self._workers.append((thread, inbox))
        inbox.put((run, report))
        if thread is not None:
            thread.start()

    def close(self) -> None:
        """Refuse new jobs, let the running ones report, and join every thread.

        The process-wide pool is never closed; a pool made for a while (a test,
        a host that shuts down cleanly) is.
        """
        with self._lock:
            self._closed = True
            workers = list(self._workers)
        for _thread, inbox in workers:
            inbox.put(None)
        for thread, _inbox in workers:
            thread.join()

    def _serve(self, inbox: _Inbox) -> None:
        while (job := inbox.get()) is not None:
            run, report = job
            result = run()
            with self._lock:
                self._idle.append(inbox)
            report(result)


_POOLS: WeakSet[WorkerPool] = WeakSet()


def _empty_in_child() -> None:
    """Forget the parent's threads after a fork: the child has only the forking thread."""
    for pool in list(_POOLS):
        pool._start_empty()


os.register_at_fork(after_in_child=_empty_in_child)

shared_pool = WorkerPool()
"""The pool every ThreadedExecutor uses unless it is given another."""
