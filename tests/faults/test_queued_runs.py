"""A process that dies between queueing a run and starting it leaves no run queued for ever.

Two moments, each with a real process killed there: ``runflow`` right after
it committed the run it queued for itself, and a ``db_worker`` after it took
the run's task, while it configures the run to execute it. Either process
held the run from that moment, so its run is failed as lost once its
heartbeat is stale (:data:`STALE_AFTER` here) and the flow's next start
goes through. Then racing ``runflow`` processes on a flow whose runs end at
once: a start refused by a run that ends meanwhile is never a raw
IntegrityError.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time

import pytest

from adminflow.models import FlowRun
from adminflow.runs import FlowAlreadyRunning, enqueue_run, execute_run, start_run
from adminflow.states import FlowRunStatus, Trigger
from tests.processes import Processes, db_worker_command, released_command
from tests.testapp.faults import AFTER, BEFORE, HOLD, NAME, students

from .conftest import STALE_AFTER, Roster, runflow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

RACERS = 6
ALREADY_RUNNING = 3


def held(processes: Processes, roster: Roster, moment: str, name: str, command: list[str]) -> None:
    """Start ``command`` as ``name``, held at ``moment`` (see tests.testapp.faults), and
    return once it is there."""
    gate = roster.step_gate.with_name(f"hold-{moment}")
    processes.env[HOLD] = f"{moment}:{gate}"
    processes.start(name, command)
    reached = gate.with_name(f"{gate.name}.reached")
    processes.wait_until(reached.exists, f"{name} to be held at '{moment}'", alive=[name])


def start_once_lost(processes: Processes) -> FlowRun:
    """Start flow ``roster`` as soon as its lost run lets it, and return the new run."""
    started: list[FlowRun] = []

    def start() -> bool:
        with contextlib.suppress(FlowAlreadyRunning):
            started.append(start_run(NAME, trigger=Trigger.ADMIN))
        return bool(started)

    waited = time.monotonic()
    processes.wait_until(start, "the next start to fail the lost queued run")
    print(f"the flow ran again {time.monotonic() - waited:.1f} s after the kill")
    return started[0]


def assert_lost_before_starting(run: FlowRun, pid: int) -> None:
    run.refresh_from_db()
    assert run.status == FlowRunStatus.FAILED
    assert run.error.startswith(
        f"worker {socket.gethostname()}:{pid} took it, stopped heartbeating"
    )
    assert run.error.endswith("none of its steps ran")
    assert run.started_at is None
    assert not run.steps.exists()


def finish_next_run(roster: Roster, run: FlowRun) -> None:
    assert students() == BEFORE
    roster.step_gate.touch()
    assert execute_run(run).status == FlowRunStatus.SUCCEEDED, run.error
    assert students() == AFTER


def test_a_runflow_killed_after_queueing_its_run_does_not_block_the_flow(roster, processes):
    held(processes, roster, "queued", "runflow", runflow())
    lost = roster.run()
    pid = processes.started["runflow"].pid
    assert (lost.status, lost.worker) == (FlowRunStatus.QUEUED, f"{socket.gethostname()}:{pid}")

    processes.kill("runflow")

    run = start_once_lost(processes)
    assert_lost_before_starting(lost, pid)
    finish_next_run(roster, run)
    print(f"STALE_AFTER: {STALE_AFTER} s")


def test_a_db_worker_killed_after_taking_a_run_does_not_block_the_flow(roster, processes, settings):
    settings.ADMINFLOW = {**settings.ADMINFLOW, "TASK_BACKEND": "database"}
    lost = start_run(NAME, trigger=Trigger.ADMIN)
    enqueue_run(lost)
    held(processes, roster, "configure", "db_worker", db_worker_command())
    pid = processes.started["db_worker"].pid
    lost.refresh_from_db()
    assert (lost.status, lost.worker) == (FlowRunStatus.QUEUED, f"{socket.gethostname()}:{pid}")

    processes.kill("db_worker")

    run = start_once_lost(processes)
    assert_lost_before_starting(lost, pid)
    finish_next_run(roster, run)


def test_racing_runflows_on_a_flow_whose_runs_end_at_once_run_or_are_refused(
    roster: Roster, processes
):
    roster.step_gate.touch()
    names = [f"runflow-{index}" for index in range(RACERS)]
    for name in names:
        processes.start(name, released_command("runflow", NAME), stdin=subprocess.PIPE)

    processes.release(names)
    codes = {name: processes.wait(name) for name in names}

    # Each either ran the flow or was refused as "already running"; none saw a raw error.
    assert set(codes.values()) <= {0, ALREADY_RUNNING}, processes.log()
    assert "Traceback" not in processes.log()
    runs = FlowRun.objects.all()
    assert runs.count() == list(codes.values()).count(0) >= 1
    assert {run.status for run in runs} == {FlowRunStatus.SUCCEEDED}
    assert students() == AFTER
