"""Run a dependency graph of steps on a thread pool, waking only on completion.

The coordinator (the calling thread) hands every ready node to a
``ThreadPoolExecutor`` and then blocks on a queue that workers fill as they
finish: no polling, no sleeping, no spinning. A node starts the moment its
last dependency is done and a thread is free.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from graphlib import TopologicalSorter
from queue import SimpleQueue
from types import TracebackType
from typing import Self

from .result import StepStatus

NodeRunner = Callable[[str], bool]
"""Run one node; return True if it succeeded. An exception counts as failure."""


@dataclass(frozen=True)
class NodeOutcome:
    status: StepStatus
    error: BaseException | None = None
    traceback: str | None = None


class ThreadedExecutor:
    """Execute graphs of named nodes on ``max_workers`` threads.

    Use it as a context manager so the threads are joined on exit; one
    executor can run several graphs (a flow's phases) one after another.
    """

    def __init__(self, max_workers: int, thread_name_prefix: str = "adminflow") -> None:
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise ValueError(f"max_workers must be a whole number >= 1, got {max_workers!r}")
        self.max_workers = max_workers
        self.thread_name_prefix = thread_name_prefix
        self._pool: ThreadPoolExecutor | None = None

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
        """Join the worker threads; the executor may be used again afterwards."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

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
        """
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_workers, self.thread_name_prefix)
        return _GraphRun(self._pool, graph, run_node, cancel_event, fail_fast, on_not_started).run(
            self.thread_name_prefix
        )


class _GraphRun:
    """The state of one ``run_graph`` call, kept apart so an executor can be reused."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        graph: Mapping[str, Collection[str]],
        run_node: NodeRunner,
        cancel_event: threading.Event | None,
        fail_fast: bool,
        on_not_started: Callable[[str, StepStatus], None] | None,
    ) -> None:
        self.pool = pool
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
        self.finished: SimpleQueue[tuple[str, NodeOutcome]] = SimpleQueue()
        self.outcomes: dict[str, NodeOutcome] = {}
        self.failed = False

    def stop_status(self) -> StepStatus | None:
        """Return why no further node may start, if it may not."""
        if self.cancel_event is not None and self.cancel_event.is_set():
            return StepStatus.CANCELLED
        if self.fail_fast and self.failed:
            return StepStatus.SKIPPED
        return None

    def run(self, prefix: str) -> dict[str, NodeOutcome]:
        in_flight = 0
        while self.sorter.is_active():
            for node in self.sorter.get_ready():
                if node in self.outcomes:  # already known never to start
                    self.sorter.done(node)
                elif (status := self.stop_status()) is not None:
                    self.not_started(node, status)
                    self.sorter.done(node)
                else:
                    self.pool.submit(self.work, node, prefix)
                    in_flight += 1
            if in_flight:
                node, outcome = self.finished.get()
                in_flight -= 1
                self.outcomes[node] = outcome
                if outcome.status is StepStatus.FAILED:
                    self.failed = True
                    self.block_dependents(node)
                self.sorter.done(node)
        return self.outcomes

    def work(self, node: str, prefix: str) -> None:
        """Run one node on a worker thread, named after the node while it runs."""
        # Checked again here: the node may have waited for a free thread.
        if (status := self.stop_status()) is not None:
            if self.on_not_started is not None:
                self.on_not_started(node, status)
            self.finished.put((node, NodeOutcome(status)))
            return
        thread = threading.current_thread()
        thread_name, thread.name = thread.name, f"{prefix}:{node}"
        try:
            ok = self.run_node(node)
            outcome = NodeOutcome(StepStatus.SUCCEEDED if ok else StepStatus.FAILED)
        except BaseException as exc:
            outcome = NodeOutcome(StepStatus.FAILED, exc, traceback.format_exc())
        finally:
            thread.name = thread_name
        self.finished.put((node, outcome))

    def block_dependents(self, failed: str) -> None:
        """Mark everything downstream of ``failed`` upstream_failed, at once."""
        stack = list(self.dependents.get(failed, ()))
        while stack:
            node = stack.pop()
            if node in self.outcomes:
                continue
            self.not_started(node, StepStatus.UPSTREAM_FAILED)
            stack.extend(self.dependents.get(node, ()))

    def not_started(self, node: str, status: StepStatus) -> None:
        self.outcomes[node] = NodeOutcome(status)
        if self.on_not_started is not None:
            self.on_not_started(node, status)
