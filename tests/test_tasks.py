"""Background runs through the Tasks framework: enqueueing, the task, and real workers.

The immediate backend (the suite's default) executes a task as it is
enqueued. The dummy backend only keeps what was enqueued, so a test can look
at the task that was sent and then call it the way a worker would. The
database backend is driven by a real ``db_worker --batch`` in another
process, against this test's database.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from adminflow.compat import TASKS_MODULE, task_backends
from adminflow.models import FlowRun, RunLog, StepRun, Worker
from adminflow.runs import cancel_run, enqueue_run, start_run, this_worker
from adminflow.signals import flow_run_finished
from adminflow.states import FlowRunStatus, Trigger
from adminflow.tasks import execute_queued_run
from tests.factories import RunningFlowRunFactory
from tests.run_helpers import DUMMY_BACKEND, database_url, pipeline, runflow, step_statuses
from tests.schedule_helpers import utc
from tests.testapp.steps import reset_numbers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parent.parent


class NoPriorityBackend(import_string(DUMMY_BACKEND)):
    """A backend that, like many, runs tasks in order: setting a priority is refused."""

    supports_priority = False


@pytest.fixture
def seen_worker():
    """Return ``seen(ago)``: a task worker ``box:7``, last seen ``ago`` before now."""

    def seen(ago: timedelta) -> Worker:
        at = timezone.now() - ago
        return Worker.objects.create(name="box:7", first_seen_at=at, last_seen_at=at)

    return seen


@pytest.fixture
def tidy(register, trace) -> str:
    """Register a four-step flow named ``tidy``; return its name."""
    register(pipeline("tidy", trace))
    return "tidy"


# Enqueueing


def test_the_immediate_backend_executes_an_enqueued_run_at_once(tidy, trace):
    run = start_run(tidy, trigger=Trigger.ADMIN)

    enqueue_run(run)

    run.refresh_from_db()
    assert run.status == FlowRunStatus.SUCCEEDED
    assert run.task_id
    assert run.worker.endswith(f":{os.getpid()}")
    assert step_statuses(run) == dict.fromkeys(["r", "u1", "u2", "p"], "succeeded")
    assert trace.events[-1] == "p"


def test_nothing_is_sent_before_the_transaction_commits(tidy, sent):
    with transaction.atomic():
        run = start_run(tidy, trigger=Trigger.ADMIN)
        enqueue_run(run)
        assert sent == []

    (result,) = sent
    assert result.task.func is execute_queued_run.func
    assert result.args == [run.pk]
    assert result.kwargs == {}
    run.refresh_from_db()
    assert (run.status, run.task_id) == (FlowRunStatus.QUEUED, result.id)


def test_nothing_is_sent_when_the_transaction_rolls_back(tidy, sent):
    def failing_request() -> None:
        with transaction.atomic():
            enqueue_run(start_run(tidy, trigger=Trigger.ADMIN))
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError, match="the request failed"):
        failing_request()

    assert sent == []
    assert not FlowRun.objects.exists()


def test_the_backend_and_queue_come_from_the_adminflow_settings(
    tidy, settings, django_assert_num_queries
):
    settings.TASKS = {"background": {"BACKEND": DUMMY_BACKEND, "QUEUES": ["flows"]}}
    settings.ADMINFLOW = {"TASK_BACKEND": "background", "TASK_QUEUE": "flows"}
    run = start_run(tidy, trigger=Trigger.ADMIN)

    with django_assert_num_queries(1):  # storing the task id
        enqueue_run(run)

    (result,) = task_backends["background"].results
    assert (result.backend, result.task.backend, result.task.queue_name) == (
        "background",
        "background",
        "flows",
    )
    assert run.task_id == result.id
    assert FlowRun.objects.get().task_id == result.id


@pytest.mark.parametrize(("backend", "priority"), [(DUMMY_BACKEND, 7), (NoPriorityBackend, 0)])
def test_the_priority_is_set_only_where_the_backend_supports_one(tidy, settings, backend, priority):
    path = backend if isinstance(backend, str) else f"{__name__}.{backend.__name__}"
    settings.TASKS = {"default": {"BACKEND": path}}
    settings.ADMINFLOW = {"TASK_PRIORITY": 7}
    run = start_run(tidy, trigger=Trigger.ADMIN)

    enqueue_run(run)

    (result,) = task_backends["default"].results
    assert result.task.priority == priority
    run.refresh_from_db()
    assert run.status == FlowRunStatus.QUEUED


# The backport's exceptions have the names Django's had before Django 6.0.
if TASKS_MODULE == "django_tasks":
    INVALID_TASK, INVALID_BACKEND = "InvalidTaskError", "InvalidTaskBackendError"
else:
    INVALID_TASK, INVALID_BACKEND = "InvalidTask", "InvalidTaskBackend"


@pytest.mark.parametrize(
    ("adminflow_settings", "where", "reason"),
    [
        (
            {"TASK_QUEUE": "flows"},
            "'default' (queue 'flows')",
            f"{INVALID_TASK}: Queue 'flows' is not valid for backend.",
        ),
        (
            {"TASK_BACKEND": "nowhere"},
            "'nowhere' (queue 'default')",
            f"{INVALID_BACKEND}: The connection 'nowhere' doesn't exist.",
        ),
    ],
)
def test_a_run_the_backend_refuses_is_marked_failed_not_left_queued(
    tidy, sent, settings, adminflow_settings, where, reason, trace, caplog
):
    settings.ADMINFLOW = adminflow_settings
    run = start_run(tidy, trigger=Trigger.ADMIN)
    finished = []
    receive = lambda sender, run, **kwargs: finished.append(run.pk)  # noqa: E731
    flow_run_finished.connect(receive)
    try:
        enqueue_run(run)
    finally:
        flow_run_finished.disconnect(receive)

    assert run.status == FlowRunStatus.FAILED
    assert run.error == (
        f"run {run.pk} of flow 'tidy' could not be sent to the Tasks backend {where}: {reason}"
    )
    assert run.traceback.startswith("Traceback (most recent call last):")
    assert (run.started_at, run.task_id) == (None, "")
    assert run.finished_at is not None
    assert FlowRun.objects.get().error == run.error
    assert finished == [run.pk]
    assert sent == []
    assert trace.events == []
    assert not StepRun.objects.exists()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("ERROR", run.error)]


# The task, as a worker calls it


def test_the_task_leaves_a_run_cancelled_while_it_waited_alone(tidy, sent, trace, caplog):
    run = start_run(tidy, trigger=Trigger.ADMIN)
    enqueue_run(run)
    cancel_run(run)
    (result,) = sent

    with caplog.at_level(logging.INFO, logger="adminflow.tasks"):
        outcome = result.task.call(*result.args, **result.kwargs)

    assert outcome == "cancelled"
    run.refresh_from_db()
    assert (run.status, run.started_at, run.worker) == (FlowRunStatus.CANCELLED, None, "")
    # The worker that took the task is alive, whatever became of the run.
    assert Worker.objects.get().name == this_worker()
    assert trace.events == []
    assert not StepRun.objects.exists()
    assert not RunLog.objects.exists()
    assert [record.getMessage() for record in caplog.records] == [
        f"Run {run.pk} of flow 'tidy' is cancelled, no longer queued: left alone."
    ]


def test_the_task_for_a_run_that_no_longer_exists_only_logs_it(caplog):
    with caplog.at_level(logging.INFO, logger="adminflow.tasks"):
        outcome = execute_queued_run.call(4242)

    assert outcome == "missing"
    assert [record.getMessage() for record in caplog.records] == [
        "Run 4242 no longer exists: nothing to execute."
    ]
    assert not FlowRun.objects.exists()


# A real worker: the database backend and db_worker in another process


def test_a_db_worker_executes_a_run_queued_in_the_database(settings):
    reset_numbers()
    sent_at = timezone.now()
    settings.ADMINFLOW = {"TASK_BACKEND": "database"}
    run = start_run("numbers", trigger=Trigger.ADMIN)
    enqueue_run(run)
    run.refresh_from_db()
    assert run.status == FlowRunStatus.QUEUED
    task = DBTaskResult.objects.get()
    assert (str(task.id), task.task_path, task.args_kwargs) == (
        run.task_id,
        "adminflow.tasks.execute_queued_run",
        {"args": [run.pk], "kwargs": {}},
    )

    worker = subprocess.run(
        [
            *(sys.executable, "-m", "django", "db_worker", "--settings=tests.settings"),
            *("--backend", "database", "--batch", "--no-startup-delay"),
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert worker.returncode == 0, worker.stderr
    run.refresh_from_db()
    assert run.status == FlowRunStatus.SUCCEEDED, run.error
    assert run.worker.startswith(f"{socket.gethostname()}:")
    assert run.worker != f"{socket.gethostname()}:{os.getpid()}"  # executed by the worker
    # The worker is seen alive: its row is written as it takes the run.
    worker = Worker.objects.get()
    assert worker.name == run.worker
    assert sent_at < worker.first_seen_at <= worker.last_seen_at <= run.finished_at
    assert step_statuses(run) == dict.fromkeys(["add", "double", "increment", "total"], "succeeded")
    assert RunLog.objects.filter(run=run, message="stored [3, 5, 7] in 'numbers'").exists()
    task.refresh_from_db()
    assert (task.status, task.return_value) == ("SUCCESSFUL", "succeeded")


# runflow --enqueue


def test_runflow_enqueue_queues_the_run_and_prints_its_id(settings, seen_worker):
    settings.ADMINFLOW = {"TASK_BACKEND": "database"}
    seen_worker(timedelta(minutes=10))

    out, err, code = runflow("numbers", "--enqueue", "--debug")

    assert (code, err) == (0, "")
    run = FlowRun.objects.get()
    assert out == f"Run {run.pk} of flow 'numbers': queued, task {run.task_id}\n"
    assert (run.status, run.trigger, run.debug) == (FlowRunStatus.QUEUED, Trigger.COMMAND, True)
    assert str(DBTaskResult.objects.get().id) == run.task_id


def test_runflow_enqueue_quietly_prints_only_the_run_id(sent, seen_worker):
    seen_worker(timedelta(0))
    out, err, code = runflow("numbers", "--enqueue", "-v0")

    assert (code, err) == (0, "")
    assert out == f"{FlowRun.objects.get().pk}\n"


def test_runflow_enqueue_of_a_running_flow_exits_3_and_sends_nothing(sent):
    active = RunningFlowRunFactory(flow__name="numbers")

    out, err, code = runflow("numbers", "--enqueue")

    assert code == 3
    assert err == (
        f"CommandError: flow 'numbers' is already running: run {active.pk} is running; "
        "wait for it to finish or cancel it first\n"
    )
    assert (out, sent) == ("", [])
    assert FlowRun.objects.count() == 1


def test_runflow_enqueue_with_a_bad_mode_exits_2_and_writes_nothing(sent):
    out, err, code = runflow("numbers", "--enqueue", "--mode", "nope=debug")

    assert code == 2
    assert "nope: no step named 'nope' (steps: add, double, increment, total)" in err
    assert (out, sent) == ("", [])
    assert not FlowRun.objects.exists()


def test_runflow_enqueue_that_the_backend_refuses_exits_1_with_the_reason(sent, settings):
    settings.ADMINFLOW = {"TASK_QUEUE": "flows"}

    out, err, code = runflow("numbers", "--enqueue")

    assert code == 1
    run = FlowRun.objects.get()
    assert run.status == FlowRunStatus.FAILED
    assert err == f"CommandError: run {run.pk} of flow 'numbers' failed: {run.error}\n"
    assert "could not be sent to the Tasks backend 'default' (queue 'flows')" in run.error
    assert out == ""


# runflow --enqueue with no worker seen lately


def test_runflow_enqueue_warns_when_no_worker_was_ever_seen(settings):
    settings.ADMINFLOW = {"TASK_BACKEND": "database"}

    out, err, code = runflow("numbers", "--enqueue")

    assert code == 0
    run = FlowRun.objects.get()
    assert run.status == FlowRunStatus.QUEUED
    assert out == f"Run {run.pk} of flow 'numbers': queued, task {run.task_id}\n"
    assert err == (
        f"Warning: Run {run.pk} waits for a task worker, and no worker has ever been seen "
        "taking a run. If no worker is running, start one with "
        "`manage.py db_worker --backend database`: a queued run that no worker takes is "
        "failed after ADMINFLOW['QUEUED_TIMEOUT'] (1800 seconds).\n"
    )


def test_runflow_enqueue_warns_naming_the_last_worker_seen_and_when(
    settings, seen_worker, time_machine
):
    settings.ADMINFLOW = {"TASK_BACKEND": "database", "QUEUED_TIMEOUT": 600}
    time_machine.move_to(utc(2024, 6, 1, 15, 0), tick=False)
    seen_worker(timedelta(hours=3))

    out, err, code = runflow("numbers", "--enqueue")

    assert code == 0
    run = FlowRun.objects.get()
    assert out == f"Run {run.pk} of flow 'numbers': queued, task {run.task_id}\n"
    assert err == (
        f"Warning: Run {run.pk} waits for a task worker, and none has been seen within "
        "ADMINFLOW['WORKER_SEEN_WITHIN'] (3600 seconds): the last, box:7, was seen at "
        "2024-06-01 12:00:00 UTC (3 hours ago). If no worker is running, start one with "
        "`manage.py db_worker --backend database`: a queued run that no worker takes is "
        "failed after ADMINFLOW['QUEUED_TIMEOUT'] (600 seconds).\n"
    )


@pytest.mark.parametrize(("within", "warned"), [(None, False), (300, True)])
def test_runflow_enqueue_warns_only_past_worker_seen_within(settings, seen_worker, within, warned):
    settings.ADMINFLOW = {"TASK_BACKEND": "database"}
    if within is not None:
        settings.ADMINFLOW["WORKER_SEEN_WITHIN"] = within
    seen_worker(timedelta(minutes=10))

    _out, err, code = runflow("numbers", "--enqueue")

    assert code == 0
    if warned:
        assert err.startswith(f"Warning: Run {FlowRun.objects.get().pk} waits for a task worker")
        assert "(300 seconds): the last, box:7, was seen at " in err
    else:
        assert err == ""


def test_runflow_enqueue_warns_even_quietly_saying_how_to_start_another_backends_worker(sent):
    out, err, code = runflow("numbers", "--enqueue", "-v0")

    assert code == 0
    run = FlowRun.objects.get()
    assert out == f"{run.pk}\n"
    assert err.startswith(f"Warning: Run {run.pk} waits for a task worker, and no worker ")
    assert "If no worker is running, start a worker for Tasks backend 'default', " in err
    assert "queue 'default': a queued run that no worker takes is failed after " in err


def test_runflow_enqueue_to_a_worker_in_this_process_notes_it_and_does_not_warn():
    # The immediate backend executes the task as it is sent, as a worker would.
    out, err, code = runflow("numbers", "--enqueue")

    assert (code, err) == (0, "")
    run = FlowRun.objects.get()
    assert run.status == FlowRunStatus.SUCCEEDED
    assert out == f"Run {run.pk} of flow 'numbers': succeeded, task {run.task_id}\n"
    assert list(Worker.objects.values_list("name", flat=True)) == [this_worker()]
