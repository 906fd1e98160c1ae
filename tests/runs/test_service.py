"""The run service: starting, executing, cancelling, reaping and resuming recorded runs.

Runs execute on real threads against the real database, so every test here
commits (``transaction=True``): the engine's worker threads and the run's
heartbeat thread have their own connections and only see committed rows.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import date, timedelta

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone

from adminflow import AdminFlow, FlowConfigError, Secret, StepMode
from adminflow.engine.config import MASK
from adminflow.models import Flow, FlowRun, Record, RunLog, StepRun
from adminflow.runs import (
    FlowAlreadyRunning,
    FlowDisabled,
    RunNotResumable,
    cancel_run,
    enqueue_run,
    execute_run,
    reap_stale_runs,
    resume_run,
    start_run,
)
from adminflow.runs.config import UnknownFlow
from adminflow.signals import flow_run_finished
from adminflow.states import FlowRunStatus, IllegalTransition, Trigger
from adminflow.tasks import execute_queued_run
from tests.engine.helpers import (
    WAIT,
    Trace,
    failing,
    make_storer,
    propagate_step,
    record_step,
    tracing,
    update_step,
)
from tests.factories import FlowFactory, FlowRunFactory, RunningFlowRunFactory, StepRunFactory
from tests.run_helpers import pipeline, step_statuses
from tests.storer_flows import Member, Members

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

HERE = f"{socket.gethostname()}:{os.getpid()}"
"""How runs name this process as their worker."""


@pytest.fixture
def quick_heartbeat(settings):
    """Beat (and look for cancel requests) every few milliseconds."""
    settings.ADMINFLOW = {"HEARTBEAT_INTERVAL": 0.005}


def nothing_written() -> bool:
    return not (FlowRun.objects.exists() or StepRun.objects.exists() or RunLog.objects.exists())


def waiting_step(started: threading.Event, release: threading.Event, trace: Trace, name: str):
    """Return a step function that says it started, then waits for ``release``."""

    def fn(call):
        trace.add(name)
        started.set()
        assert release.wait(WAIT), "the test never released the step"

    return fn


# Starting


def test_start_run_queues_a_run_with_its_redacted_config(register, trace):
    flow = AdminFlow(
        "secretive",
        "uses a token",
        make_storer([], config_types=[("token", Secret, "API token")]),
        "records",
    )
    flow.add_update_step("u", update_step(tracing(trace, "u")))
    register(flow)
    row = FlowFactory(name="secretive", config={"records": {"token": "hunter2"}, "num_threads": 3})

    run = start_run(row, trigger=Trigger.ADMIN, modes={"u": "debug"})

    run.refresh_from_db()
    assert run.status == FlowRunStatus.QUEUED
    assert run.trigger == Trigger.ADMIN
    assert run.config_snapshot["records"] == {"token": MASK}
    assert "hunter2" not in str(run.config_snapshot)
    assert run.step_modes == {"records": "include", "u": "debug"}
    assert run.num_threads == 3
    assert trace.events == []
    assert not StepRun.objects.exists()


def test_start_run_with_debug_puts_every_included_step_and_the_storer_in_debug_mode(
    register, trace
):
    register(pipeline("debuggable", trace, **{"u2-mode": "exclude"}))

    run = start_run("debuggable", trigger=Trigger.COMMAND, debug=True, num_threads=2)

    assert run.debug is True
    assert run.num_threads == 2
    assert run.step_modes == {
        "records": "debug",
        "r": "debug",
        "u1": "debug",
        "u2": "exclude",
        "p": "debug",
    }


def test_a_second_run_of_an_active_flow_is_refused_naming_the_active_run(register, trace):
    register(pipeline("busy", trace))
    first = start_run("busy", trigger=Trigger.ADMIN)

    with pytest.raises(FlowAlreadyRunning) as refused:
        start_run("busy", trigger=Trigger.COMMAND)

    assert str(refused.value) == (
        f"flow 'busy' is already running: run {first.pk} is queued; "
        "wait for it to finish or cancel it first"
    )
    assert refused.value.run_id == first.pk
    assert list(FlowRun.objects.all()) == [first]


def test_a_run_whose_worker_died_is_reaped_when_its_flow_is_started_again(
    register, trace, settings
):
    settings.ADMINFLOW = {"STALE_AFTER": 60}
    register(pipeline("orphaned", trace))
    lost = start_run("orphaned", trigger=Trigger.ADMIN)
    FlowRun.objects.filter(pk=lost.pk).update(
        status=FlowRunStatus.RUNNING,
        worker="gone:1",
        heartbeat_at=timezone.now() - timedelta(seconds=61),
    )

    again = start_run("orphaned", trigger=Trigger.COMMAND)

    lost.refresh_from_db()
    assert lost.status == FlowRunStatus.FAILED
    assert lost.error.startswith("worker gone:1 stopped heartbeating at ")
    assert again.status == FlowRunStatus.QUEUED


def test_a_running_run_that_still_heartbeats_keeps_its_flow_busy(register, trace, settings):
    settings.ADMINFLOW = {"STALE_AFTER": 60}
    register(pipeline("alive", trace))
    alive = start_run("alive", trigger=Trigger.ADMIN)
    FlowRun.objects.filter(pk=alive.pk).update(
        status=FlowRunStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(seconds=30)
    )

    with pytest.raises(FlowAlreadyRunning, match=f"run {alive.pk} is running"):
        start_run("alive", trigger=Trigger.COMMAND)

    alive.refresh_from_db()
    assert alive.status == FlowRunStatus.RUNNING
    assert FlowRun.objects.count() == 1


def test_two_threads_racing_to_start_a_flow_exactly_one_wins(register, trace):
    register(pipeline("racy", trace))
    FlowFactory(name="racy")
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def start() -> None:
        try:
            barrier.wait(WAIT)
            outcomes.append(start_run("racy", trigger=Trigger.API))
        except FlowAlreadyRunning as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)

    (winner,) = [o for o in outcomes if isinstance(o, FlowRun)]
    (refusal,) = [o for o in outcomes if isinstance(o, FlowAlreadyRunning)]
    assert refusal.run_id == winner.pk
    assert list(FlowRun.objects.values_list("pk", flat=True)) == [winner.pk]


def test_a_finished_run_does_not_block_the_next_one(register, trace):
    register(pipeline("again", trace))
    execute_run(start_run("again", trigger=Trigger.COMMAND))

    run = start_run("again", trigger=Trigger.COMMAND)

    assert run.status == FlowRunStatus.QUEUED
    assert FlowRun.objects.count() == 2


def test_an_invalid_config_is_refused_before_anything_is_written(register, trace):
    register(pipeline("strict", trace))

    with pytest.raises(FlowConfigError) as refused:
        start_run("strict", trigger=Trigger.ADMIN, config={"num_threads": "many", "bogus": 1})

    assert "flow 'strict': 2 configuration problems" in str(refused.value)
    assert "num_threads: expected int, got str 'many'" in str(refused.value)
    assert "bogus: unknown key" in str(refused.value)
    assert nothing_written()


def test_a_mode_for_a_step_the_flow_lacks_is_refused_with_the_bad_mode_too(register, trace):
    register(pipeline("modal", trace))

    with pytest.raises(FlowConfigError) as refused:
        start_run("modal", trigger=Trigger.ADMIN, modes={"nope": "debug", "p": "loud"})

    message = str(refused.value)
    assert "nope: no step named 'nope' (steps: r, u1, u2, p)" in message
    assert "p-mode: expected one of include | exclude | debug, got 'loud'" in message
    assert nothing_written()


def test_a_disabled_flow_is_refused(register, trace):
    register(pipeline("off", trace))
    FlowFactory(name="off", enabled=False)

    with pytest.raises(FlowDisabled, match="flow 'off' is disabled; enable it to run it"):
        start_run("off", trigger=Trigger.ADMIN)

    assert nothing_written()


def test_an_unknown_flow_is_refused():
    with pytest.raises(UnknownFlow, match="no flow named 'ghost'"):
        start_run("ghost", trigger=Trigger.ADMIN)

    assert nothing_written()


# Executing


def test_a_successful_run_is_recorded_with_its_steps_counts_and_metadata(register):
    def publish(call):
        call.set_metadata("count", len(call.records))
        call.set_metadata("when", date(2025, 1, 31))
        call.logger("published")

    flow = AdminFlow("recorded", "a recorded flow", make_storer([1, 2]), "records")
    flow.add_record_step("r", record_step(lambda call: [*call.records, 3]))
    flow.add_update_step("u1", update_step(publish))
    flow.add_update_step("u2", update_step(), depends_on=["u1"])
    flow.add_propagate_step("p", propagate_step())
    flow.add_propagate_step("skipped", propagate_step())
    register(flow)
    run = start_run("recorded", trigger=Trigger.COMMAND, modes={"skipped": "exclude"})

    returned = execute_run(run)

    assert returned is run
    run.refresh_from_db()
    assert run.status == FlowRunStatus.SUCCEEDED
    assert run.worker.rsplit(":", 1)[1].isdigit()
    assert run.started_at <= run.heartbeat_at <= run.finished_at
    assert (run.records_loaded, run.records_stored) == (2, 3)
    assert run.metadata == {"count": 3, "when": {"__repr__": "datetime.date(2025, 1, 31)"}}
    assert (run.error, run.traceback) == ("", "")
    steps = list(run.steps.all())
    assert [(s.position, s.name, s.kind, s.mode, s.status) for s in steps] == [
        (0, "r", "record", "include", "succeeded"),
        (1, "u1", "update", "include", "succeeded"),
        (2, "u2", "update", "include", "succeeded"),
        (3, "p", "propagate", "include", "succeeded"),
        (4, "skipped", "propagate", "exclude", "excluded"),
    ]
    assert steps[2].depends_on == ["u1"]
    assert all(s.started_at and s.finished_at and s.duration is not None for s in steps[:4])
    took = {s.name: f"in {s.duration:.2f}s" for s in steps[:4]}
    assert list(run.logs.values_list("step", "level", "message")) == [
        ("skipped", logging.INFO, "skipped: excluded"),
        ("records", logging.INFO, "loading 2 records"),
        ("r", logging.INFO, "r (record): started"),
        ("r", logging.INFO, f"r: succeeded {took['r']}"),
        ("u1", logging.INFO, "u1 (update): started"),
        ("u1", logging.INFO, "published"),
        ("u1", logging.INFO, f"u1: succeeded {took['u1']}"),
        ("u2", logging.INFO, "u2 (update): started"),
        ("u2", logging.INFO, f"u2: succeeded {took['u2']}"),
        ("p", logging.INFO, "p (propagate): started"),
        ("p", logging.INFO, f"p: succeeded {took['p']}"),
        ("records", logging.INFO, "stored 3 records"),
    ]


def test_a_django_record_storer_reports_what_it_added_changed_and_removed(register):
    Record.objects.bulk_create(
        [
            Record(collection="roster.members", key="ada", data={"netid": "ada", "name": "Ada"}),
            Record(collection="roster.members", key="bob", data={"netid": "bob", "name": "Bob"}),
        ]
    )

    def update(call):
        members = [member for member in call.records if member.netid != "bob"]
        members[0].name = "Ada L."
        return [*members, Member("cy", "Cy")]

    flow = AdminFlow("roster", "keeps members", Members, "members")
    flow.add_record_step("update", record_step(update))
    register(flow)

    run = execute_run(start_run("roster", trigger=Trigger.COMMAND))

    assert run.status == FlowRunStatus.SUCCEEDED
    counts = (run.records_loaded, run.records_stored, run.records_added)
    assert (*counts, run.records_changed, run.records_removed) == (2, 2, 1, 1, 1)
    changes = run.record_changes.order_by("key").values_list("key", "action")
    assert list(changes) == [("ada", "changed"), ("bob", "removed"), ("cy", "added")]


def test_a_failed_update_step_is_recorded_and_nothing_is_stored(register, trace):
    flow = AdminFlow("breaks", "fails in the update phase", make_storer([1]), "records")
    flow.add_update_step("bad", update_step(failing("no such student")))
    flow.add_update_step("after", update_step(tracing(trace, "after")), depends_on=["bad"])
    flow.add_update_step("aside", update_step(tracing(trace, "aside")))
    flow.add_propagate_step("p", propagate_step(tracing(trace, "p")))
    register(flow)

    run = execute_run(start_run("breaks", trigger=Trigger.COMMAND))

    run.refresh_from_db()
    assert run.status == FlowRunStatus.FAILED
    assert run.error == "failed steps: bad"
    assert run.records_stored is None
    assert step_statuses(run) == {
        "bad": "failed",
        "after": "upstream_failed",
        "aside": "succeeded",
        "p": "skipped",
    }
    bad = run.steps.get(name="bad")
    assert bad.error == "RuntimeError: no such student"
    assert "Traceback" in bad.traceback
    assert trace.events == ["aside"]


def test_a_failed_propagate_step_still_stores_the_records(register, trace):
    flow = AdminFlow("half-sent", "fails while propagating", make_storer([1]), "records")
    flow.add_propagate_step("send", propagate_step(tracing(trace, "send")))
    flow.add_propagate_step("mail", propagate_step(failing("smtp down")))
    register(flow)

    run = execute_run(start_run("half-sent", trigger=Trigger.COMMAND))

    run.refresh_from_db()
    assert run.status == FlowRunStatus.FAILED
    assert run.records_stored == 1
    assert step_statuses(run) == {"send": "succeeded", "mail": "failed"}


def test_a_run_that_is_not_queued_cannot_be_executed(register, trace):
    register(pipeline("once", trace))
    run = execute_run(start_run("once", trigger=Trigger.COMMAND))

    with pytest.raises(
        IllegalTransition, match=f"run {run.pk} cannot go from 'succeeded' to 'running'"
    ):
        execute_run(run)

    assert trace.events == ["r", "u1", "u2", "p"]
    assert StepRun.objects.count() == 4


def test_a_run_loaded_from_the_database_gets_its_secrets_from_the_stored_config(register):
    storer = make_storer([], config_types=[("token", Secret, "API token")])
    flow = AdminFlow("keyed", "uses a key", storer, "records")
    flow.add_update_step("u", update_step())
    register(flow)
    FlowFactory(name="keyed", config={"records": {"token": "hunter2"}})
    queued = start_run("keyed", trigger=Trigger.ADMIN)

    run = execute_run(FlowRun.objects.get(pk=queued.pk))

    assert run.status == FlowRunStatus.SUCCEEDED
    assert [configs.token.reveal() for configs in storer.box.configs] == ["hunter2"]


def test_a_run_whose_secret_was_only_given_at_start_fails_clearly_elsewhere(register, trace):
    flow = AdminFlow(
        "given",
        "a given key",
        make_storer([], config_types=[("token", Secret, "API token")]),
        "records",
    )
    flow.add_update_step("u", update_step(tracing(trace, "u")))
    register(flow)
    queued = start_run("given", trigger=Trigger.API, config={"records": {"token": "hunter2"}})

    run = execute_run(FlowRun.objects.get(pk=queued.pk))

    assert run.status == FlowRunStatus.FAILED
    assert run.error == (
        "flow 'given': records.token: this secret is not in the flow's stored config, "
        "so the run can only be executed by the process that started it"
    )
    assert trace.events == []
    assert not StepRun.objects.exists()


def test_an_unexpected_error_marks_the_run_failed_and_is_raised(register, trace):
    register(pipeline("fragile", trace))
    run = start_run("fragile", trigger=Trigger.COMMAND)

    def observers():
        raise OSError("disk full")
        yield

    with pytest.raises(OSError, match="disk full"):
        execute_run(run, observers=observers())

    run.refresh_from_db()
    assert run.status == FlowRunStatus.FAILED
    assert run.error == "the run stopped unexpectedly: OSError: disk full"
    assert "Traceback" in run.traceback
    assert step_statuses(run) == dict.fromkeys(["r", "u1", "u2", "p"], "cancelled")
    assert trace.events == []


# Heartbeat and cancelling


def test_cancel_run_from_another_thread_stops_the_run_between_steps(
    register, trace, quick_heartbeat
):
    started, release = threading.Event(), threading.Event()
    flow = AdminFlow("long-haul", "waits in a step", make_storer([1]), "records")
    flow.add_update_step("wait", update_step(waiting_step(started, release, trace, "wait")))
    flow.add_update_step("next", update_step(tracing(trace, "next")), depends_on=["wait"])
    flow.add_propagate_step("p", propagate_step(tracing(trace, "p")))
    register(flow)
    run = start_run("long-haul", trigger=Trigger.ADMIN)
    engine_cancel = threading.Event()
    worker = threading.Thread(
        target=lambda: (execute_run(run, cancel_event=engine_cancel), connection.close())
    )
    worker.start()
    try:
        assert started.wait(WAIT)
        cancel_run(FlowRun.objects.get(pk=run.pk))
        # The run's heartbeat thread sees the request in the database and tells the engine.
        assert engine_cancel.wait(WAIT)
    finally:
        release.set()
        worker.join(WAIT)

    run.refresh_from_db()
    assert run.status == FlowRunStatus.CANCELLED
    assert run.cancel_requested is True
    assert run.heartbeat_at > run.started_at
    assert run.error == "cancelled before these steps started: next, p"
    assert run.records_stored is None
    assert step_statuses(run) == {"wait": "succeeded", "next": "cancelled", "p": "cancelled"}
    assert trace.events == ["wait"]


def test_a_queued_run_is_cancelled_at_once(register, trace):
    register(pipeline("early", trace))
    run = start_run("early", trigger=Trigger.ADMIN)
    finished = []
    receive = lambda sender, run, **kwargs: finished.append(run.pk)  # noqa: E731
    flow_run_finished.connect(receive)
    try:
        returned = cancel_run(run)
    finally:
        flow_run_finished.disconnect(receive)

    assert returned.status == FlowRunStatus.CANCELLED
    assert returned.finished_at is not None
    assert finished == [run.pk]
    with pytest.raises(IllegalTransition, match="cannot go from 'cancelled' to 'running'"):
        execute_run(run)
    assert trace.events == []


@pytest.mark.parametrize(
    "status", [FlowRunStatus.SUCCEEDED, FlowRunStatus.FAILED, FlowRunStatus.CANCELLED]
)
def test_a_finished_run_cannot_be_cancelled(status):
    run = FlowRunFactory(status=status)

    with pytest.raises(
        IllegalTransition, match=f"run {run.pk} cannot go from '{status}' to 'cancelled'"
    ):
        cancel_run(run)

    run.refresh_from_db()
    assert (run.status, run.cancel_requested) == (status, False)


# Reaping


def test_the_reaper_fails_runs_whose_worker_stopped_heartbeating(settings):
    settings.ADMINFLOW = {"STALE_AFTER": 60}
    now = timezone.now()
    stale = RunningFlowRunFactory(worker="box:4242", heartbeat_at=now - timedelta(seconds=61))
    StepRunFactory(run=stale, name="done", status="succeeded", position=0)
    StepRunFactory(run=stale, name="busy", status="running", position=1)
    StepRunFactory(run=stale, name="later", status="pending", position=2)
    fresh = RunningFlowRunFactory(heartbeat_at=now - timedelta(seconds=59))
    queued = FlowRunFactory(status=FlowRunStatus.QUEUED)

    reaped = reap_stale_runs(now)

    assert reaped == [stale]
    stale.refresh_from_db()
    assert stale.status == FlowRunStatus.FAILED
    assert stale.finished_at == now
    beat = stale.heartbeat_at
    assert stale.error == (
        f"worker box:4242 stopped heartbeating at {beat:%Y-%m-%d %H:%M:%S} UTC; "
        f"marked failed at {now:%Y-%m-%d %H:%M:%S} UTC"
    )
    assert step_statuses(stale) == {"done": "succeeded", "busy": "failed", "later": "cancelled"}
    assert stale.steps.get(name="busy").error == stale.error
    for run in (fresh, queued):
        status = run.status
        run.refresh_from_db()
        assert run.status == status
    assert reap_stale_runs(now) == []


def test_a_queued_run_no_worker_takes_is_failed_once_the_queued_timeout_passes(
    register, trace, settings
):
    # The task is sent to a queue that no worker serves: nothing will ever take it.
    settings.ADMINFLOW = {"QUEUED_TIMEOUT": 600, "TASK_BACKEND": "database"}
    register(pipeline("unserved", trace))
    lost = start_run("unserved", trigger=Trigger.ADMIN)
    enqueue_run(lost)
    queued_at = lost.queued_at

    assert reap_stale_runs(queued_at + timedelta(seconds=599)) == []
    with pytest.raises(FlowAlreadyRunning, match=f"run {lost.pk} is queued"):
        start_run("unserved", trigger=Trigger.ADMIN)
    now = queued_at + timedelta(seconds=601)
    assert reap_stale_runs(now) == [lost]

    lost.refresh_from_db()
    assert (lost.status, lost.finished_at) == (FlowRunStatus.FAILED, now)
    assert lost.error == (
        f"no worker took it within 600 seconds of being queued at "
        f"{queued_at:%Y-%m-%d %H:%M:%S} UTC (its task: {lost.task_id}); marked failed at "
        f"{now:%Y-%m-%d %H:%M:%S} UTC; none of its steps ran. Is a worker running for Tasks "
        "backend 'database', queue 'default'?"
    )
    # A worker that takes the task after all leaves the failed run alone.
    assert execute_queued_run.call(lost.pk) == FlowRunStatus.FAILED
    assert trace.events == []
    assert start_run("unserved", trigger=Trigger.ADMIN).status == FlowRunStatus.QUEUED


def test_a_queued_run_held_by_a_process_that_stopped_heartbeating_is_failed(
    register, trace, settings
):
    settings.ADMINFLOW = {"STALE_AFTER": 60}
    register(pipeline("held", trace))
    held = start_run("held", trigger=Trigger.COMMAND, execute="here")
    assert held.worker == HERE
    beat = FlowRun.objects.get(pk=held.pk).heartbeat_at

    assert reap_stale_runs(beat + timedelta(seconds=59)) == []
    now = beat + timedelta(seconds=61)
    assert reap_stale_runs(now) == [held]

    held.refresh_from_db()
    assert held.status == FlowRunStatus.FAILED
    assert held.error == (
        f"worker {HERE} took it, stopped heartbeating at {beat:%Y-%m-%d %H:%M:%S} UTC "
        f"before starting it; marked failed at {now:%Y-%m-%d %H:%M:%S} UTC; none of its steps ran"
    )
    with pytest.raises(IllegalTransition):
        execute_run(held)
    assert trace.events == []


def test_runs_a_process_holds_stay_alive_while_it_executes_another(register, trace, settings):
    """``runflow --due`` queues every due run, then executes them one by one: the ones
    waiting their turn are heartbeated with the one that executes."""
    settings.ADMINFLOW = {"HEARTBEAT_INTERVAL": 0.05, "STALE_AFTER": 1}
    started, release = threading.Event(), threading.Event()
    first = AdminFlow("first", "waits in a step", make_storer([1]), "records")
    first.add_update_step("wait", update_step(waiting_step(started, release, trace, "wait")))
    register(first)
    register(pipeline("second", trace))
    running = start_run("first", trigger=Trigger.SCHEDULE, execute="here")
    waiting = start_run("second", trigger=Trigger.SCHEDULE, execute="here")
    queued_beat = FlowRun.objects.get(pk=waiting.pk).heartbeat_at
    worker = threading.Thread(target=lambda: (execute_run(running), connection.close()))
    worker.start()
    try:
        assert started.wait(WAIT)
        # Longer than STALE_AFTER since it was queued, and beaten since.
        deadline = time.monotonic() + WAIT
        while FlowRun.objects.get(pk=waiting.pk).heartbeat_at < queued_beat + timedelta(
            seconds=1.5
        ):
            assert time.monotonic() < deadline, "the waiting run was never heartbeaten"
            time.sleep(0.02)
        assert reap_stale_runs() == []
    finally:
        release.set()
        worker.join(WAIT)

    assert execute_run(waiting).status == FlowRunStatus.SUCCEEDED


def test_a_start_refused_by_a_run_that_ends_meanwhile_tries_again(register, trace):
    """The constraint refuses the insert; before the start can look up the active run,
    that run ends. The start tries again rather than let the raw IntegrityError out."""
    register(pipeline("churn", trace))
    winner = start_run("churn", trigger=Trigger.ADMIN)
    refused: list[str] = []

    def end_winner_once_refused(execute, sql, params, many, context):
        if refused == ["insert"]:
            refused.append("ended")
            FlowRun.objects.filter(pk=winner.pk).update(status=FlowRunStatus.SUCCEEDED)
        try:
            return execute(sql, params, many, context)
        except IntegrityError:
            refused.append("insert")
            raise

    with connection.execute_wrapper(end_winner_once_refused):
        run = start_run("churn", trigger=Trigger.COMMAND)

    assert refused == ["insert", "ended"]
    assert run.status == FlowRunStatus.QUEUED
    assert FlowRun.objects.active().get() == run


def test_a_start_keeps_other_integrity_errors(register, trace):
    register(pipeline("gone", trace))
    row = start_run("gone", trigger=Trigger.ADMIN).flow
    FlowRun.objects.all().delete()
    Flow.objects.filter(pk=row.pk).delete()

    # The row object outlives its row: the insert's foreign key is refused, not the flow.
    with pytest.raises(IntegrityError):
        start_run(row, trigger=Trigger.ADMIN)


# Resuming


def test_resuming_a_propagate_failure_reruns_only_the_unfinished_propagate_steps(register, trace):
    attempts = {"mail": 0}
    read = []

    def publish(call):
        call.set_metadata("recipients", ["ada", "bob"])
        call.set_metadata("deadline", date(2025, 5, 1))

    def mail(call):
        attempts["mail"] += 1
        read.append((call.get_metadata("recipients"), call.get_metadata("deadline")))
        if attempts["mail"] == 1:
            raise RuntimeError("smtp down")
        trace.add("mail")

    storer = make_storer([1, 2])
    flow = AdminFlow("mailer", "mails people", storer, "records")
    flow.add_record_step("r", record_step(tracing(trace, "r")))
    flow.add_update_step("u", update_step(publish))
    flow.add_propagate_step("invite", propagate_step(tracing(trace, "invite")))
    flow.add_propagate_step("mail", propagate_step(mail))
    flow.add_propagate_step(
        "log-mail", propagate_step(tracing(trace, "log-mail")), depends_on=["mail"]
    )
    register(flow)
    failed = execute_run(start_run("mailer", trigger=Trigger.COMMAND))
    assert failed.status == FlowRunStatus.FAILED
    assert failed.records_stored == 2
    assert trace.events == ["r", "invite"]

    resumed = resume_run(failed, trigger=Trigger.COMMAND)

    assert resumed.resumed_from == failed
    assert resumed.step_modes == {
        "records": "include",
        "r": "exclude",
        "u": "exclude",
        "invite": "exclude",
        "mail": "include",
        "log-mail": "include",
    }
    execute_run(resumed)
    resumed.refresh_from_db()
    assert resumed.status == FlowRunStatus.SUCCEEDED
    assert trace.events == ["r", "invite", "mail", "log-mail"]
    # JSON values come back exactly; a date was kept only as its repr, so it cannot.
    assert read == [(["ada", "bob"], date(2025, 5, 1)), (["ada", "bob"], None)]
    assert resumed.metadata["recipients"] == ["ada", "bob"]
    assert len(storer.box.stored) == 2


def test_resuming_an_update_failure_reruns_the_whole_flow(register, trace):
    attempts = []

    def flaky(call):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("timeout")
        trace.add("flaky")

    flow = AdminFlow(
        "flaky", "fails once", make_storer([1]), "records", default_config={"num_threads": 2}
    )
    flow.add_record_step("r", record_step(tracing(trace, "r")))
    flow.add_update_step("flaky", update_step(flaky))
    flow.add_propagate_step("p", propagate_step(tracing(trace, "p")))
    register(flow)
    failed = execute_run(start_run("flaky", trigger=Trigger.COMMAND, debug=True))
    assert (failed.status, failed.records_stored) == (FlowRunStatus.FAILED, None)

    resumed = resume_run(failed)

    assert resumed.trigger == Trigger.ADMIN
    assert resumed.debug is True
    assert resumed.num_threads == 2
    assert resumed.step_modes == dict.fromkeys(["records", "r", "flaky", "p"], "debug")
    assert resumed.metadata == {}
    execute_run(resumed)
    assert resumed.status == FlowRunStatus.SUCCEEDED
    assert trace.events == ["r", "r", "flaky", "p"]


@pytest.mark.parametrize(
    "status",
    [FlowRunStatus.QUEUED, FlowRunStatus.RUNNING, FlowRunStatus.SUCCEEDED, FlowRunStatus.CANCELLED],
)
def test_only_failed_runs_can_be_resumed(register, trace, status):
    register(pipeline("steady", trace))
    run = FlowRunFactory(flow=FlowFactory(name="steady"), status=status)

    with pytest.raises(RunNotResumable) as refused:
        resume_run(run)

    assert str(refused.value) == (
        f"run {run.pk} of flow 'steady' is {status}; only failed runs can be resumed"
    )
    assert FlowRun.objects.count() == 1


def test_a_resume_is_refused_while_the_flow_is_running_again(register, trace):
    register(pipeline("rival", trace))
    failed = FlowRunFactory(flow=FlowFactory(name="rival"), status=FlowRunStatus.FAILED)
    active = start_run("rival", trigger=Trigger.ADMIN)

    with pytest.raises(FlowAlreadyRunning, match=f"run {active.pk} is queued"):
        resume_run(failed)

    assert FlowRun.objects.count() == 2


def test_excluded_steps_may_leave_required_config_out(register):
    flow = AdminFlow("partial", "one step excluded", make_storer([]), "records")
    flow.add_update_step("needs", update_step(config_types=[("count", int, "how many")]))
    register(flow)

    run = execute_run(
        start_run("partial", trigger=Trigger.ADMIN, modes={"needs": StepMode.EXCLUDE})
    )

    assert run.status == FlowRunStatus.SUCCEEDED
    assert run.config_snapshot["needs"] == {}
    assert Flow.objects.get(name="partial").runs.get() == run
