"""The Flow admin through the test client: who may see and run what, the actions, the changelist."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path
from django.utils import timezone

from adminflow.admin import FlowAdmin, FlowRunAdmin
from adminflow.models import Flow, FlowRun
from adminflow.runs.config import get_flow_row
from adminflow.states import FlowRunStatus, Trigger
from tests.factories import FlowFactory, RunningFlowRunFactory, StaffUserFactory
from tests.schedule_helpers import utc

from .flow_helpers import add_url, change_url, changelist_url, messages_of, post_action

pytestmark = pytest.mark.django_db

RUN = "run_selected_flows"
DEBUG_RUN = "debug_run_selected_flows"


def client_for(*permissions: str, **client_options: bool) -> Client:
    client = Client(**client_options)
    client.force_login(StaffUserFactory(permissions=list(permissions)))
    return client


@pytest.fixture
def numbers() -> Flow:
    return get_flow_row("numbers")


@pytest.fixture
def runner() -> Client:
    """Staff who may view flows and run them, and nothing else."""
    return client_for("adminflow.view_flow", "adminflow.run_flow")


# Who may do what


@pytest.mark.parametrize("url", [changelist_url, add_url, "change"])
def test_anonymous_users_are_sent_to_the_login_page(client: Client, numbers: Flow, url) -> None:
    target = change_url(numbers) if url == "change" else url()

    response = client.get(target)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_anonymous_users_cannot_run_a_flow(
    client: Client, numbers: Flow, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_action(client, RUN, [numbers])

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not FlowRun.objects.exists()
    assert callbacks == []


@pytest.mark.parametrize("view", ["changelist", "change", "add"])
def test_staff_without_permissions_are_refused_every_page(numbers: Flow, view: str) -> None:
    client = client_for()
    url = {"changelist": changelist_url(), "change": change_url(numbers), "add": add_url()}[view]

    assert client.get(url).status_code == 403


def test_staff_without_permissions_cannot_run_a_flow(numbers: Flow) -> None:
    response = post_action(client_for(), RUN, [numbers])

    assert response.status_code == 403
    assert not FlowRun.objects.exists()


@pytest.mark.parametrize("action", [RUN, DEBUG_RUN])
def test_staff_who_may_only_view_are_not_offered_the_run_actions_and_cannot_post_them(
    numbers: Flow, action: str, django_capture_on_commit_callbacks
) -> None:
    client = client_for("adminflow.view_flow")

    page = client.get(changelist_url())
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_action(client, action, [numbers])

    assert page.status_code == 200
    assert action not in page.content.decode()
    # With no action open to them, the POST only shows the list again.
    assert response.status_code == 200
    assert messages_of(response) == []
    assert not FlowRun.objects.exists()
    assert callbacks == []


def test_the_run_permission_alone_does_not_open_the_admin(numbers: Flow) -> None:
    client = client_for("adminflow.run_flow")

    assert client.get(changelist_url()).status_code == 403
    assert post_action(client, RUN, [numbers]).status_code == 403
    assert not FlowRun.objects.exists()


def test_staff_who_may_run_see_both_actions(runner: Client, numbers: Flow) -> None:
    page = runner.get(changelist_url()).content.decode()

    assert "Run selected flows</option>" in page
    assert "Run selected flows in debug mode</option>" in page


def test_running_needs_a_post_with_a_csrf_token(numbers: Flow) -> None:
    client = client_for("adminflow.view_flow", "adminflow.run_flow", enforce_csrf_checks=True)

    refused = post_action(client, RUN, [numbers])
    assert refused.status_code == 403
    assert not FlowRun.objects.exists()

    client.get(changelist_url())  # sets the CSRF cookie, as opening the page does
    token = client.cookies["csrftoken"].value
    accepted = post_action(client, RUN, [numbers], csrfmiddlewaretoken=token)
    assert accepted.status_code == 302
    assert FlowRun.objects.filter(flow=numbers).count() == 1


def test_a_get_with_action_parameters_runs_nothing(runner: Client, numbers: Flow) -> None:
    response = runner.get(changelist_url(), {"action": RUN, "_selected_action": numbers.pk})

    # The admin takes them for unknown filters, and says so.
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")
    assert not FlowRun.objects.exists()


# The run actions


def test_run_queues_a_run_enqueues_it_after_commit_and_links_to_it(
    runner: Client, numbers: Flow, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_action(runner, RUN, [numbers])

    run = FlowRun.objects.get(flow=numbers)
    assert response.status_code == 302
    # Queued, not run: the task is sent once the transaction commits.
    assert run.status == FlowRunStatus.QUEUED
    assert len(callbacks) == 1
    assert (run.trigger, run.debug) == (Trigger.ADMIN, False)
    assert run.triggered_by == response.wsgi_request.user
    assert messages_of(response) == [
        f'Queued <a href="/admin/adminflow/flowrun/{run.pk}/change/">run #{run.pk}</a> '
        "of flow “numbers”."
    ]


def test_debug_run_queues_a_debug_run(
    runner: Client, numbers: Flow, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_action(runner, DEBUG_RUN, [numbers])

    run = FlowRun.objects.get(flow=numbers)
    assert run.debug is True
    assert set(run.step_modes.values()) == {"debug"}
    assert len(callbacks) == 1
    (message,) = messages_of(response)
    assert f"run #{run.pk}" in message
    assert "in debug mode" in message


def test_a_flow_with_an_active_run_is_refused_naming_that_run(
    runner: Client, numbers: Flow, django_capture_on_commit_callbacks
) -> None:
    active = RunningFlowRunFactory(flow=numbers)

    with django_capture_on_commit_callbacks() as callbacks:
        response = post_action(runner, RUN, [numbers])

    assert list(FlowRun.objects.all()) == [active]
    assert callbacks == []
    (message,) = messages_of(response)
    assert "Flow “numbers” was not run: it already has an active run" in message
    assert f"run #{active.pk}" in message


def test_a_disabled_flow_is_refused(
    runner: Client, numbers: Flow, django_capture_on_commit_callbacks
) -> None:
    Flow.objects.filter(pk=numbers.pk).update(enabled=False)

    with django_capture_on_commit_callbacks() as callbacks:
        response = post_action(runner, RUN, [numbers])

    assert not FlowRun.objects.exists()
    assert callbacks == []
    assert messages_of(response) == ["Flow “numbers” was not run: it is disabled. Enable it first."]


def test_a_flow_whose_config_is_broken_is_refused_with_every_problem(
    runner: Client, numbers: Flow, django_capture_on_commit_callbacks
) -> None:
    Flow.objects.filter(pk=numbers.pk).update(
        config={"add": {"numbers": "many"}, "increment": {"by": 1, "<b>": 2}}
    )

    with django_capture_on_commit_callbacks() as callbacks:
        response = post_action(runner, RUN, [numbers])

    assert not FlowRun.objects.exists()
    assert callbacks == []
    (message,) = messages_of(response)
    assert "Flow “numbers” was not run: its config has problems." in message
    assert "<li>add.numbers: expected list[int], got str &#x27;many&#x27;</li>" in message
    # A key is text from the database: escaped like any other.
    assert "<li>increment.&lt;b&gt;: unknown key (expected: by)</li>" in message


def test_each_selected_flow_is_queued_or_refused_on_its_own(
    runner: Client, numbers: Flow, django_capture_on_commit_callbacks
) -> None:
    other = get_flow_row("numbers-debuggable")
    busy = RunningFlowRunFactory(flow=other)

    with django_capture_on_commit_callbacks() as callbacks:
        response = post_action(runner, RUN, [numbers, other])

    queued = FlowRun.objects.get(flow=numbers)
    assert set(FlowRun.objects.all()) == {queued, busy}
    assert len(callbacks) == 1
    shown = messages_of(response)
    assert len(shown) == 2
    assert any(f"run #{queued.pk}" in m for m in shown)
    assert any(f"run #{busy.pk}" in m and "active run" in m for m in shown)


# The changelist


def add_runs(flow: Flow, count: int, *, active: bool) -> None:
    """Give ``flow`` ``count`` finished runs, the last one failed, and an active one if asked."""
    now = timezone.now()
    runs = [
        FlowRun(
            flow=flow,
            trigger=Trigger.COMMAND,
            status=FlowRunStatus.FAILED if i == count - 1 else FlowRunStatus.SUCCEEDED,
            queued_at=now - timedelta(hours=count - i),
            started_at=now - timedelta(hours=count - i),
            finished_at=now - timedelta(hours=count - i) + timedelta(seconds=75),
        )
        for i in range(count)
    ]
    if active:
        runs.append(FlowRun(flow=flow, trigger=Trigger.ADMIN, status=FlowRunStatus.RUNNING))
    FlowRun.objects.bulk_create(runs)


def test_changelist_shows_the_last_finished_run_and_the_active_one(
    admin_client: Client,
) -> None:
    busy, idle, never = FlowFactory(name="busy"), FlowFactory(name="idle"), FlowFactory(name="new")
    add_runs(busy, 3, active=True)
    add_runs(idle, 2, active=False)
    last = FlowRun.objects.filter(flow=busy).finished().first()
    active = FlowRun.objects.active().get(flow=busy)

    page = admin_client.get(changelist_url()).content.decode().replace("\xa0", " ")

    assert (
        f'<a href="/admin/adminflow/flowrun/{last.pk}/change/">'
        '<span class="adminflow-badge status-failed" data-status="failed">Failed</span></a>'
    ) in page
    assert "took 1m 15s" in page
    assert "58 minutes ago" in page
    assert f"#{active.pk}" in page
    assert 'class="adminflow-badge status-running"' in page
    assert page.count('class="adminflow-badge') == 3  # busy: last + active; idle: last; new: none
    assert never.name in page


def changelist_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(changelist_url())
    assert response.status_code == 200
    return len(queries)


def test_changelist_queries_do_not_grow_with_flows_or_runs(admin_client: Client) -> None:
    few = [FlowFactory() for _ in range(2)]
    for flow in few:
        add_runs(flow, 1, active=False)
    queries_for_few = changelist_queries(admin_client)

    for index in range(60):
        flow = FlowFactory()
        add_runs(flow, 25, active=index % 2 == 0)

    assert changelist_queries(admin_client) == queries_for_few


def test_changelist_query_count_is_small(
    admin_client: Client, django_assert_max_num_queries
) -> None:
    for index in range(40):
        add_runs(FlowFactory(), 10, active=index % 3 == 0)

    with django_assert_max_num_queries(8):
        admin_client.get(changelist_url())


# A site of its own


ops_site = admin.AdminSite(name="ops")
ops_site.register(Flow, FlowAdmin)
ops_site.register(FlowRun, FlowRunAdmin)
urlpatterns = [path("ops/", ops_site.urls)]


@pytest.mark.urls(__name__)
def test_actions_link_to_the_run_on_the_site_they_were_taken_on(
    numbers: Flow, django_capture_on_commit_callbacks
) -> None:
    client = client_for("adminflow.view_flow", "adminflow.run_flow")

    with django_capture_on_commit_callbacks():
        response = post_action(client, RUN, [numbers], site="ops")

    run = FlowRun.objects.get(flow=numbers)
    (message,) = messages_of(response)
    assert f'<a href="/ops/adminflow/flowrun/{run.pk}/change/">run #{run.pk}</a>' in message
    page = client.get(changelist_url("ops")).content.decode()
    assert f'<a href="/ops/adminflow/flowrun/{run.pk}/change/">#{run.pk}</a>' in page


@pytest.mark.parametrize(
    ("column", "field"),
    [
        ("recent_runs", "last_run_finished_at"),
        ("short_description", "description"),
    ],
)
def test_changelist_sorts_by_the_run_columns(admin_client: Client, column: str, field: str) -> None:
    add_runs(FlowFactory(), 2, active=True)
    # Column 0 is the action checkbox.
    index = FlowAdmin.list_display.index(column) + 1

    response = admin_client.get(changelist_url(), {"o": f"-{index}"})

    assert response.status_code == 200
    assert response.context["cl"].result_list.query.order_by[0] == f"-{field}"


# Schedules on the changelist


def row_of(page: str, name: str) -> str:
    """Return the changelist's table row of flow ``name``."""
    (row,) = [row for row in page.split("<tr")[1:] if f">{name}</a></th>" in row]
    return row.split("</tr>")[0]


