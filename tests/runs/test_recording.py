"""How a run is recorded while it executes: log batching and limits, heartbeats,
metadata, signals, and connections closed by the threads that opened them."""

from __future__ import annotations

import logging
import threading
from datetime import date, timedelta
from typing import ClassVar

import pytest
from django.db import connection, connections
from django.db.backends.signals import connection_created
from django.utils import timezone

from adminflow import AdminFlow, RecordStorer, Secret
from adminflow.engine.config import MASK
from adminflow.models import Flow, FlowRun, StepRun
from adminflow.runs import execute_run, start_run
from adminflow.runs.metadata import metadata_from_json, metadata_to_json
from adminflow.runs.recording import RunRecorder
from adminflow.signals import flow_run_finished, flow_run_started, step_run_finished
from adminflow.states import FlowRunStatus, Trigger
from tests.engine.helpers import WAIT, make_storer, update_step
from tests.factories import FlowRunFactory, RunningFlowRunFactory
from tests.run_helpers import LineStorer, pipeline, step_statuses

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def test_threads_that_used_the_database_close_their_connections(register):
    opened = []
    main = threading.current_thread()

    def note(sender, connection, **kwargs):
        if threading.current_thread() is not main:
            opened.append(connection)

    def query(call):
        call.logger(f"{Flow.objects.count()} flows")

    flow = AdminFlow("queries", "queries from worker threads", make_storer([]), "records")
    for name in ("a", "b", "c"):
        flow.add_update_step(name, update_step(query))
    register(flow)
    connection_created.connect(note)
    try:
        run = execute_run(start_run("queries", trigger=Trigger.COMMAND, num_threads=3))
    finally:
        connection_created.disconnect(note)

    assert run.status == FlowRunStatus.SUCCEEDED
    assert opened  # the steps' workers and the heartbeat thread
    assert [each.connection for each in opened] == [None] * len(opened)


def test_step_threads_that_do_not_use_the_database_open_no_connection(register):
    """Step rows are written by the run's recording thread, not by each step's thread."""
    threads = []

    def note(sender, connection, **kwargs):
        threads.append(threading.current_thread().name)

    flow = AdminFlow("quiet", "steps that never query", make_storer([1]), "records")
    for name in ("a", "b", "c", "d"):
        flow.add_update_step(name, update_step())
    register(flow)
    connection_created.connect(note)
    try:
        run = execute_run(start_run("quiet", trigger=Trigger.COMMAND, num_threads=4))
    finally:
        connection_created.disconnect(note)

    assert step_statuses(run) == dict.fromkeys("abcd", "succeeded")
    assert set(threads) <= {threading.current_thread().name, f"adminflow-run-{run.pk}"}


class PeekingStorer(RecordStorer):
    """Stores nothing; notes the step rows as the database shows them when storing starts."""

    description = "peeks at the step rows"
    seen: ClassVar[list[tuple[str, str]]] = []

    def get_records(self, logger):
        return [1]

    def set_records(self, rec_list, logger):
        self.seen.extend(StepRun.objects.order_by("position").values_list("name", "status"))


def test_every_step_row_is_written_before_the_records_are_stored(register):
    """The store may lock the database (SQLite): the step rows must not wait for it."""
    PeekingStorer.seen.clear()
    flow = AdminFlow("peek", "step rows before the store", PeekingStorer, "records")
    flow.add_update_step("a", update_step())
    flow.add_update_step("b", update_step(), depends_on=["a"])
    register(flow)

    execute_run(start_run("peek", trigger=Trigger.COMMAND))

    assert PeekingStorer.seen == [("a", "succeeded"), ("b", "succeeded")]


