"""The admin says when a queued run waits for a task worker and none was seen lately.

The actions that queue runs (Run, Re-run, Resume) warn next to their success
message; the flow changelist and change page show "waiting: no worker seen …"
for a flow whose queued run no worker holds. Runs go to the database backend,
which keeps them queued for a worker; the tests commit (``transaction=True``)
so that the task is sent inside the request, as on a site.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.formats import date_format

from adminflow.models import Flow, FlowRun, Worker
from adminflow.runs import start_run
from adminflow.runs.config import get_flow_row
from adminflow.states import FlowRunStatus, Trigger
from tests.factories import FlowFactory, FlowRunFactory

from .flow_helpers import change_url, changelist_url, post_action
from .run_helpers import RERUN, RESUME, VIEW, client_for, runs_url

pytestmark = pytest.mark.django_db(transaction=True)

WARNED = "waits for a task worker, and no worker has ever been seen taking a run"


@pytest.fixture(autouse=True)
def database_backend(settings) -> None:
    settings.ADMINFLOW = {"TASK_BACKEND": "database"}


@pytest.fixture
def numbers() -> Flow:
    return get_flow_row("numbers")


def seen(ago: timedelta, name: str = "box:7") -> Worker:
    at = timezone.now() - ago
    return Worker.objects.create(name=name, first_seen_at=at, last_seen_at=at)


def levelled_messages(response: HttpResponse) -> list[tuple[str, str]]:
    return [(message.level_tag, str(message)) for message in get_messages(response.wsgi_request)]


def failed_numbers_run(flow: Flow) -> FlowRun:
    """Return a run of ``flow`` started as the command does, then failed."""
    run = start_run(flow, trigger=Trigger.COMMAND)
    FlowRun.objects.filter(pk=run.pk).update(
        status=FlowRunStatus.FAILED, finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


# The actions


def test_running_a_flow_with_no_worker_ever_seen_warns_next_to_the_success(
    numbers: Flow,
) -> None:
    runner = client_for("adminflow.view_flow", "adminflow.run_flow")

    response = post_action(runner, "run_selected_flows", [numbers])

    run = FlowRun.objects.get()
    assert (run.status, bool(run.task_id)) == (FlowRunStatus.QUEUED, True)
    (success, warning) = levelled_messages(response)
    assert success[0] == "success"
    assert warning == (
        "warning",
        f"Run {run.pk} {WARNED}. If no worker is running, start one with "
        "`manage.py db_worker --backend database`: a queued run that no worker takes is "
        "failed after ADMINFLOW['QUEUED_TIMEOUT'] (1800 seconds).",
    )


def test_running_several_flows_warns_once_naming_every_waiting_run(numbers: Flow) -> None:
    other = get_flow_row("numbers-debuggable")
    runner = client_for("adminflow.view_flow", "adminflow.run_flow")

    response = post_action(runner, "run_selected_flows", [numbers, other])

    first, second = FlowRun.objects.order_by("pk")
    levels = [level for level, _ in levelled_messages(response)]
    assert levels == ["success", "success", "warning"]
    assert levelled_messages(response)[2][1].startswith(f"Runs {first.pk}, {second.pk} wait ")


def test_running_a_flow_with_a_worker_seen_lately_does_not_warn(numbers: Flow) -> None:
    seen(timedelta(minutes=10))
    runner = client_for("adminflow.view_flow", "adminflow.run_flow")

    response = post_action(runner, "run_selected_flows", [numbers])

    assert [level for level, _ in levelled_messages(response)] == ["success"]


def test_running_a_flow_warns_naming_the_worker_seen_last(numbers: Flow) -> None:
    seen(timedelta(hours=3), name="box:7")
    seen(timedelta(days=2), name="old:1")
    runner = client_for("adminflow.view_flow", "adminflow.run_flow")

    response = post_action(runner, "run_selected_flows", [numbers])

    level, warning = levelled_messages(response)[-1]
    assert level == "warning"
    assert "none has been seen within ADMINFLOW['WORKER_SEEN_WITHIN'] (3600 seconds): " in warning
    assert "the last, box:7, was seen at " in warning
    assert "(3 hours ago)" in warning


@pytest.mark.parametrize(("action", "permission"), [("rerun_runs", RERUN), ("resume_runs", RESUME)])
def test_rerun_and_resume_warn_next_to_the_success(
    numbers: Flow, action: str, permission: str
) -> None:
    failed = failed_numbers_run(numbers)
    client = client_for(VIEW, permission)

    response = client.post(
        runs_url(), {"action": action, "_selected_action": [failed.pk], "index": "0"}
    )

    new = FlowRun.objects.exclude(pk=failed.pk).get()
    assert new.status == FlowRunStatus.QUEUED
    (success, warning) = levelled_messages(response)
    assert success[0] == "success"
    assert warning[0] == "warning"
    assert warning[1].startswith(f"Run {new.pk} {WARNED}. ")


@pytest.mark.parametrize(("action", "permission"), [("rerun_runs", RERUN), ("resume_runs", RESUME)])
def test_rerun_and_resume_with_a_worker_seen_lately_do_not_warn(
    numbers: Flow, action: str, permission: str
) -> None:
    seen(timedelta(minutes=1))
    failed = failed_numbers_run(numbers)

    response = client_for(VIEW, permission).post(
        runs_url(), {"action": action, "_selected_action": [failed.pk], "index": "0"}
    )

    assert [level for level, _ in levelled_messages(response)] == ["success"]


# The flow pages


def waiting_flow(name: str, *, worker: str = "") -> Flow:
    """Return a flow whose run is queued, held by ``worker`` (blank: by nobody)."""
    flow = FlowFactory(name=name)
    FlowRunFactory(flow=flow, status=FlowRunStatus.QUEUED, worker=worker)
    return flow


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_a_flow_whose_run_no_worker_holds_shows_it_waits_for_one(admin_client: Client) -> None:
    flow = waiting_flow("tidy")

    for url in (changelist_url(), change_url(flow)):
        assert "<strong>waiting: no worker seen yet</strong>" in page(admin_client, url)


def test_the_waiting_note_says_when_and_which_worker_was_seen_last(admin_client: Client) -> None:
    flow = waiting_flow("tidy")
    worker = seen(timedelta(hours=3))
    when = date_format(timezone.localtime(worker.last_seen_at), "DATETIME_FORMAT")
    note = f'<strong title="box:7">waiting: no worker seen since {when}</strong>'

    for url in (changelist_url(), change_url(flow)):
        assert note in page(admin_client, url)


@pytest.mark.parametrize("case", ["worker seen lately", "run held", "run running"])
def test_no_waiting_note_when_a_worker_will_take_the_run(admin_client: Client, case: str) -> None:
    if case == "worker seen lately":
        seen(timedelta(minutes=5))
        flow = waiting_flow("tidy")
    elif case == "run held":
        flow = waiting_flow("tidy", worker="box:7")  # taken: a worker (or runflow) holds it
    else:
        flow = FlowFactory(name="tidy")
        FlowRunFactory(flow=flow, status=FlowRunStatus.RUNNING, worker="box:7")

    for url in (changelist_url(), change_url(flow)):
        assert "waiting: no worker seen" not in page(admin_client, url)


def changelist_queries(client: Client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        shown = page(client, changelist_url())
    return len(queries), shown


def test_the_changelist_looks_at_the_workers_once_however_many_flows_wait(
    admin_client: Client, django_assert_max_num_queries
) -> None:
    for index in range(2):
        waiting_flow(f"few-{index}")
    queries_for_few, shown = changelist_queries(admin_client)
    assert shown.count("waiting: no worker seen yet") == 2

    for index in range(30):
        waiting_flow(f"many-{index}")
    with django_assert_max_num_queries(queries_for_few):
        shown = page(admin_client, changelist_url())

    assert shown.count("waiting: no worker seen yet") == 32