def test_changelist_shows_each_schedule_its_next_run_and_last_scheduled_run(
    admin_client: Client, time_machine, settings
) -> None:
    settings.TIME_ZONE = "Europe/Amsterdam"
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    on = FlowFactory(name="on", schedule="*/15 * * * *")
    FlowFactory(name="off", schedule="0 9 * * *", schedule_enabled=False)
    FlowFactory(name="unscheduled")
    FlowFactory(name="over", schedule="0 9 * * *", schedule_ends=date(2024, 5, 31))
    scheduled = FlowRun.objects.create(
        flow=on,
        trigger=Trigger.SCHEDULE,
        status=FlowRunStatus.SUCCEEDED,
        scheduled_for=utc(2024, 6, 1, 12, 0),
        queued_at=utc(2024, 6, 1, 12, 0),
    )
    FlowRun.objects.create(flow=on, trigger=Trigger.ADMIN, status=FlowRunStatus.SUCCEEDED)

    page = admin_client.get(changelist_url()).content.decode().replace("\xa0", " ")

    row = row_of(page, "on")
    assert (
        '<td class="field-schedule_summary"><span class="adminflow-nowrap"><code>*/15 * * * *'
        '</code></span><br><span class="adminflow-nowrap">next <span title="2024-06-01 14:15 '
        'CEST">in 10 minutes</span></span><br><span class="adminflow-nowrap">last <span '
        f'title="2024-06-01 14:00 CEST"><a href="/admin/adminflow/flowrun/{scheduled.pk}/change/">'
        '<span class="adminflow-badge status-succeeded" data-status="succeeded">Succeeded</span>'
        "</a></span></span></td>"
    ) in row
    assert (
        '<td class="field-schedule_summary"><span class="adminflow-nowrap"><code>0 9 * * *</code> '
        '<span class="adminflow-muted">off</span></span></td>'
    ) in row_of(page, "off")
    assert '<td class="field-schedule_summary">—</td>' in row_of(page, "unscheduled")
    assert '<span class="adminflow-nowrap">ended on 2024-05-31</span></td>' in row_of(page, "over")


