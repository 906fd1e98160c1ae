"""Time limits: a run's cancels it when it passes; a step's is reported while the step runs on."""

from __future__ import annotations

import io
import logging
import threading
from typing import Any

import pytest

from adminflow import ConsoleObserver, FlowConfigError, RetryableError, RunStatus, StepStatus

from .helpers import (
    WAIT,
    Call,
    Recorder,
    Trace,
    flaky,
    propagate_step,
    tracing,
    update_step,
    with_policy,
)

TIME_LIMIT = 0.2
"""A run's time limit: ample for the steps before the one under test, which waits for the
cancel the limit causes rather than for a clock."""


def timer_threads() -> list[str]:
    return [
        thread.name
        for thread in threading.enumerate()
        if thread.name.endswith((":time-limit", ":limit"))
    ]


def waits_for(event: threading.Event, trace: Trace, name: str) -> Any:
    """Return a step function that waits for ``event`` (set by the engine), noting that it did."""

    def fn(call: Call) -> None:
        trace.add((name, "set" if event.wait(WAIT) else "not set"))

    return fn


# The run's time limit


def test_the_time_limit_cancels_a_run_in_its_update_phase_and_nothing_is_stored(flow, recorder):
    cancel = threading.Event()
    trace = Trace()
    flow.add_update_step("slow", update_step(waits_for(cancel, trace, "slow")))
    flow.add_update_step("after", update_step(tracing(trace, "after")), depends_on=["slow"])
    flow.add_propagate_step("ping", propagate_step(tracing(trace, "ping")))
    flow.config({"time_limit": TIME_LIMIT})

    result = flow.run(observers=[recorder], cancel_event=cancel)

    assert trace.events == [("slow", "set")]  # the running step finished; none started after
    assert result.timed_out
    assert result.status is RunStatus.FAILED
    assert result.error == (
        "the run's time limit of 0.2 s was reached while these steps were running: slow; "
        "cancelled before these steps started: after, ping"
    )
    assert result.steps["slow"].status is StepStatus.SUCCEEDED
    assert result.steps["after"].status is StepStatus.CANCELLED
    assert result.steps["ping"].status is StepStatus.CANCELLED
    assert not result.stored
    assert flow.record_storer_type.box.stored == []
    assert (
        None,
        logging.WARNING,
        "the run's time limit of 0.2 s was reached: no new step starts; running steps finish",
    ) in recorder.logs()
    assert timer_threads() == []


def test_the_time_limit_in_the_propagate_phase_still_stores_the_records(flow):
    cancel = threading.Event()
    trace = Trace()
    flow.add_update_step("check", update_step())
    flow.add_propagate_step("ping", propagate_step(waits_for(cancel, trace, "ping")))
    flow.add_propagate_step("later", propagate_step(tracing(trace, "later")), depends_on=["ping"])
    flow.config({"time_limit": TIME_LIMIT, "num_threads": 1})

    result = flow.run(cancel_event=cancel)

    assert trace.events == [("ping", "set")]
    assert result.status is RunStatus.FAILED
    assert result.error == (
        "the run's time limit of 0.2 s was reached while these steps were running: ping; "
        "cancelled before these steps started: later"
    )
    assert result.stored
    assert flow.record_storer_type.box.stored == [[1, 2, 3]]
    assert timer_threads() == []


def test_a_run_within_its_time_limit_succeeds_and_leaves_no_timer_behind(flow):
    flow.add_update_step("quick", update_step())
    flow.config({"time_limit": 3600})

    result = flow.run()

    assert result.succeeded
    assert not result.timed_out
    assert result.error is None
    assert timer_threads() == []


def test_the_time_limit_ends_a_retry_wait_and_the_step_fails(flow):
    flow.add_update_step("s", update_step(flaky([RetryableError("down")] * 3)))
    flow.config(
        {
            "time_limit": TIME_LIMIT,
            "s-retry": {"backoff": 3600, "max_backoff": 3600, "jitter": False},
        }
    )

    result = flow.run()

    assert result.steps["s"].attempts == 1
    assert result.steps["s"].error == (
        "RetryableError: down; not retried: the run's time limit was reached"
    )
    assert result.status is RunStatus.FAILED
    assert result.error == (
        "the run's time limit of 0.2 s was reached while these steps were running: s; "
        "failed steps: s"
    )


