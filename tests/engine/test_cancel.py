"""Cooperative cancellation: no new step starts, running steps finish, store rule by phase."""

from __future__ import annotations

import threading

import pytest

from adminflow import RunStatus

from .helpers import WAIT, Trace, failing, propagate_step, record_step, tracing, update_step

pytestmark = pytest.mark.timeout(30)


def statuses(result):
    return {name: str(step.status) for name, step in result.steps.items()}


def cancels(event: threading.Event, trace: Trace, name: str):
    def fn(call):
        trace.add(name)
        event.set()

    return fn


def test_a_run_cancelled_before_it_starts_runs_no_step_and_stores_nothing(flow, storer, trace):
    cancel = threading.Event()
    cancel.set()
    flow.add_record_step("r", record_step(tracing(trace, "r")))
    flow.add_update_step("u", update_step(tracing(trace, "u")))
    flow.add_propagate_step("p", propagate_step(tracing(trace, "p")))

    result = flow.run(cancel_event=cancel)

    assert result.status is RunStatus.CANCELLED
    assert statuses(result) == {"r": "cancelled", "u": "cancelled", "p": "cancelled"}
    assert trace.events == []
    assert result.stored is False
    assert storer.box.stored == []


def test_cancelling_in_the_record_phase_stops_before_the_next_record_step(flow, storer, trace):
    cancel = threading.Event()
    flow.add_record_step("first", record_step(cancels(cancel, trace, "first")))
    flow.add_record_step("second", record_step(tracing(trace, "second")))
    flow.add_update_step("u", update_step(tracing(trace, "u")))
    flow.add_propagate_step("p", propagate_step(tracing(trace, "p")))

    result = flow.run(cancel_event=cancel)

    assert statuses(result) == {
        "first": "succeeded",
        "second": "cancelled",
        "u": "cancelled",
        "p": "cancelled",
    }
    assert trace.events == ["first"]
    assert storer.box.stored == []
    assert result.status is RunStatus.CANCELLED


def test_cancelling_in_the_update_phase_lets_running_steps_finish_and_stores_nothing(
    flow, storer, trace
):
    cancel = threading.Event()
    barrier = threading.Barrier(2, timeout=WAIT)

    def cancel_after_meeting(call):
        barrier.wait()
        cancel.set()
        trace.add("canceller finished")

    def keep_running(call):
        barrier.wait()
        if not cancel.wait(WAIT):
            raise AssertionError("cancel was never set")
        trace.add("runner finished")

    flow.add_update_step("canceller", update_step(cancel_after_meeting))
    flow.add_update_step("runner", update_step(keep_running))
    flow.add_update_step("queued", update_step(tracing(trace, "queued")))
    flow.add_update_step("child", update_step(tracing(trace, "child")), depends_on=["canceller"])
    flow.add_propagate_step("p", propagate_step(tracing(trace, "p")))
    flow.config({"num_threads": 2})

    result = flow.run(cancel_event=cancel)

    assert statuses(result) == {
        "canceller": "succeeded",
        "runner": "succeeded",
        "queued": "cancelled",
        "child": "cancelled",
        "p": "cancelled",
    }
    assert set(trace.events) == {"canceller finished", "runner finished"}
    assert result.stored is False
    assert storer.box.stored == []
    assert result.status is RunStatus.CANCELLED
    assert "queued" in result.error
    assert "child" in result.error


def test_cancelling_in_the_propagate_phase_still_stores_the_records(flow, storer, trace):
    cancel = threading.Event()

    def invite_then_cancel(call):
        for index, (record, lock) in enumerate(call.records):
            with lock:
                call.records[index] = (f"{record}-invited", lock)
        cancel.set()

    flow.add_update_step("u", update_step(tracing(trace, "u")))
    flow.add_propagate_step("invite", propagate_step(invite_then_cancel))
    flow.add_propagate_step("queued", propagate_step(tracing(trace, "queued")))
    flow.add_propagate_step("child", propagate_step(tracing(trace, "child")), depends_on=["invite"])
    flow.config({"num_threads": 1})

    result = flow.run(cancel_event=cancel)

    assert statuses(result) == {
        "u": "succeeded",
        "invite": "succeeded",
        "queued": "cancelled",
        "child": "cancelled",
    }
    assert trace.events == ["u"]
    assert result.stored is True
    assert storer.box.stored == [["1-invited", "2-invited", "3-invited"]]
    assert result.status is RunStatus.CANCELLED


def test_a_failure_outranks_a_cancellation(flow, storer):
    cancel = threading.Event()

    def cancel_and_fail(call):
        cancel.set()
        raise RuntimeError("boom")

    flow.add_update_step("bad", update_step(cancel_and_fail))
    flow.add_update_step("queued", update_step())
    flow.config({"num_threads": 1})

    result = flow.run(cancel_event=cancel)

    assert statuses(result) == {"bad": "failed", "queued": "cancelled"}
    assert result.status is RunStatus.FAILED
    assert storer.box.stored == []


def test_cancelling_after_the_last_step_started_changes_nothing(flow, storer, trace):
    cancel = threading.Event()
    flow.add_update_step("u", update_step())
    flow.add_propagate_step("last", propagate_step(cancels(cancel, trace, "last")))

    result = flow.run(cancel_event=cancel)

    assert result.status is RunStatus.SUCCEEDED
    assert result.stored is True


def test_cancelled_steps_are_reported_to_observers_without_starting(flow, recorder):
    cancel = threading.Event()
    flow.add_update_step("first", update_step(lambda call: cancel.set()))
    flow.add_update_step("second", update_step(), depends_on=["first"])

    flow.run(cancel_event=cancel, observers=[recorder])

    assert ("step_finished", "second", "cancelled") in recorder.events
    assert ("step_started", "second") not in recorder.events
    assert recorder.events[-1] == ("run_finished", "cancelled")


def test_a_run_without_cancel_event_is_not_cancelled_by_another_runs_event(flow):
    cancel = threading.Event()
    flow.add_update_step("u", update_step(lambda call: cancel.set()))
    flow.add_update_step("v", update_step(), depends_on=["u"])

    assert flow.run(cancel_event=cancel).status is RunStatus.CANCELLED
    cancel.clear()
    assert flow.run().status is RunStatus.SUCCEEDED


@pytest.mark.timeout(10)
def test_a_failing_step_during_cancellation_never_hangs(flow):
    cancel = threading.Event()
    flow.add_update_step("a", update_step(lambda call: cancel.set()))
    flow.add_update_step("b", update_step(failing()))
    flow.add_update_step("c", update_step(failing()), depends_on=["b"])
    flow.config({"num_threads": 2})

    result = flow.run(cancel_event=cancel)

    assert all(step.status.is_finished for step in result.steps.values())
