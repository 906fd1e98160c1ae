"""ThreadedExecutor on its own: argument checks, graphs, failures, cancellation, reuse."""

from __future__ import annotations

import graphlib
import threading

import pytest

from adminflow import StepStatus, ThreadedExecutor

from .helpers import WAIT, Trace

pytestmark = pytest.mark.timeout(30)


def statuses(outcomes):
    return {node: str(outcome.status) for node, outcome in outcomes.items()}


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_max_workers_must_be_a_whole_number_of_at_least_one(bad):
    with pytest.raises(ValueError, match="max_workers"):
        ThreadedExecutor(bad)


def test_one_worker_is_enough():
    with ThreadedExecutor(1) as executor:
        outcomes = executor.run_graph({"a": (), "b": ("a",)}, lambda node: True)

    assert statuses(outcomes) == {"a": "succeeded", "b": "succeeded"}


def test_a_cycle_raises_cycle_error_and_runs_nothing():
    ran = Trace()

    with ThreadedExecutor(2) as executor, pytest.raises(graphlib.CycleError):
        executor.run_graph(
            {"a": ("c",), "b": ("a",), "c": ("b",), "free": ()}, lambda node: ran.add(node)
        )

    assert ran.events == []


def test_an_empty_graph_returns_no_outcomes():
    with ThreadedExecutor(2) as executor:
        assert executor.run_graph({}, lambda node: True) == {}


