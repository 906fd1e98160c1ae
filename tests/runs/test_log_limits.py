"""A chatty or huge-erroring step cannot exhaust memory or the database.

Lines past the per-run cap are counted, not kept; a log line, a step's
error and traceback, and a run's error are cut to the line length limit.
"""

from __future__ import annotations

import logging
import tracemalloc

import pytest

from adminflow import AdminFlow
from adminflow.runs import execute_run, start_run
from adminflow.states import FlowRunStatus, Trigger
from tests.engine.helpers import make_storer, update_step

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

MILLION = 1_000_000


def test_a_step_logging_a_million_lines_keeps_the_cap_and_counts_the_rest(register, settings):
    settings.ADMINFLOW = {"MAX_LOG_LINES_PER_RUN": 1000}

    def chatty(call):
        for _ in range(MILLION):
            call.logger("chatter")

    flow = AdminFlow("chatty", "logs a million lines", make_storer([]), "records")
    flow.add_update_step("talk", update_step(chatty))
    register(flow)
    run = start_run("chatty", trigger=Trigger.COMMAND)

    tracemalloc.start()
    try:
        run = execute_run(run)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert run.status == FlowRunStatus.SUCCEEDED
    # The storer's "loading" line, the step's start and 998 of its lines are kept; then
    # the count of the rest, of the step's end and of the storer's "stored" line.
    assert run.logs.count() == 1001
    assert run.logs.filter(step="talk").count() == 999
    last = run.logs.order_by("id").last()
    assert last.level == logging.WARNING
    assert last.message == (
        f"{MILLION - 998 + 2} more log lines were not stored: a run keeps at most 1000 "
        "(ADMINFLOW['MAX_LOG_LINES_PER_RUN'])"
    )
    # A million RunLog objects would take hundreds of megabytes.
    assert peak < 50 * 2**20


def test_a_huge_step_error_is_cut_keeping_the_start_and_the_traceback_keeping_its_end(
    register, settings
):
    settings.ADMINFLOW = {"MAX_LOG_LINE_LENGTH": 100}

    def explode(call):
        raise ValueError("x" * 1_000_000)

    flow = AdminFlow("explodes", "fails with a huge message", make_storer([]), "records")
    flow.add_update_step("boom", update_step(explode))
    register(flow)

    run = execute_run(start_run("explodes", trigger=Trigger.COMMAND))

    step = run.steps.get(name="boom")
    assert step.error == f"ValueError: {'x' * 88}… [{1_000_012 - 100} more characters cut]"
    assert step.traceback.startswith("[")
    assert step.traceback.endswith("x" * 50 + "\n")
    assert len(step.traceback) < 200
    assert run.status == FlowRunStatus.FAILED


def test_a_huge_run_error_is_cut_too(register, settings):
    settings.ADMINFLOW = {"MAX_LOG_LINE_LENGTH": 100}
    storer = make_storer([], load_error=RuntimeError("y" * 1_000_000))
    register(AdminFlow("unloadable", "its storer fails hugely", storer, "records"))

    run = execute_run(start_run("unloadable", trigger=Trigger.COMMAND))

    assert run.status == FlowRunStatus.FAILED
    assert run.error.startswith("storer 'records' could not load records: RuntimeError: yyy")
    assert run.error.endswith("more characters cut]")
    assert len(run.error) < 200
    assert len(run.traceback) < 200
