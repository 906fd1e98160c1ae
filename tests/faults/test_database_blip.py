"""The database going away for a moment during a run: it recovers, or fails saying why.

On PostgreSQL a test ends the ``runflow`` process's connections from the
server side (``pg_terminate_backend``), as a restart or a failover does;
only the process's own, which carry the ``application_name`` of the fault
tests' settings. Whichever way the run ends, it is never left ``running``.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from adminflow.models import RecordChange
from adminflow.states import FlowRunStatus
from tests.run_helpers import step_statuses
from tests.testapp.faults import AFTER, BEFORE, NAME, students

from .conftest import Roster, beaten_since, runflow
from .settings import APPLICATION_NAME

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
    pytest.mark.usefixtures("postgresql"),
]


def end_connections() -> int:
    """End the fault tests' processes' connections, as a database restart would; return
    how many there were."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s "
            "AND pid <> pg_backend_pid()",
            [APPLICATION_NAME],
        )
        return cursor.fetchone()[0]


def test_a_run_whose_connections_were_ended_while_a_step_ran_recovers(roster: Roster, processes):
    processes.start("runflow", runflow())
    processes.wait_until(lambda: roster.step_running("wait"), "step wait", alive=["runflow"])
    run = roster.run()
    processes.wait_until(lambda: beaten_since(run, run.started_at), "a first heartbeat")

    # The run's own and its recording thread's (heartbeats, step rows, log lines).
    assert end_connections() >= 2
    ended_at = timezone.now()
    processes.wait_until(lambda: beaten_since(run, ended_at), "a heartbeat", alive=["runflow"])
    roster.step_gate.touch()

    assert processes.wait("runflow") == 0
    run.refresh_from_db()
    assert (run.status, run.records_stored) == (FlowRunStatus.SUCCEEDED, 3)
    assert step_statuses(run) == {"enrol": "succeeded", "wait": "succeeded", "stamp": "succeeded"}
    assert students() == AFTER


def test_a_run_whose_connection_was_ended_mid_store_fails_saying_why_and_stores_nothing(
    roster: Roster, processes
):
    roster.pause("mid-store")
    roster.step_gate.touch()
    processes.start("runflow", runflow())
    processes.wait_until(roster.store_reached, "the store gate", alive=["runflow"])

    assert end_connections() >= 1
    roster.store_gate.touch()

    assert processes.wait("runflow") == 1
    run = roster.run()
    assert run.status == FlowRunStatus.FAILED
    assert run.error.startswith("storer 'students' could not store records: OperationalError: "), (
        run.error
    )
    assert run.records_stored is None
    assert students() == BEFORE
    assert not RecordChange.objects.exists()
    assert f"CommandError: run {run.pk} of flow '{NAME}' failed: {run.error}" in (
        processes.output("runflow")
    )