def test_no_time_limit_by_default(flow):
    flow.add_update_step("s", update_step())

    configured = flow.with_config({})

    assert configured.time_limit == 0.0
    assert configured.snapshot["time_limit"] == 0.0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "must be a number of seconds, 0 or more"),
        ("soon", "expected float, got str 'soon'"),
        (True, "expected float, got bool True"),
        (1e12, "must be at most"),
    ],
)
def test_a_bad_run_time_limit_is_refused(flow, value, message):
    flow.add_update_step("s", update_step())

    with pytest.raises(FlowConfigError) as caught:
        flow.config({"time_limit": value})

    (problem,) = caught.value.problems
    assert problem.path == "time_limit"
    assert message in problem.message


# A step's time limit


class ReleaseWhenOverdue(Recorder):
    """Let the step under test finish only once the run has said it is overdue."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def step_overdue(self, flow, step):
        super().step_overdue(flow, step)
        self.trace.add(("status when overdue", str(step.status), step.overdue))
        self.release.set()


def test_a_step_past_its_time_limit_is_reported_while_it_keeps_running(flow):
    observer = ReleaseWhenOverdue()
    trace = Trace()
    step = with_policy(update_step(waits_for(observer.release, trace, "slow")), time_limit=0.01)
    flow.add_update_step("slow", step)

    result = flow.run(observers=[observer])

    assert trace.events == [("slow", "set")]  # it could only finish after the report
    assert result.succeeded
    assert result.steps["slow"].status is StepStatus.SUCCEEDED
    assert result.steps["slow"].overdue
    assert result.steps["slow"].time_limit == 0.01
    steps = [event for event in observer.events if event[0] != "log"]
    assert steps[1:4] == [
        ("step_started", "slow"),
        ("step_overdue", "slow"),
        ("status when overdue", "running", True),
    ]
    assert steps[4] == ("step_finished", "slow", "succeeded")
    assert (
        "slow",
        logging.WARNING,
        "still running after its time limit of 0.01 s; it keeps running, "
        "as a thread cannot be stopped",
    ) in observer.logs()
    assert timer_threads() == []


def test_a_step_within_its_time_limit_is_not_overdue(flow, recorder):
    flow.add_update_step("quick", with_policy(update_step(), time_limit=3600))

    result = flow.run(observers=[recorder])

    assert not result.steps["quick"].overdue
    assert recorder.of("step_overdue") == []
    assert timer_threads() == []


def test_the_config_sets_or_lifts_a_step_time_limit(flow):
    flow.add_update_step("s", with_policy(update_step(), time_limit=30))
    flow.add_update_step("t", update_step())

    configured = flow.with_config({"s-time_limit": 0, "t-time_limit": 2.5})

    assert configured.steps["s"].time_limit is None
    assert configured.steps["t"].time_limit == 2.5
    assert flow.with_config({}).steps["s"].time_limit == 30
    assert configured.snapshot["s-time_limit"] == 0.0


def test_the_config_time_limit_makes_a_step_overdue(flow):
    observer = ReleaseWhenOverdue()
    trace = Trace()
    flow.add_update_step("slow", update_step(waits_for(observer.release, trace, "slow")))
    flow.config({"slow-time_limit": 0.01})

    result = flow.run(observers=[observer])

    assert result.steps["slow"].overdue
    assert trace.events == [("slow", "set")]


def test_the_console_says_when_a_step_was_retried_or_overdue(flow):
    observer = ReleaseWhenOverdue()
    out = io.StringIO()
    trace = Trace()
    flow.add_update_step("slow", update_step(waits_for(observer.release, trace, "slow")))
    flow.add_update_step("flaky", update_step(flaky([RetryableError("down")])))
    flow.config({"slow-time_limit": 0.01, "flaky-retry": {"backoff": 0, "jitter": False}})

    flow.run(observers=[observer, ConsoleObserver(out, colour=False)])

    lines = out.getvalue().splitlines()
    assert any(
        line.startswith("[STEP] slow: succeeded in ")
        and line.endswith("(over its time limit of 0.01 s)")
        for line in lines
    )
    assert any(
        line.startswith("[STEP] flaky: succeeded in ") and line.endswith("(after 2 attempts)")
        for line in lines
    )
    assert "[flaky] attempt 1 of 3 failed: RetryableError: down; retrying in 0.00 s" in lines
