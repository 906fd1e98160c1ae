"""Retries and time limits as a recorded run keeps them: attempts, overdue steps, timed-out runs."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from django.db.backends.signals import connection_created

from adminflow import AdminFlow, FlowObserver, RetryableError
from adminflow.models import RunLog, StepRun
from adminflow.runs import execute_run, start_run
from adminflow.states import FlowRunStatus, StepRunStatus, Trigger
from tests.engine.helpers import (
    WAIT,
    Call,
    Trace,
    flaky,
    make_storer,
    propagate_step,
    update_step,
    with_policy,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

INSTANT = {"backoff": 0, "jitter": False}


def step_row(run, name: str) -> StepRun:
    return StepRun.objects.get(run=run, name=name)


def test_a_retried_step_keeps_its_attempts_and_each_failed_attempt_in_the_log(register):
    flow = AdminFlow(
        "retried", "d", make_storer([1]), default_config={"s-retry": {"max_attempts": 4, **INSTANT}}
    )
    flow.add_update_step("s", update_step(flaky([RetryableError("down")] * 2)))
    flow.add_update_step("never", update_step(flaky([RetryableError("down")] * 9)))
    register(flow)

    run = execute_run(start_run("retried", trigger=Trigger.COMMAND))

    assert run.status == FlowRunStatus.FAILED
    s, never = step_row(run, "s"), step_row(run, "never")
    assert (s.status, s.attempts, s.error) == (StepRunStatus.SUCCEEDED, 3, "")
    assert (never.status, never.attempts) == (StepRunStatus.FAILED, 3)
    assert never.error == "RetryableError: down (after 3 attempts)"
    assert list(
        RunLog.objects.filter(run=run, step="s", level=logging.WARNING).values_list(
            "message", flat=True
        )
    ) == [
        "attempt 1 of 4 failed: RetryableError: down; retrying in 0.00 s",
        "attempt 2 of 4 failed: RetryableError: down; retrying in 0.00 s",
    ]


def row_once(**fields: object) -> StepRun:
    """Return the step row once it shows ``fields``: the run's recording thread writes
    a change as soon as it wakes, so a step may ask a moment before it is there."""
    rows = StepRun.objects.filter(name__in=["s", "slow"])
    deadline = time.monotonic() + WAIT
    while not rows.filter(**fields).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return rows.get()


def test_the_attempts_are_stored_while_the_step_still_runs(register):
    seen = Trace()
    left = [RetryableError("down")]

    def fail_once_then_read_my_row(call: Call) -> None:
        if left:
            raise left.pop()
        seen.add(row_once(attempts=1).attempts)

    flow = AdminFlow("live", "d", make_storer([1]), default_config={"s-retry": INSTANT})
    flow.add_update_step("s", update_step(fail_once_then_read_my_row))
    register(flow)

    run = execute_run(start_run("live", trigger=Trigger.COMMAND))

    assert seen.events == [1]  # the failed call, written while the step goes on
    assert step_row(run, "s").attempts == 2


class ReleaseWhenOverdue(FlowObserver):
    """Let the step finish once it is reported overdue; the recorder heard it first."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def step_overdue(self, flow, step):
        self.release.set()


def test_an_overdue_step_is_stored_as_overdue_while_it_runs(register):
    observer = ReleaseWhenOverdue()
    seen = Trace()
    main = threading.current_thread()
    opened = []

    def wait_then_read_my_row(call: Call) -> None:
        assert observer.release.wait(WAIT)
        row = row_once(overdue=True)
        seen.add((row.status, row.overdue))

    def note(sender, connection, **kwargs):
        if threading.current_thread() is not main:
            opened.append(connection)

    flow = AdminFlow("overdue", "d", make_storer([1]))
    flow.add_update_step("slow", with_policy(update_step(wait_then_read_my_row), time_limit=0.01))
    flow.add_update_step("plain", update_step())
    register(flow)
    connection_created.connect(note)
    try:
        run = execute_run(start_run("overdue", trigger=Trigger.COMMAND), observers=[observer])
    finally:
        connection_created.disconnect(note)

    assert seen.events == [(StepRunStatus.RUNNING, True)]
    slow, plain = step_row(run, "slow"), step_row(run, "plain")
    assert (slow.status, slow.overdue, slow.time_limit) == (StepRunStatus.SUCCEEDED, True, 0.01)
    assert (plain.overdue, plain.time_limit) == (False, None)
    assert RunLog.objects.filter(
        run=run, step="slow", message__startswith="still running after its time limit of 0.01 s"
    ).exists()
    # Every thread that opened a connection (the step's, the recorder's) closed it.
    assert [each.connection for each in opened] == [None] * len(opened)


def test_a_step_time_limit_from_the_config_is_stored_on_its_row(register):
    flow = AdminFlow("limited", "d", make_storer([1]), default_config={"s-time_limit": 45})
    flow.add_update_step("s", update_step())
    register(flow)

    run = execute_run(start_run("limited", trigger=Trigger.COMMAND))

    assert (step_row(run, "s").time_limit, step_row(run, "s").overdue) == (45.0, False)
    assert run.config_snapshot["s-time_limit"] == 45.0


def test_a_run_past_its_time_limit_is_failed_with_the_reason(register):
    cancel = threading.Event()

    def wait_for_the_cancel(call: Call) -> None:
        assert cancel.wait(WAIT)

    flow = AdminFlow("timed", "d", make_storer([1]), default_config={"time_limit": 0.2})
    flow.add_update_step("slow", update_step(wait_for_the_cancel))
    flow.add_propagate_step("ping", propagate_step())
    register(flow)

    run = execute_run(start_run("timed", trigger=Trigger.COMMAND), cancel_event=cancel)

    assert run.status == FlowRunStatus.FAILED
    assert run.error == (
        "the run's time limit of 0.2 s was reached while these steps were running: slow; "
        "cancelled before these steps started: ping"
    )
    assert run.records_stored is None
    assert step_row(run, "ping").status == StepRunStatus.CANCELLED
    run.refresh_from_db()
    assert run.status == FlowRunStatus.FAILED