def test_nodes_run_after_their_dependencies(trace):
    seen = {}

    def run(node):
        seen[node] = set(trace.events)
        trace.add(node)
        return True

    graph = {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c"), "e": ()}
    with ThreadedExecutor(3) as executor:
        outcomes = executor.run_graph(graph, run)

    assert set(outcomes) == set(graph)
    assert all(o.status is StepStatus.SUCCEEDED for o in outcomes.values())
    assert seen["b"] >= {"a"}
    assert seen["c"] >= {"a"}
    assert seen["d"] >= {"a", "b", "c"}


def test_independent_nodes_run_at_once():
    barrier = threading.Barrier(3, timeout=WAIT)

    def run(node):
        barrier.wait()
        return True

    with ThreadedExecutor(3) as executor:
        outcomes = executor.run_graph({"a": (), "b": (), "c": ()}, run)

    assert statuses(outcomes) == {"a": "succeeded", "b": "succeeded", "c": "succeeded"}


def test_a_node_runs_on_a_thread_named_with_the_prefix_and_the_node():
    names = {}

    def run(node):
        names[node] = threading.current_thread().name
        return True

    with ThreadedExecutor(2, thread_name_prefix="roster") as executor:
        executor.run_graph({"check-usernames": (), "assign-groups": ()}, run)

    assert names == {
        "check-usernames": "roster:check-usernames",
        "assign-groups": "roster:assign-groups",
    }


def test_a_false_or_raising_node_fails_and_its_dependents_never_start(trace):
    told = []

    def run(node):
        trace.add(node)
        if node == "raises":
            raise ValueError("bad node")
        return node != "false"

    graph = {
        "false": (),
        "raises": (),
        "after-false": ("false",),
        "after-raises": ("raises",),
        "after-both": ("after-false", "after-raises"),
        "free": (),
    }
    with ThreadedExecutor(2) as executor:
        outcomes = executor.run_graph(
            graph, run, on_not_started=lambda node, status: told.append((node, str(status)))
        )

    assert statuses(outcomes) == {
        "false": "failed",
        "raises": "failed",
        "after-false": "upstream_failed",
        "after-raises": "upstream_failed",
        "after-both": "upstream_failed",
        "free": "succeeded",
    }
    assert set(trace.events) == {"false", "raises", "free"}
    assert isinstance(outcomes["raises"].error, ValueError)
    assert "bad node" in outcomes["raises"].traceback
    assert sorted(told) == [
        ("after-both", "upstream_failed"),
        ("after-false", "upstream_failed"),
        ("after-raises", "upstream_failed"),
    ]


def test_fail_fast_skips_nodes_not_started_yet(trace):
    def run(node):
        trace.add(node)
        return node != "bad"

    with ThreadedExecutor(1) as executor:
        outcomes = executor.run_graph(
            {"bad": (), "later": (), "child": ("bad",), "other": ()}, run, fail_fast=True
        )

    assert statuses(outcomes) == {
        "bad": "failed",
        "later": "skipped",
        "child": "upstream_failed",
        "other": "skipped",
    }
    assert trace.events == ["bad"]


def test_a_set_cancel_event_starts_nothing_more_but_running_nodes_finish(trace):
    cancel = threading.Event()
    barrier = threading.Barrier(2, timeout=WAIT)

    def run(node):
        if node in ("a", "b"):
            barrier.wait()
            cancel.set()
        trace.add(node)
        return True

    with ThreadedExecutor(2) as executor:
        outcomes = executor.run_graph(
            {"a": (), "b": (), "c": (), "d": ("a",)}, run, cancel_event=cancel
        )

    assert statuses(outcomes) == {
        "a": "succeeded",
        "b": "succeeded",
        "c": "cancelled",
        "d": "cancelled",
    }
    assert set(trace.events) == {"a", "b"}


class Interrupted(BaseException):
    """What interrupts the coordinating thread, as KeyboardInterrupt does on Ctrl-C."""


def test_an_interrupted_coordinator_starts_nothing_more_but_running_nodes_finish(trace):
    slow_started, interrupted = threading.Event(), threading.Event()

    def run(node):
        if node == "bad":
            assert slow_started.wait(WAIT)
            return False
        if node == "slow":
            slow_started.set()
            assert interrupted.wait(WAIT)
        trace.add(node)
        return True

    def on_not_started(node, status):  # "child" of "bad", on the coordinating thread
        interrupted.set()
        raise Interrupted

    with pytest.raises(Interrupted), ThreadedExecutor(2) as executor:
        executor.run_graph(
            {"bad": (), "child": ("bad",), "slow": (), "after": ("slow",)},
            run,
            on_not_started=on_not_started,
        )

    assert trace.events == ["slow"]


def test_the_executor_can_run_several_graphs_and_be_reused_after_shutdown():
    executor = ThreadedExecutor(2)

    first = executor.run_graph({"a": ()}, lambda node: True)
    second = executor.run_graph({"b": ()}, lambda node: True)
    executor.shutdown()
    third = executor.run_graph({"c": ("d",), "d": ()}, lambda node: True)
    executor.shutdown()
    executor.shutdown()

    assert statuses(first) == {"a": "succeeded"}
    assert statuses(second) == {"b": "succeeded"}
    assert statuses(third) == {"c": "succeeded", "d": "succeeded"}


def test_leaving_the_context_waits_for_the_nodes_and_leaves_the_threads_in_the_pool(pool):
    threads, finished = [], Trace()
    barrier = threading.Barrier(2, timeout=WAIT)

    def run(node):
        threads.append(threading.current_thread())
        barrier.wait()
        finished.add(node)
        return True

    with ThreadedExecutor(2) as executor:
        executor.run_graph({"a": (), "b": ()}, run)

    assert sorted(finished.events) == ["a", "b"]
    assert all(thread.is_alive() for thread in threads)
    assert set(pool.threads) == set(threads)


def test_the_context_manager_returns_the_executor_and_gives_its_thread_back_on_error(pool):
    threads = []

    def run(node):
        threads.append(threading.current_thread())
        return True

    def use_then_fail():
        with ThreadedExecutor(1) as executor:
            assert isinstance(executor, ThreadedExecutor)
            executor.run_graph({"a": ()}, run)
            raise RuntimeError("caller")

    with pytest.raises(RuntimeError, match="caller"):
        use_then_fail()
    with ThreadedExecutor(1) as executor:
        executor.run_graph({"b": ()}, run)

    assert threads[0] is threads[1]
    assert pool.threads == [threads[0]]


@pytest.mark.timeout(10)
def test_every_node_failing_never_hangs():
    graph = {f"n{i}": (f"n{i - 1}",) if i % 2 else () for i in range(10)}

    def run(node):
        raise RuntimeError(node)

    with ThreadedExecutor(3) as executor:
        outcomes = executor.run_graph(graph, run)

    assert {str(o.status) for o in outcomes.values()} == {"failed", "upstream_failed"}
    assert len(outcomes) == 10


class WorkerOnlyEvent:
    """A cancel event only worker threads see set, once ``set()`` was called.

    It makes the executor find out about a cancellation on a worker thread,
    for a node already queued there, which is the path under test.
    """

    def __init__(self) -> None:
        self.flag = False
        self.coordinator = threading.current_thread()

    def set(self) -> None:
        self.flag = True

    def is_set(self) -> bool:
        return self.flag and threading.current_thread() is not self.coordinator


@pytest.mark.timeout(10)
def test_a_raising_not_started_callback_on_a_worker_does_not_hang_the_executor():
    """A node stopped on a worker thread must still be reported back to the coordinator."""
    cancel = WorkerOnlyEvent()

    def run(node):
        cancel.set()
        return True

    def shout(node, status):
        raise RuntimeError("callback broke")

    with ThreadedExecutor(1) as executor:
        outcomes = executor.run_graph(
            {"first": (), "queued": ()}, run, cancel_event=cancel, on_not_started=shout
        )

    assert statuses(outcomes) == {"first": "succeeded", "queued": "cancelled"}
