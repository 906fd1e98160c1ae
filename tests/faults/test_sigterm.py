"""SIGTERM, as a supervisor stops a process: the run in progress always ends in a final state.

``runflow`` cancels its run cleanly, as on Ctrl-C: no new step starts, the
running ones finish, and the store rule applies by phase (a run already
storing finishes storing, and succeeds). A ``db_worker`` shuts down
gracefully: it takes no further task, and lets the run it is executing
finish first; its supervisor's grace period (systemd's TimeoutStopSec, a
container's stop timeout) bounds how long, after which SIGKILL leaves the
run to the reaper (``test_sigkill``).
"""

from __future__ import annotations

import signal
import subprocess

import pytest

from adminflow.models import FlowRun, RecordChange
from adminflow.runs import enqueue_run, start_run
from adminflow.states import FlowRunStatus, Trigger
from tests.processes import db_worker_command
from tests.run_helpers import step_statuses
from tests.testapp.faults import AFTER, BEFORE, NAME, students

from .conftest import runflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

CANCELLING = "Cancelling on SIGTERM: no new step starts, running steps finish"


def test_sigterm_cancels_a_runflow_run_cleanly_and_exits_1(roster, processes):
    process = processes.start("runflow", runflow())
    processes.wait_until(lambda: roster.step_running("wait"), "step wait", alive=["runflow"])

    process.send_signal(signal.SIGTERM)
    processes.wait_until(lambda: CANCELLING in processes.output("runflow"), "the cancel")
    roster.step_gate.touch()  # the running step finishes; stamp, after it, never starts

    assert processes.wait("runflow") == 1
    run = roster.run()
    assert run.status == FlowRunStatus.CANCELLED
    assert step_statuses(run) == {"enrol": "succeeded", "wait": "succeeded", "stamp": "cancelled"}
    assert run.records_stored is None
    assert students() == BEFORE
    assert (
        f"CommandError: run {run.pk} of flow '{NAME}' cancelled: "
        "cancelled before these steps started: stamp" in processes.output("runflow")
    )


def test_sigterm_while_storing_lets_the_store_finish_and_the_run_succeed(roster, processes):
    roster.pause("mid-store")
    roster.step_gate.touch()
    process = processes.start("runflow", runflow())
    processes.wait_until(roster.store_reached, "the store gate", alive=["runflow"])

    process.send_signal(signal.SIGTERM)
    processes.wait_until(lambda: CANCELLING in processes.output("runflow"), "the cancel")
    roster.store_gate.touch()

    assert processes.wait("runflow") == 0
    run = roster.run()
    assert (run.status, run.records_stored) == (FlowRunStatus.SUCCEEDED, 3)
    assert students() == AFTER
    assert RecordChange.objects.filter(run=run).count() == 3


def test_a_second_sigterm_stops_the_run_without_storing_and_marks_it_failed(roster, processes):
    process = processes.start("runflow", runflow())
    processes.wait_until(lambda: roster.step_running("wait"), "step wait", alive=["runflow"])

    process.send_signal(signal.SIGTERM)
    processes.wait_until(lambda: CANCELLING in processes.output("runflow"), "the cancel")
    process.send_signal(signal.SIGTERM)
    roster.step_gate.touch()  # the running step still returns before the process ends

    assert processes.wait("runflow") == 1
    run = roster.run()
    assert run.status == FlowRunStatus.FAILED
    assert run.error == "the run stopped unexpectedly: KeyboardInterrupt"
    assert step_statuses(run)["stamp"] == "cancelled"
    assert students() == BEFORE
    assert (
        f"CommandError: run {run.pk} was interrupted before its steps finished; marked failed"
        in processes.output("runflow")
    )


def terminated_worker(roster, processes, settings) -> tuple[FlowRun, subprocess.Popen]:
    """Send a SIGTERM to a db_worker while its run's step waits; return the run and the worker
    once the worker says it is shutting down."""
    settings.ADMINFLOW = {**settings.ADMINFLOW, "TASK_BACKEND": "database"}
    run = start_run(NAME, trigger=Trigger.ADMIN)
    enqueue_run(run)
    worker = processes.start("db_worker", db_worker_command())
    processes.wait_until(lambda: roster.step_running("wait"), "step wait", alive=["db_worker"])

    worker.send_signal(signal.SIGTERM)
    processes.wait_until(
        lambda: "shutting down gracefully" in processes.output("db_worker"), "the shutdown"
    )
    return run, worker


def test_sigterm_lets_a_db_worker_finish_its_run_then_exit(roster, processes, settings):
    run, _worker = terminated_worker(roster, processes, settings)
    roster.step_gate.touch()

    assert processes.wait("db_worker") == 0
    run.refresh_from_db()
    assert (run.status, run.records_stored) == (FlowRunStatus.SUCCEEDED, 3)
    assert students() == AFTER


def test_a_second_sigterm_forces_a_db_worker_to_stop_and_the_run_is_marked_failed(
    roster, processes, settings
):
    run, worker = terminated_worker(roster, processes, settings)
    worker.send_signal(signal.SIGTERM)
    roster.step_gate.touch()

    processes.wait("db_worker")
    run.refresh_from_db()
    assert run.status == FlowRunStatus.FAILED
    assert run.error == "the run stopped unexpectedly: SystemExit: 1"
    assert step_statuses(run) == {"enrol": "succeeded", "wait": "succeeded", "stamp": "cancelled"}
    assert students() == BEFORE