def test_signals_are_sent_as_the_run_moves(register, trace):
    register(pipeline("loud", trace))
    heard: list[tuple[str, object]] = []
    lock = threading.Lock()

    def receiver(name):
        def receive(sender, run, step=None, **kwargs):
            assert sender is FlowRun
            with lock:
                heard.append((name, step.name if step else run.status))

        return receive

    receivers = {
        flow_run_started: receiver("started"),
        step_run_finished: receiver("step"),
        flow_run_finished: receiver("finished"),
    }
    for signal, receive in receivers.items():
        signal.connect(receive)
    try:
        execute_run(start_run("loud", trigger=Trigger.COMMAND))
    finally:
        for signal, receive in receivers.items():
            signal.disconnect(receive)

    assert heard[0] == ("started", "running")
    assert sorted(heard[1:-1]) == [("step", "p"), ("step", "r"), ("step", "u1"), ("step", "u2")]
    assert heard[-1] == ("finished", "succeeded")


def test_a_receiver_that_raises_does_not_break_the_run(register, trace, caplog):
    register(pipeline("robust", trace))

    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    step_run_finished.connect(broken)
    try:
        run = execute_run(start_run("robust", trigger=Trigger.COMMAND))
    finally:
        step_run_finished.disconnect(broken)

    assert run.status == FlowRunStatus.SUCCEEDED
    assert step_statuses(run) == dict.fromkeys(["r", "u1", "u2", "p"], "succeeded")
    assert "receiver" in caplog.text


# Logs


