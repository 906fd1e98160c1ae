"""SIGKILL: a process that dies without a word leaves no half-stored records and no stuck flow.

Nothing in a killed process can record its death: its run is found by its
missing heartbeat, by the reaper or by the next start of the flow, and
marked failed, naming the lost worker. Storing is one transaction, so the
records are as they were before the run, or as the run left them, never
in between.
"""

from __future__ import annotations

import socket
from io import StringIO

import pytest
from django.core.management import call_command

from adminflow.models import FlowRun, RecordChange
from adminflow.runs import FlowAlreadyRunning, enqueue_run, execute_run, reap_stale_runs, start_run
from adminflow.states import FlowRunStatus, Trigger
from tests.processes import Processes, db_worker_command
from tests.run_helpers import step_statuses
from tests.testapp.faults import AFTER, BEFORE, NAME, students

from .conftest import Roster, runflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def reap(processes: Processes) -> list[FlowRun]:
    """Return the runs the reaper marks failed, once it finds one (the lost run is stale)."""
    reaped: list[FlowRun] = []
    processes.wait_until(lambda: reaped.extend(reap_stale_runs()) or reaped, "a stale run")
    return reaped


def assert_lost(run: FlowRun, pid: int) -> None:
    run.refresh_from_db()
    assert run.status == FlowRunStatus.FAILED
    assert run.error.startswith(f"worker {socket.gethostname()}:{pid} stopped heartbeating at ")
    assert run.finished_at is not None


def test_a_runflow_killed_mid_run_is_reaped_and_the_next_run_starts(roster, processes):
    processes.start("runflow", runflow())
    processes.wait_until(lambda: roster.step_running("wait"), "step wait", alive=["runflow"])

    pid = processes.kill("runflow")

    run = roster.run()
    assert run.status == FlowRunStatus.RUNNING  # nothing in the process could say otherwise
    assert reap(processes) == [run]
    assert_lost(run, pid)
    assert step_statuses(run) == {"enrol": "succeeded", "wait": "failed", "stamp": "cancelled"}
    assert run.steps.get(name="wait").error == run.error
    assert students() == BEFORE
    assert not RecordChange.objects.exists()

    roster.step_gate.touch()
    call_command("runflow", NAME, stdout=StringIO())
    latest = FlowRun.objects.latest("pk")
    assert (latest.status, latest.records_stored) == (FlowRunStatus.SUCCEEDED, 3)
    assert students() == AFTER


def test_a_db_worker_killed_mid_run_is_reaped_by_the_next_start(roster, processes, settings):
    settings.ADMINFLOW = {**settings.ADMINFLOW, "TASK_BACKEND": "database"}
    lost = start_run(NAME, trigger=Trigger.ADMIN)
    enqueue_run(lost)
    processes.start("db_worker", db_worker_command())
    processes.wait_until(lambda: roster.step_running("wait"), "step wait", alive=["db_worker"])

    pid = processes.kill("db_worker")

    # Refused while the lost run still looks alive; once it is stale, the start reaps it.
    started: list[FlowRun] = []
    refused: set[int] = set()

    def start() -> bool:
        try:
            started.append(start_run(NAME, trigger=Trigger.ADMIN))
        except FlowAlreadyRunning as exc:
            refused.add(exc.run_id)
        return bool(started)

    processes.wait_until(start, "the next start to reap the lost run")
    assert refused <= {lost.pk}
    assert_lost(lost, pid)
    assert step_statuses(lost) == {"enrol": "succeeded", "wait": "failed", "stamp": "cancelled"}
    assert students() == BEFORE

    roster.step_gate.touch()
    finished = execute_run(started[0])
    assert finished.status == FlowRunStatus.SUCCEEDED
    assert students() == AFTER


@pytest.mark.parametrize(
    ("pause", "left", "changes"),
    [
        # Killed inside the store's transaction, after its first write: all of it rolls back.
        ("mid-store", BEFORE, 0),
        # Killed right after it committed: all of it stays, with its audit.
        ("after-store", AFTER, 3),
    ],
)
def test_a_runflow_killed_while_storing_leaves_all_old_or_all_new_records(
    roster: Roster, processes, pause, left, changes
):
    roster.pause(pause)
    roster.step_gate.touch()
    processes.start("runflow", runflow())
    processes.wait_until(roster.store_reached, f"the store gate ({pause})", alive=["runflow"])
    run = roster.run()

    pid = processes.kill("runflow")

    assert students() == left
    assert RecordChange.objects.filter(run=run).count() == changes
    assert reap(processes) == [run]
    assert_lost(run, pid)
    # Written before the store began: the kill inside it cannot lose them.
    assert step_statuses(run) == dict.fromkeys(["enrol", "wait", "stamp"], "succeeded")
