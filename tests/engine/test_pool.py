"""Runs in one process share its worker threads: reused, never starved, never leaked.

Threads are compared as ``Thread`` objects, not idents: the system may give
a new thread the ident of one that has ended.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable

import pytest

from adminflow import AdminFlow, StepStatus, ThreadedExecutor

from .helpers import WAIT, Call, Trace, failing, make_storer, update_step

pytestmark = pytest.mark.timeout(60)


def together(barrier: threading.Barrier, seen: Trace) -> Callable[[Call], None]:
    """Return a step function that notes its thread, then waits until ``barrier`` is full.

    A run of such steps can only finish once that many steps run at once,
    each on a thread of its own.
    """

    def fn(call: Call) -> None:
        seen.add(threading.current_thread())
        barrier.wait()

    return fn


def wide_flow(name: str, width: int, barrier: threading.Barrier, seen: Trace) -> AdminFlow:
    """Return a flow of ``width`` independent update steps on ``width`` threads."""
    flow = AdminFlow(name, "steps that must all run at once", make_storer([1, 2]), "records")
    for i in range(width):
        flow.add_update_step(f"step-{i}", update_step(together(barrier, seen)))
    flow.config({"num_threads": width})
    return flow


def run_wide(width: int) -> set[threading.Thread]:
    """Run a flow of ``width`` steps that all run at once; return the threads they ran on."""
    seen = Trace()
    result = wide_flow("wide", width, threading.Barrier(width, timeout=WAIT), seen).run()
    assert result.succeeded, result.error
    return set(seen.events)


def test_runs_that_follow_one_another_are_served_by_the_same_threads(pool):
    first = run_wide(4)

    later = [run_wide(4) for _ in range(3)]

    assert len(first) == 4
    assert all(threads == first for threads in later)
    assert set(pool.threads) == first
    assert all(thread.is_alive() for thread in first)


def test_a_smaller_run_reuses_threads_and_a_larger_one_only_adds_what_it_lacks(pool):
    four = run_wide(4)

    two = run_wide(2)
    six = run_wide(6)

    assert two <= four
    assert four <= six
    assert len(six) == 6
    assert set(pool.threads) == six


def concurrently(*flows: AdminFlow) -> list:
    """Run each flow on a thread of its own, all at once; return their results."""
    results: list = [None] * len(flows)

    def run(index: int) -> None:
        results[index] = flows[index].run()

    runners = [threading.Thread(target=run, args=(i,)) for i in range(len(flows))]
    for runner in runners:
        runner.start()
    for runner in runners:
        runner.join()
    return results


def test_two_concurrent_runs_each_get_their_own_threads_and_keep_them(pool):
    """Each run's 3 steps wait for the other run's 3: only 6 threads at once finish them."""
    rounds = []
    for _ in range(3):
        seen = Trace()
        barrier = threading.Barrier(6, timeout=WAIT)
        results = concurrently(
            wide_flow("first", 3, barrier, seen), wide_flow("second", 3, barrier, seen)
        )
        assert [result.status for result in results] == ["succeeded", "succeeded"]
        rounds.append(set(seen.events))

    assert len(rounds[0]) == 6
    assert rounds[1] == rounds[0]
    assert rounds[2] == rounds[0]
    assert set(pool.threads) == rounds[0]


def test_a_failed_step_and_a_cancelled_run_leave_the_threads_serving_the_next_run(pool):
    first = run_wide(2)

    flow = AdminFlow("breaks", "a failing step", make_storer([1]), "records")
    flow.add_update_step("bad", update_step(failing("step broke")))
    flow.config({"num_threads": 2})
    failed = flow.run()
    cancel = threading.Event()
    flow = AdminFlow("cancelled", "cancels itself", make_storer([1]), "records")
    flow.add_update_step("cancels", update_step(lambda call: cancel.set()))
    flow.add_update_step("never", update_step(), depends_on=["cancels"])
    flow.config({"num_threads": 2})
    cancelled = flow.run(cancel_event=cancel)

    assert failed.steps["bad"].status is StepStatus.FAILED
    assert cancelled.steps["never"].status is StepStatus.CANCELLED
    assert run_wide(2) == first
    assert set(pool.threads) == first


class Interrupted(BaseException):
    """What interrupts the coordinating thread, as KeyboardInterrupt does on Ctrl-C."""


def test_an_interrupted_executor_waits_for_its_running_node_and_leaves_the_pool_usable(pool):
    running, interrupted = threading.Event(), threading.Event()
    trace = Trace()

    def run(node: str) -> bool:
        if node == "slow":
            running.set()
            assert interrupted.wait(WAIT)
            trace.add("slow finished")
            return True
        assert running.wait(WAIT)
        return False

    def on_not_started(node: str, status: StepStatus) -> None:
        interrupted.set()
        raise Interrupted

    with pytest.raises(Interrupted), ThreadedExecutor(2) as executor:
        executor.run_graph(
            {"slow": (), "bad": (), "child": ("bad",)}, run, on_not_started=on_not_started
        )
    assert trace.events == ["slow finished"]  # leaving the context waited for it
    used = set(pool.threads)

    seen = Trace()
    barrier = threading.Barrier(2, timeout=WAIT)
    with ThreadedExecutor(2) as executor:
        outcomes = executor.run_graph({"a": (), "b": ()}, together_node(barrier, seen))

    assert {str(outcome.status) for outcome in outcomes.values()} == {"succeeded"}
    assert set(seen.events) == used


def together_node(barrier: threading.Barrier, seen: Trace) -> Callable[[str], bool]:
    def run(node: str) -> bool:
        seen.add(threading.current_thread())
        barrier.wait()
        return True

    return run


def pool_threads_alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("test-pool-")]


def test_many_runs_leave_no_more_threads_than_were_ever_busy_at_once(pool):
    for width in [1, 3, 2, 4, 1, 4, 3] * 4:
        run_wide(width)
    for _ in range(5):
        barrier = threading.Barrier(4, timeout=WAIT)
        seen = Trace()
        concurrently(wide_flow("one", 2, barrier, seen), wide_flow("two", 2, barrier, seen))

    assert len(pool.threads) == 4
    assert len(pool_threads_alive()) == 4
    pool.close()
    assert pool_threads_alive() == []


def test_a_forked_child_runs_flows_on_threads_of_its_own():
    """The child of a fork has none of its parent's threads, whatever the pool had counted."""
    script = textwrap.dedent(
        """
        import os
        import signal
        import threading
        from adminflow import ThreadedExecutor

        barrier = threading.Barrier(2, timeout=5)
        with ThreadedExecutor(2) as executor:  # leaves two idle threads in the pool
            executor.run_graph({"a": (), "b": ()}, lambda node: barrier.wait() is not None)
        child = os.fork()
        if child == 0:
            signal.alarm(10)  # a child that hangs ends by itself
            with ThreadedExecutor(1) as executor:
                outcomes = executor.run_graph({"c": ()}, lambda node: True)
            os._exit(0 if outcomes["c"].status == "succeeded" else 1)
        _, status = os.waitpid(child, 0)
        print("child exit", os.waitstatus_to_exitcode(status))
        """
    )

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=WAIT * 4
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "child exit 0"
