"""Every step's start, end, failure, retry and skip is a line of the run's log, worded
as ``runflow`` prints it, and kept within the run's log limits."""

from __future__ import annotations

import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from adminflow import AdminFlow, RetryableError
from adminflow.models import FlowRun, RunLog, StepRun
from adminflow.runs import execute_run, start_run
from adminflow.states import FlowRunStatus, Trigger
from tests.engine.helpers import failing, flaky, make_storer, propagate_step, update_step

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

STEPS = ("flaky", "bad", "after-bad", "off", "p")


def eventful(register) -> AdminFlow:
    """Register a flow whose steps retry, fail, fail upstream, are excluded and skipped."""
    flow = AdminFlow(
        "eventful",
        "every kind of step event",
        make_storer([1]),
        "records",
        default_config={
            "num_threads": 1,
            "flaky-retry": {"max_attempts": 3, "backoff": 0, "jitter": False},
            "off-mode": "exclude",
        },
    )
    flow.add_update_step("flaky", update_step(flaky([RetryableError("down")])))
    flow.add_update_step("bad", update_step(failing("no roster\n  for cs101")))
    flow.add_update_step("after-bad", update_step(), depends_on=["bad"])
    flow.add_update_step("off", update_step())
    flow.add_propagate_step("p", propagate_step())
    return register(flow)


def took(run: FlowRun, step: str) -> str:
    """Return how a step's line gives its duration: the same float as its row's."""
    return f"{StepRun.objects.get(run=run, name=step).duration:.2f}s"


def expected_lines(run: FlowRun) -> dict[str, list[tuple[int, str]]]:
    """Return each step's log lines, (level, message), in order, for a run of ``eventful``."""
    return {
        "flaky": [
            (logging.INFO, "flaky (update): started"),
            (logging.WARNING, "attempt 1 of 3 failed: RetryableError: down; retrying in 0.00 s"),
            (logging.INFO, f"flaky: succeeded in {took(run, 'flaky')} (after 2 attempts)"),
        ],
        "bad": [
            (logging.INFO, "bad (update): started"),
            # The error on one line; its traceback stays on the step's row.
            (
                logging.ERROR,
                f"bad: failed in {took(run, 'bad')}: RuntimeError: no roster / for cs101",
            ),
        ],
        "after-bad": [(logging.WARNING, "after-bad: upstream_failed")],
        "off": [(logging.INFO, "off: excluded")],
        "p": [(logging.WARNING, "p: skipped")],
    }


def logged(run: FlowRun) -> dict[str, list[tuple[int, str]]]:
    """Return each step's log lines, (level, message), in the order written."""
    lines: dict[str, list[tuple[int, str]]] = {step: [] for step in STEPS}
    for step, level, message in RunLog.objects.filter(run=run, step__in=STEPS).values_list(
        "step", "level", "message"
    ):
        lines[step].append((level, message))
    return lines


def test_each_step_event_is_a_log_line_of_the_run(register):
    eventful(register)

    run = execute_run(start_run("eventful", trigger=Trigger.COMMAND))

    assert run.status == FlowRunStatus.FAILED
    assert logged(run) == expected_lines(run)


def test_runflow_prints_the_lines_the_run_log_keeps(register):
    """The console adds its tags to the same text: ``[STEP]`` for a step's moves, the
    step's name for what the step (or the engine, for a retry) logged."""
    eventful(register)
    stdout = StringIO()

    with pytest.raises(CommandError):
        call_command("runflow", "eventful", stdout=stdout, stderr=StringIO())

    run = FlowRun.objects.get()
    printed = stdout.getvalue().splitlines()
    for step, lines in logged(run).items():
        tags = (f"[STEP] {step} (", f"[STEP] {step}: ", f"[{step}] ")
        assert [line for line in printed if line.startswith(tags)] == [
            f"[STEP] {message}"
            if message.startswith((f"{step} (", f"{step}: "))
            else f"[{step}] {message}"
            for _, message in lines
        ]
    assert logged(run) == expected_lines(run)


def test_step_lines_are_cut_like_any_line(register, settings):
    settings.ADMINFLOW = {"MAX_LOG_LINE_LENGTH": 30}
    flow = AdminFlow("long", "fails at length", make_storer([]), "records")
    flow.add_update_step("bad", update_step(failing("x" * 100)))
    register(flow)

    run = execute_run(start_run("long", trigger=Trigger.COMMAND))

    line = f"bad: failed in {took(run, 'bad')}: RuntimeError: " + "x" * 100
    assert list(run.logs.filter(step="bad").values_list("message", flat=True)) == [
        "bad (update): started",
        f"{line[:30]}… [{len(line) - 30} more characters cut]",
    ]


def test_step_lines_count_towards_the_lines_a_run_keeps(register, settings):
    settings.ADMINFLOW = {"MAX_LOG_LINES_PER_RUN": 4}
    flow = AdminFlow("many", "more steps than lines kept", make_storer([]), "records")
    for name in ("a", "b", "c"):
        flow.add_update_step(name, update_step())
    register(flow)

    run = execute_run(start_run("many", trigger=Trigger.COMMAND, num_threads=1))

    # The storer's "loading", a's start and end, b's start; then the count of the rest.
    messages = list(run.logs.values_list("message", flat=True))
    assert messages[:4] == [
        "loading 0 records",
        "a (update): started",
        messages[2],
        "b (update): started",
    ]
    assert messages[2].startswith("a: succeeded in ")
    assert messages[4:] == [
        "4 more log lines were not stored: a run keeps at most 4 "
        "(ADMINFLOW['MAX_LOG_LINES_PER_RUN'])"
    ]


def test_a_step_line_is_dated_when_its_step_moved(register):
    """A start line carries the step's start time and an end line its end time, to the
    microsecond: the moments the engine gave, the same as the step's row holds."""
    flow = AdminFlow("dated", "one step", make_storer([]), "records")
    flow.add_update_step("only", update_step())
    register(flow)

    run = execute_run(start_run("dated", trigger=Trigger.COMMAND))

    step = StepRun.objects.get(run=run, name="only")
    assert list(run.logs.filter(step="only").values_list("created_at", flat=True)) == [
        step.started_at,
        step.finished_at,
    ]
