"""Which task workers are alive: the Worker rows they leave, and what is read from them."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from adminflow.models import Worker
from adminflow.runs import this_worker
from adminflow.runs.recording import RunRecorder
from adminflow.runs.workers import WorkerSighting, last_worker_seen, worker_took_run
from tests.factories import RunningFlowRunFactory
from tests.schedule_helpers import utc

pytestmark = pytest.mark.django_db

NOON = utc(2024, 6, 1, 12, 0)


def seen(name: str, at, *, first=None) -> Worker:
    return Worker.objects.create(name=name, first_seen_at=first or at, last_seen_at=at)


def test_a_worker_that_takes_runs_upserts_its_row_in_one_query(
    time_machine, django_assert_num_queries
):
    time_machine.move_to(NOON, tick=False)
    with django_assert_num_queries(1):
        worker_took_run("box:7")
    time_machine.move_to(NOON + timedelta(minutes=5), tick=False)

    with django_assert_num_queries(1):
        worker_took_run("box:7")

    worker = Worker.objects.get()
    assert (worker.name, worker.first_seen_at, worker.last_seen_at) == (
        "box:7",
        NOON,
        NOON + timedelta(minutes=5),
    )


def test_no_worker_ever_seen_is_no_worker_alive(django_assert_num_queries):
    with django_assert_num_queries(1):
        sighting = last_worker_seen()

    assert sighting == WorkerSighting(name="", last_seen_at=None, alive=False)


@pytest.mark.parametrize(
    ("within", "alive"), [(3600.0, True), (1200.0, True), (1199.0, False), (60.0, False)]
)
def test_the_worker_seen_last_is_alive_if_seen_within_worker_seen_within(
    settings, within, alive, django_assert_num_queries
):
    settings.ADMINFLOW = {"WORKER_SEEN_WITHIN": within}
    seen("old:1", NOON - timedelta(hours=5))
    seen("new:2", NOON - timedelta(minutes=20), first=NOON - timedelta(days=2))
    seen("mid:3", NOON - timedelta(hours=1))

    with django_assert_num_queries(1):
        sighting = last_worker_seen(now=NOON)

    assert sighting == WorkerSighting("new:2", NOON - timedelta(minutes=20), alive=alive)


def test_the_default_counts_a_worker_seen_within_the_hour_as_alive():
    now = timezone.now()
    seen("box:7", now - timedelta(minutes=59))

    assert last_worker_seen(now).alive
    assert not last_worker_seen(now + timedelta(minutes=2)).alive


def test_a_runs_heartbeat_keeps_its_task_workers_row_fresh():
    before = timezone.now() - timedelta(minutes=30)
    seen("box:7", before)
    seen("other:8", before)
    run = RunningFlowRunFactory(worker="box:7")

    RunRecorder(run, {}, threading.Event()).heartbeat()

    rows = dict(Worker.objects.values_list("name", "last_seen_at"))
    assert rows["box:7"] > timezone.now() - timedelta(minutes=1)
    assert rows["other:8"] == before


def test_a_heartbeat_of_a_run_runflow_executes_leaves_no_worker_row():
    run = RunningFlowRunFactory(worker=this_worker())

    RunRecorder(run, {}, threading.Event()).heartbeat()

    run.refresh_from_db()
    assert run.heartbeat_at > timezone.now() - timedelta(minutes=1)
    assert not Worker.objects.exists()
