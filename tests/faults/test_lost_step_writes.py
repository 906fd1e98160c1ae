"""Step rows end in their step's final status, whatever happened to the connections.

The run of flow ``roster`` executes in this process, on a thread of its own
as ``runflow``'s main thread would, so that a test can reach the connection
of each of the run's threads: the engine's (it writes step rows when storing
starts and when the run ends) and the recording side thread's (it writes
them as steps move). With no heartbeat and no log flush due during a test,
the side thread's first statement after the test broke its connection is
the write of the step that the test then lets finish; :class:`SideThreadFirst`
makes sure it is the side thread's, not the engine thread's as storing starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, connections
from django.db.backends.signals import connection_created
from django.utils import timezone

from adminflow.engine import FlowObserver, RunResult, StepResult
from adminflow.models import FlowRun, StepRun
from adminflow.runs import execute_run, start_run
from adminflow.runs.recording import StepRowsNotRecorded
from adminflow.signals import step_run_finished
from adminflow.states import FINISHED_STEP_STATUSES, FlowRunStatus, StepRunStatus, Trigger
from tests.processes import Processes
from tests.testapp.faults import AFTER, students

from .conftest import STALE_AFTER, Roster, beaten_since

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

QUIET = {"HEARTBEAT_INTERVAL": 3600.0, "LOG_FLUSH_INTERVAL": 3600.0, "STALE_AFTER": STALE_AFTER}
"""No heartbeat and no log flush while a test runs: the side thread writes step rows only."""


class RunThread:
    """A run of flow ``roster`` executed on a thread of its own; each of its threads'
    connections, as opened."""

    def __init__(self, roster: Roster) -> None:
        self.roster = roster
        self.run: FlowRun | None = None
        self.raised: BaseException | None = None
        self.opened: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._execute, name="engine")
        self._observers: list[FlowObserver] = []
        connection_created.connect(self._note)

    def _note(self, sender: Any, connection: Any, **kwargs: Any) -> None:
        self.opened[threading.current_thread().name] = connection

    def _execute(self) -> None:
        try:
            execute_run(self.run, observers=self._observers)
        except BaseException as exc:
            self.raised = exc
        finally:
            connections.close_all()

    def start(self, *observers: FlowObserver) -> None:
        """Start a run of the flow as the test left it, heard by ``observers`` too."""
        self.run = start_run(self.roster.row, trigger=Trigger.COMMAND)
        self._observers.extend(observers)
        self._thread.start()

    def side_connection(self) -> Any:
        """Return the connection of the run's recording side thread."""
        return self.opened[f"adminflow-run-{self.run.pk}"]

    def join(self) -> FlowRun:
        """Return the run once its thread has ended."""
        assert self.run is not None, "the run was not started"
        self._thread.join(30)
        connection_created.disconnect(self._note)
        assert not self._thread.is_alive(), "the run did not end within 30 s"
        self.run.refresh_from_db()
        return self.run


@pytest.fixture
def quiet(roster: Roster, settings) -> Roster:
    settings.ADMINFLOW = QUIET
    return roster


@pytest.fixture
def run_thread(quiet: Roster) -> Iterator[RunThread]:
    started = RunThread(quiet)
    yield started
    quiet.step_gate.touch()
    quiet.store_gate.touch()
    if started.run is not None:
        started.join()


def end_backends() -> int:
    """End every connection to this test's database but the test's own, as a restart
    would; return how many there were."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def final_steps(run: FlowRun) -> dict[str, tuple[str, str, bool]]:
    """Return each step row of ``run`` as (status, error, whether it has finished_at)."""
    return {
        row.name: (row.status, row.error, row.finished_at is not None)
        for row in StepRun.objects.filter(run=run).order_by("position")
    }


def assert_stored_with_every_step_succeeded(run_thread: RunThread) -> None:
    run = run_thread.join()
    assert run_thread.raised is None
    assert (run.status, run.records_stored) == (FlowRunStatus.SUCCEEDED, 3), run.error
    assert final_steps(run) == dict.fromkeys(
        ["enrol", "wait", "stamp"], (StepRunStatus.SUCCEEDED, "", True)
    )
    assert students() == AFTER


class SideThreadFirst(FlowObserver, logging.Handler):
    """Holds the engine's worker once step ``wait`` finished until the side thread tried
    to write it (it wrote it and sent step_run_finished, or it logged its failure), so
    that the engine thread cannot write it first, as storing starts."""

    def __init__(self) -> None:
        logging.Handler.__init__(self, logging.ERROR)
        self.tried = threading.Event()

    def step_finished(self, flow: str, step: StepResult) -> None:
        if step.name == "wait":
            self.tried.wait(30)

    def written(self, sender: Any, run: FlowRun, step: StepRun, **kwargs: Any) -> None:
        if step.name == "wait":
            self.tried.set()

    def emit(self, record: logging.LogRecord) -> None:
        self.tried.set()


@pytest.fixture
def side_thread_first() -> Iterator[SideThreadFirst]:
    first = SideThreadFirst()
    step_run_finished.connect(first.written)
    logging.getLogger("adminflow.runs").addHandler(first)
    yield first
    logging.getLogger("adminflow.runs").removeHandler(first)
    step_run_finished.disconnect(first.written)
    first.tried.set()


def test_steps_end_final_when_every_connection_of_the_run_was_ended_while_a_step_ran(
    postgresql,
    quiet: Roster,
    run_thread: RunThread,
    side_thread_first: SideThreadFirst,
    processes: Processes,
):
    run_thread.start(side_thread_first)
    processes.wait_until(lambda: quiet.step_running("wait"), "step wait")

    # The engine thread's and the side thread's: the step's thread has none.
    assert end_backends() == 2
    quiet.step_gate.touch()

    assert_stored_with_every_step_succeeded(run_thread)


def test_steps_end_final_when_the_side_thread_lost_its_connection_while_a_step_ran(
    quiet: Roster,
    run_thread: RunThread,
    side_thread_first: SideThreadFirst,
    processes: Processes,
):
    """Closed under the side thread: on PostgreSQL it writes again over a new connection;
    on SQLite it cannot write again, and the engine thread writes what it kept."""
    run_thread.start(side_thread_first)
    processes.wait_until(lambda: quiet.step_running("wait"), "step wait")

    run_thread.side_connection().connection.close()
    quiet.step_gate.touch()

    assert_stored_with_every_step_succeeded(run_thread)


class SideThreadHeld(FlowObserver):
    """Holds the run's recording side thread once it wrote step ``enrol``, in its
    step_run_finished receiver, until the run finishes: meanwhile only the engine
    thread writes step rows, when storing starts."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        self.released = threading.Event()

    def hold(self, sender: Any, run: FlowRun, step: StepRun, **kwargs: Any) -> None:
        if step.name == "enrol":
            self.holding.set()
            self.released.wait(30)

    def run_finished(self, result: RunResult) -> None:
        self.released.set()


