"""Background runs on Celery: django-tasks-celery sends them to RabbitMQ or Redis, a real
``celery worker`` executes them (Django 6 on Python 3.12+ only, as the package is)."""

from __future__ import annotations

import os

import pytest

from adminflow.models import RunLog
from adminflow.runs import cancel_run, enqueue_run, start_run
from adminflow.states import FlowRunStatus, Trigger
from tests.run_helpers import step_statuses

from .flows import assert_sleepy_run_complete, create_sleepy_flows, wait_for_runs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

LINES = 3


def test_a_celery_worker_executes_queued_runs(celery_worker, workers):
    flows = create_sleepy_flows(2, lines=LINES, pause=0.01)
    runs = [start_run(name, trigger=Trigger.ADMIN) for name in [*flows, "numbers"]]
    cancelled = start_run("numbers-debuggable", trigger=Trigger.ADMIN)
    for run in [*runs, cancelled]:
        enqueue_run(run)
    cancel_run(cancelled)

    *sleepy, numbers = wait_for_runs([run.pk for run in runs], workers)

    for run in sleepy:
        assert_sleepy_run_complete(run, LINES)
    assert numbers.status == FlowRunStatus.SUCCEEDED, numbers.error
    assert set(step_statuses(numbers).values()) == {"succeeded"}
    assert RunLog.objects.filter(run=numbers, message="reported numbers = 15 (3 doubled)").exists()
    for run in [*sleepy, numbers]:
        # Executed by the worker's process, as the Celery task the run was sent as.
        assert run.task_id
        assert not run.worker.endswith(f":{os.getpid()}")
    # The cancelled run's task reaches the worker too, which finds the run no longer queued.
    left_alone = f"Run {cancelled.pk} of flow 'numbers-debuggable' is cancelled, no longer queued"
    workers.wait_until(lambda: left_alone in workers.log(), "the cancelled run's task")
    cancelled.refresh_from_db()
    assert cancelled.status == FlowRunStatus.CANCELLED
    assert not cancelled.steps.exists()