def test_changelist_queries_do_not_grow_with_scheduled_runs(admin_client: Client) -> None:
    def add_flows(count: int) -> None:
        for _ in range(count):
            flow = FlowFactory(schedule="*/15 * * * *")
            add_runs(flow, 2, active=False)
            FlowRun.objects.bulk_create(
                FlowRun(
                    flow=flow,
                    trigger=Trigger.SCHEDULE,
                    status=FlowRunStatus.SUCCEEDED,
                    scheduled_for=timezone.now() - timedelta(minutes=15 * i),
                )
                for i in range(3)
            )

    add_flows(2)
    queries_for_few = changelist_queries(admin_client)
    add_flows(60)

    assert changelist_queries(admin_client) == queries_for_few


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("on", {"daily"}),
        ("off", {"paused"}),
        ("none", {"numbers", "plain"}),
        (None, {"daily", "paused", "numbers", "plain"}),
    ],
)
def test_changelist_filters_flows_by_their_schedule(
    admin_client: Client, numbers: Flow, value: str | None, shown: set[str]
) -> None:
    FlowFactory(name="daily", schedule="0 9 * * *")
    FlowFactory(name="paused", schedule="0 9 * * *", schedule_enabled=False)
    FlowFactory(name="plain")

    response = admin_client.get(changelist_url(), {"scheduled": value} if value else {})

    names = {flow.name for flow in response.context["cl"].result_list}
    assert names & {"daily", "paused", "numbers", "plain"} == shown


@pytest.mark.parametrize(
    ("column", "field"),
    [("schedule_summary", "schedule_due_at"), ("recent_runs", "last_run_finished_at")],
)
def test_changelist_sorts_by_the_schedule_columns(
    admin_client: Client, column: str, field: str
) -> None:
    FlowFactory(schedule="0 9 * * *")
    index = FlowAdmin.list_display.index(column) + 1

    response = admin_client.get(changelist_url(), {"o": f"-{index}"})

    assert response.status_code == 200
    assert response.context["cl"].result_list.query.order_by[0] == f"-{field}"