@pytest.fixture
def side_thread_held() -> Iterator[SideThreadHeld]:
    held = SideThreadHeld()
    step_run_finished.connect(held.hold)
    yield held
    held.released.set()
    step_run_finished.disconnect(held.hold)


def test_steps_end_final_when_the_engine_thread_lost_its_connection_while_a_step_ran(
    postgresql,
    quiet: Roster,
    run_thread: RunThread,
    side_thread_held: SideThreadHeld,
    processes: Processes,
):
    run_thread.start(side_thread_held)
    processes.wait_until(side_thread_held.holding.is_set, "the side thread held")

    assert end_backends() == 2
    # Steps wait and stamp are written by the engine thread, over its ended connection.
    quiet.step_gate.touch()

    assert_stored_with_every_step_succeeded(run_thread)


REFUSE_STAMP = {
    "sqlite": [
        "CREATE TRIGGER refuse_stamp BEFORE UPDATE ON adminflow_steprun "
        "WHEN NEW.name = 'stamp' AND NEW.status = 'succeeded' "
        "BEGIN SELECT RAISE(ABORT, 'stamp refused'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_stamp() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'stamp refused'; END $$",
        "CREATE TRIGGER refuse_stamp BEFORE UPDATE ON adminflow_steprun FOR EACH ROW "
        "WHEN (NEW.name = 'stamp' AND NEW.status = 'succeeded') EXECUTE FUNCTION refuse_stamp()",
    ],
}
ALLOW_STAMP = {
    "sqlite": ["DROP TRIGGER refuse_stamp"],
    "postgresql": [
        "DROP TRIGGER refuse_stamp ON adminflow_steprun",
        "DROP FUNCTION refuse_stamp()",
    ],
}


def execute_all(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


@pytest.fixture
def stamp_refused(quiet: Roster) -> Iterator[Roster]:
    """Make the database refuse to record step ``stamp`` as succeeded: every write of
    that row fails, whichever thread makes it and however often."""
    execute_all(REFUSE_STAMP[connection.vendor])
    yield quiet
    execute_all(ALLOW_STAMP[connection.vendor])


def test_a_run_whose_step_rows_cannot_be_written_fails_with_every_step_row_ended(
    stamp_refused: Roster, settings, run_thread: RunThread, processes: Processes
):
    settings.ADMINFLOW = {**QUIET, "HEARTBEAT_INTERVAL": 0.2}
    stamp_refused.pause("after-store")
    run_thread.start()
    processes.wait_until(lambda: stamp_refused.step_running("wait"), "step wait")
    stamp_refused.step_gate.touch()
    processes.wait_until(stamp_refused.store_reached, "the store gate")

    # Every write from here on carries stamp's row and fails: the heartbeat goes on.
    refused_since = timezone.now()
    processes.wait_until(lambda: beaten_since(run_thread.run, refused_since), "a heartbeat")
    stamp_refused.store_gate.touch()

    run = run_thread.join()
    assert isinstance(run_thread.raised, StepRowsNotRecorded)
    assert run.status == FlowRunStatus.FAILED
    assert run.error.startswith(
        f"the run stopped unexpectedly: adminflow.runs.recording.StepRowsNotRecorded: run {run.pk}: "
        "the rows of steps "
    ), run.error
    assert "stamp refused" in run.error
    steps = final_steps(run)
    assert steps["enrol"] == (StepRunStatus.SUCCEEDED, "", True)
    # Whatever its last written row said, no step is left active, nor stamp passed for done.
    assert steps["stamp"][0] in (StepRunStatus.FAILED, StepRunStatus.CANCELLED)
    assert {status for status, _, _ in steps.values()} <= FINISHED_STEP_STATUSES
