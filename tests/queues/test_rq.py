"""Background runs on RQ: django-tasks-rq sends them to Redis, real ``rqworker``s execute them."""

from __future__ import annotations

import os

import pytest
from rq.job import Job

from adminflow.models import RunLog
from adminflow.runs import cancel_run, enqueue_run, start_run
from adminflow.states import FlowRunStatus, Trigger
from tests.run_helpers import step_statuses

from .flows import assert_sleepy_run_complete, create_sleepy_flows, wait_for_runs

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

LINES = 3


def test_rq_workers_execute_queued_runs(rq_workers, redis_connection, workers):
    flows = create_sleepy_flows(3, lines=LINES, pause=0.01)
    rq_workers(2)

    runs = [start_run(name, trigger=Trigger.ADMIN) for name in [*flows, "numbers"]]
    for run in runs:
        enqueue_run(run)

    finished = wait_for_runs([run.pk for run in runs], workers)
    *sleepy, numbers = finished
    for run in sleepy:
        assert_sleepy_run_complete(run, LINES)
    # A flow registered in code (tests/testapp/flows.py) runs too: the worker found it.
    assert numbers.status == FlowRunStatus.SUCCEEDED, numbers.error
    assert set(step_statuses(numbers).values()) == {"succeeded"}
    assert RunLog.objects.filter(run=numbers, message="reported numbers = 15 (3 doubled)").exists()
    for run in finished:
        # Executed by another process, as the RQ job the run was sent as.
        assert not run.worker.endswith(f":{os.getpid()}")
        job = Job.fetch(run.task_id, connection=redis_connection)
        assert job.get_status() == "finished"
        assert job.return_value() == "succeeded"


def test_a_run_cancelled_while_queued_is_left_alone_by_the_rq_worker(
    rq_workers, redis_connection, workers
):
    (flow,) = create_sleepy_flows(1, lines=LINES, pause=0.01)
    run = start_run(flow, trigger=Trigger.ADMIN)
    enqueue_run(run)
    cancel_run(run)

    rq_workers(1)

    run.refresh_from_db()
    job = Job.fetch(run.task_id, connection=redis_connection)
    workers.wait_until(lambda: job.get_status(refresh=True) == "finished", "the RQ job")
    assert job.return_value() == "cancelled"
    run.refresh_from_db()
    assert run.status == FlowRunStatus.CANCELLED
    assert run.worker == ""
    assert not run.steps.exists()


def test_a_run_past_rqs_job_timeout_is_failed_not_left_running(rq_workers, settings, workers):
    (flow,) = create_sleepy_flows(1, lines=1, pause=2.0)
    rq_workers(1)
    # The limit goes with the job as it is enqueued; the worker enforces it.
    for queue in settings.RQ_QUEUES.values():
        queue["DEFAULT_TIMEOUT"] = 1
    run = start_run(flow, trigger=Trigger.ADMIN)

    enqueue_run(run)

    (run,) = wait_for_runs([run.pk], workers)
    assert run.status == FlowRunStatus.FAILED
    assert run.error == (
        "the run stopped unexpectedly: JobTimeoutException: "
        "Task exceeded maximum timeout value (1 seconds)"
    )
