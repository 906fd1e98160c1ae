"""Run a dependency graph of steps on a thread pool, waking only on completion.

The coordinator (the calling thread) starts up to ``max_workers`` worker loops
on a :class:`~.pool.WorkerPool` and then blocks on a queue that workers fill
when a loop ends or a node does not succeed: no polling, no sleeping, no spinning.
A worker that finishes a node marks it done itself, under a lock it shares
with the coordinator, and goes straight on to the ready node earliest in
graph order, so a node starts the moment its last dependency is done and a
thread is free, with no round trip through the coordinator. A failure, and
the dependents it blocks, are handled by the coordinator.

The threads are the process's, not the executor's: a run borrows up to
``max_workers`` of them and gives them back as its worker loops end, so runs
that follow one another in one process start no threads at all.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Collection, Mapping
from contextlib import suppress
from dataclasses import dataclass
from graphlib import TopologicalSorter
from heapq import heappop, heappush
from queue import SimpleQueue
from types import TracebackType
from typing import Self, TypeVar

from .pool import WorkerPool, shared_pool
from .result import StepStatus

T = TypeVar("T")

NodeRunner = Callable[[str], bool]
"""Run one node; return True if it succeeded. An exception counts as failure."""


@dataclass(frozen=True)
class NodeOutcome:
    status: StepStatus
    error: BaseException | None = None
    traceback: str | None = None


Message = tuple[str, NodeOutcome] | None
"""What a worker loop sends as it ends: the node it could not finish itself, if any."""


class ThreadedExecutor:
    """Execute graphs of named nodes on at most ``max_workers`` threads at once.

    Use it as a context manager so that every node it started has finished
    on exit; one executor can run several graphs (a flow's phases) one after
    another. The threads come from ``pool``, the process's shared pool unless
    another is given, and go back to it; while a thread runs a node it is
    named ``<thread_name_prefix>:<node>``.
    """

    def __init__(
        self,
        max_workers: int,
        thread_name_prefix: str = "adminflow",
        *,
        pool: WorkerPool | None = None,
    ) -> None:
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise ValueError(f"max_workers must be a whole number >= 1, got {max_workers!r}")
        self.max_workers = max_workers
        self.thread_name_prefix = thread_name_prefix
        self.pool = pool or shared_pool
        self._loops = 0  # worker loops submitted that have not reported back yet
        self._all_reported = threading.Condition()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        """Wait until every node this executor started has finished; it may be used again.

        Its threads stay in the pool for the next run.
        """
        with self._all_reported:
            self._all_reported.wait_for(lambda: self._loops == 0)

    def _submit(self, work: Callable[[], T], report: Callable[[T], None]) -> None:
        """Run a worker loop on the pool, counting it until it reports back."""
        with self._all_reported:
            self._loops += 1

        def reported(result: T) -> None:
            report(result)
            self._count_out()

        try:
            self.pool.submit(work, reported)
        except BaseException:
            self._count_out()  # never started, so it will never report
            raise

    def _count_out(self) -> None:
        with self._all_reported:
            self._loops -= 1
            if self._loops == 0:
                self._all_reported.notify_all()

    def run_graph(
        self,
        graph: Mapping[str, Collection[str]],
        run_node: NodeRunner,
        *,
        cancel_event: threading.Event | None = None,
        fail_fast: bool = False,
        on_not_started: Callable[[str, StepStatus], None] | None = None,
    ) -> dict[str, NodeOutcome]:
        """Run every node of ``graph`` (node -> its dependencies) and return each outcome.

        A failed node's dependents are ``upstream_failed`` and never start;
        independent nodes still run unless ``fail_fast``, after which nodes not
        yet started are ``skipped``. Once ``cancel_event`` is set no node
        starts; those left are ``cancelled``. Running nodes always finish.
        ``on_not_started`` hears of each node that will never start, as soon
        as that is known. Raise ``graphlib.CycleError`` for a cyclic graph.
        An exception that interrupts the calling thread (KeyboardInterrupt) is
        raised at once, and no node starts after it; leaving the executor's
        context waits for the running ones.
        """
        return _GraphRun(
            self._submit,
            self.max_workers,
            graph,
            run_node,
            cancel_event,
            fail_fast,
            on_not_started,
            self.thread_name_prefix,
        ).run()


class _GraphRun:
    """The state of one ``run_graph`` call, kept apart so an executor can be reused.

    ``lock`` guards the sorter, the ready heap, ``outcomes`` and the loop
    counts, which the coordinator and the worker loops all update.
    """

    def __init__(
        self,
        submit: Callable[[Callable[[], Message], Callable[[Message], None]], None],
        max_workers: int,
        graph: Mapping[str, Collection[str]],
        run_node: NodeRunner,
        cancel_event: threading.Event | None,
        fail_fast: bool,
        on_not_started: Callable[[str, StepStatus], None] | None,
        prefix: str,
    ) -> None:
        self.submit = submit
        self.max_workers = max_workers
        self.order = {node: index for index, node in enumerate(graph)}
        self.sorter = TopologicalSorter(graph)
        self.sorter.prepare()
        self.dependents: dict[str, list[str]] = {node: [] for node in graph}
        for node, dependencies in graph.items():
            for dependency in dependencies:
                self.dependents.setdefault(dependency, []).append(node)
        self.run_node = run_node
        self.cancel_event = cancel_event
        self.fail_fast = fail_fast
        self.on_not_started = on_not_started
        self.prefix = prefix
        self.lock = threading.Lock()
        self.ready: list[tuple[int, str]] = []  # a heap: the earliest node in graph order first
        self.loops = 0  # worker loops submitted and not yet ended
        self.unstarted = 0  # of those, the ones no thread has picked up yet
        self.finished: SimpleQueue[Message] = SimpleQueue()
        self.outcomes: dict[str, NodeOutcome] = {}
        self.failed = False
        self.error: BaseException | None = None
        self.interrupted = False

    def stop_status(self) -> StepStatus | None:
        """Return why no further node may start, if it may not."""
        if self.interrupted or (self.cancel_event is not None and self.cancel_event.is_set()):
            return StepStatus.CANCELLED
        if self.fail_fast and self.failed:
            return StepStatus.SKIPPED
        return None

    # The coordinator

    def run(self) -> dict[str, NodeOutcome]:
        try:
            return self.coordinate()
        except BaseException:
            # The coordinator is interrupted (Ctrl-C, or SystemExit from a signal handler)
            # or a worker loop failed: the loops still going start no further node, so
            # that nothing runs after the caller has given the graph up.
            self.interrupted = True
            raise

    def coordinate(self) -> dict[str, NodeOutcome]:
        while True:
            with self.lock:
                self.release()
                stopped = self.stop_ready()
                loops = self.reserve_loops()
                over = self.loops == 0 and not self.sorter.is_active()
            self.start_loops(loops)
            self.tell(stopped)
            if over:
                return self.outcomes
            message = self.finished.get()
            if self.error is not None:
                raise self.error
            if message is not None:
                node, outcome = message
                with self.lock:
                    self.outcomes[node] = outcome
                    blocked = (
                        self.block_dependents(node) if outcome.status is StepStatus.FAILED else []
                    )
                    self.sorter.done(node)
                self.tell(blocked)

    def stop_ready(self) -> list[tuple[str, StepStatus]]:
        """Under the lock: if no node may start, take every ready node as not started."""
        stopped = []
        while self.ready and (status := self.stop_status()) is not None:
            for _, node in sorted(self.ready):
                self.outcomes[node] = NodeOutcome(status)
                self.sorter.done(node)
                stopped.append((node, status))
            self.ready.clear()
            self.release()
        return stopped

    def block_dependents(self, failed: str) -> list[tuple[str, StepStatus]]:
        """Under the lock: mark everything downstream of ``failed`` upstream_failed, at once."""
        self.failed = True
        blocked = []
        stack = list(self.dependents.get(failed, ()))
        while stack:
            node = stack.pop()
            if node in self.outcomes:
                continue
            self.outcomes[node] = NodeOutcome(StepStatus.UPSTREAM_FAILED)
            blocked.append((node, StepStatus.UPSTREAM_FAILED))
            stack.extend(self.dependents.get(node, ()))
        return blocked

    def tell(self, not_started: list[tuple[str, StepStatus]]) -> None:
        """Report nodes that will never start, outside the lock."""
        if self.on_not_started is not None:
            for node, status in not_started:
                self.on_not_started(node, status)

    # Shared by the coordinator and the worker loops, under the lock

    def release(self) -> None:
        """Move every newly ready node onto the heap; one known never to start is just done."""
        while newly_ready := self.sorter.get_ready():
            for node in newly_ready:
                if node in self.outcomes:
                    self.sorter.done(node)
                else:
                    heappush(self.ready, (self.order.setdefault(node, len(self.order)), node))

    def reserve_loops(self) -> int:
        """Count the worker loops to start so that each ready node has a free thread."""
        wanted = min(len(self.ready) - self.unstarted, self.max_workers - self.loops)
        if wanted <= 0:
            return 0
        self.loops += wanted
        self.unstarted += wanted
        return wanted

    def start_loops(self, count: int) -> None:
        for _ in range(count):
            self.submit(self.work, self.report)

    # A worker loop

    def work(self) -> Message:
        """Run the earliest ready node, finish it, and go on while any node is ready.

        A node that does not succeed ends the loop and is returned for the
        coordinator, which alone blocks dependents; so is a node found here to
        be one that may no longer start.
        """
        try:
            with self.lock:
                self.unstarted -= 1
                node = heappop(self.ready)[1] if self.ready else None
            while node is not None:
                # Checked again here: the node may have waited for a free thread.
                if (status := self.stop_status()) is not None:
                    if self.on_not_started is not None:
                        # A callback raising here must not stop the run; as on any worker
                        # thread, its exception is dropped.
                        with suppress(Exception):
                            self.on_not_started(node, status)
                    return node, NodeOutcome(status)
                outcome = self.execute(node)
                if outcome.status is not StepStatus.SUCCEEDED:
                    # Set here, before reporting, so that with fail_fast a node taken by
                    # another thread meanwhile sees the failure instead of racing the coordinator.
                    self.failed = True
                    return node, outcome
                loops = 0
                with self.lock:
                    self.outcomes[node] = outcome
                    self.sorter.done(node)
                    self.release()
                    node = None
                    # Once no node may start, the coordinator reports the ready ones.
                    if self.ready and self.stop_status() is None:
                        node = heappop(self.ready)[1]
                        loops = self.reserve_loops()
                self.start_loops(loops)
        except BaseException as exc:  # an engine fault: the coordinator raises it
            self.error = exc
        return None

    def report(self, message: Message) -> None:
        """Tell the coordinator a loop ended, always: else it would wait forever."""
        with self.lock:
            self.loops -= 1
        self.finished.put(message)

    def execute(self, node: str) -> NodeOutcome:
        """Run one node, on a thread named after it while it runs."""
        thread = threading.current_thread()
        thread_name, thread.name = thread.name, f"{self.prefix}:{node}"
        try:
            ok = self.run_node(node)
            return NodeOutcome(StepStatus.SUCCEEDED if ok else StepStatus.FAILED)
        except BaseException as exc:
            return NodeOutcome(StepStatus.FAILED, exc, traceback.format_exc())
        finally:
            thread.name = thread_name