class LogInserts:
    """The INSERTs into the run log, from every thread, and the values they wrote."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self._values: list[object] = []
        self._written = threading.Condition()

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('INSERT INTO "adminflow_runlog"'):
            with self._written:
                self.statements.append(sql)
                self._values.extend(params)
                self._written.notify_all()
        return result

    def wait_for(self, message: str) -> bool:
        """Return once a line saying ``message`` was written: True, or False after WAIT.

        A value is a line's message, or (PostgreSQL) a batch of lines as JSON.
        """
        with self._written:
            return self._written.wait_for(
                lambda: any(message in str(value) for value in self._values), WAIT
            )


@pytest.fixture
def runlog_inserts():
    """Watch INSERTs into the run log on every connection, whichever thread opened it.

    Django's CaptureQueriesContext sees one thread's connection only; the
    log is written by the run's side thread.
    """
    inserts = LogInserts()

    def watch(sender, connection, **kwargs):
        if inserts not in connection.execute_wrappers:
            connection.execute_wrappers.append(inserts)

    connection_created.connect(watch)
    watch(None, connection)
    yield inserts
    connection_created.disconnect(watch)
    for each in connections.all(initialized_only=True):
        if inserts in each.execute_wrappers:
            each.execute_wrappers.remove(inserts)


def test_log_lines_are_written_in_batches(register, settings, runlog_inserts):
    settings.ADMINFLOW = {"LOG_BATCH_SIZE": 100, "LOG_FLUSH_INTERVAL": 3600}

    def chatty(call):
        for number in range(1000):
            call.logger(f"line {number}")

    flow = AdminFlow("chatty", "logs a lot", make_storer([]), "records")
    flow.add_update_step("talk", update_step(chatty))
    register(flow)

    run = execute_run(start_run("chatty", trigger=Trigger.COMMAND))

    messages = list(run.logs.filter(step="talk").values_list("message", flat=True))
    assert messages[:-1] == [
        "talk (update): started",
        *(f"line {number}" for number in range(1000)),
    ]
    assert messages[-1].startswith("talk: succeeded in ")
    assert run.logs.count() == 1004  # and the storer's two lines
    assert len(runlog_inserts.statements) == 11  # ten full batches and the rest


def test_a_line_is_written_once_the_flush_interval_passes_while_the_step_runs(
    register, settings, runlog_inserts
):
    settings.ADMINFLOW = {"LOG_BATCH_SIZE": 100, "LOG_FLUSH_INTERVAL": 0.01}
    seen_while_running = []

    def waits_for_its_line(call):
        call.logger("a lonely line")
        # Far short of a batch: only the interval gets this line written.
        seen_while_running.append(runlog_inserts.wait_for("a lonely line"))

    flow = AdminFlow("patient", "logs one line", LineStorer, "records")
    flow.add_update_step("talk", update_step(waits_for_its_line))
    register(flow)

    run = execute_run(start_run("patient", trigger=Trigger.COMMAND))

    assert seen_while_running == [True]
    assert run.logs.filter(step="talk", message="a lonely line").exists()


def test_long_lines_are_cut_with_a_marker(register, settings):
    settings.ADMINFLOW = {"MAX_LOG_LINE_LENGTH": 20}
    flow = AdminFlow("long", "logs a long line", make_storer([]), "records")
    flow.add_update_step("talk", update_step(lambda call: call.logger("x" * 50)))
    register(flow)

    run = execute_run(start_run("long", trigger=Trigger.COMMAND))

    assert run.logs.get(step="talk", message__startswith="x").message == (
        "x" * 20 + "… [30 more characters cut]"
    )


def test_lines_past_the_per_run_cap_are_counted_not_stored(register, settings):
    settings.ADMINFLOW = {"MAX_LOG_LINES_PER_RUN": 10}

    def chatty(call):
        for number in range(25):
            call.logger(f"line {number}")

    flow = AdminFlow("capped", "logs past the cap", make_storer([]), "records")
    flow.add_update_step("talk", update_step(chatty))
    register(flow)

    run = execute_run(start_run("capped", trigger=Trigger.COMMAND))

    messages = list(run.logs.values_list("message", flat=True))
    # 29 lines in all: the storer's "loading", the step's start, 25 from the step, its
    # end, the storer's "stored".
    assert messages == [
        "loading 0 records",
        "talk (update): started",
        *(f"line {number}" for number in range(8)),
        "19 more log lines were not stored: a run keeps at most 10 "
        "(ADMINFLOW['MAX_LOG_LINES_PER_RUN'])",
    ]
    assert run.logs.last().level == logging.WARNING


def test_a_heartbeat_marks_a_running_run_alive():
    run = RunningFlowRunFactory(heartbeat_at=timezone.now() - timedelta(minutes=5))
    cancel = threading.Event()

    RunRecorder(run, {}, cancel).heartbeat()

    run.refresh_from_db()
    assert run.heartbeat_at > timezone.now() - timedelta(minutes=1)
    assert not cancel.is_set()


def test_a_heartbeat_that_finds_a_cancel_request_cancels_the_engine():
    run = RunningFlowRunFactory(cancel_requested=True)
    cancel = threading.Event()
    recorder = RunRecorder(run, {}, cancel)

    recorder.heartbeat()
    recorder.flush()

    assert cancel.is_set()
    assert run.logs.get().message == "cancel requested: no new step starts; running steps finish"


def test_a_heartbeat_for_a_run_ended_elsewhere_stops_it_and_writes_nothing():
    beat = timezone.now() - timedelta(minutes=5)
    run = FlowRunFactory(status=FlowRunStatus.FAILED, heartbeat_at=beat)
    cancel = threading.Event()

    RunRecorder(run, {}, cancel).heartbeat()

    run.refresh_from_db()
    assert cancel.is_set()
    assert run.heartbeat_at == beat


# Metadata


def test_metadata_keeps_json_values_and_the_masked_repr_of_the_rest():
    stored = metadata_to_json(
        {
            "count": 3,
            "names": ["ada"],
            "nested": {"a": [1, 2.5, None, True]},
            "pair": (1, 2),
            "when": date(2025, 1, 1),
            "token": Secret("hunter2"),
            "leak": "the key is hunter2",
            "nan": float("nan"),
            "keys": {1: "one"},
        },
        secrets=["hunter2"],
    )

    assert stored == {
        "count": 3,
        "names": ["ada"],
        "nested": {"a": [1, 2.5, None, True]},
        "pair": {"__repr__": "(1, 2)"},
        "when": {"__repr__": "datetime.date(2025, 1, 1)"},
        "token": {"__repr__": f"Secret('{MASK}')"},
        "leak": {"__repr__": f"'the key is {MASK}'"},
        "nan": {"__repr__": "nan"},
        "keys": {"__repr__": "{1: 'one'}"},
    }
    assert metadata_from_json(stored) == {
        "count": 3,
        "names": ["ada"],
        "nested": {"a": [1, 2.5, None, True]},
    }
