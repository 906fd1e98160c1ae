"""The run admin through the test client: who may see what, the changelist and the run page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape

from adminflow.admin import FlowRunAdmin, RecordChangeAdmin
from adminflow.models import Flow, FlowRun, Record, RecordChange, StepRun, Worker
from adminflow.runs import execute_run, start_run
from adminflow.states import FlowRunStatus, StepRunStatus, Trigger
from tests.factories import (
    FlowFactory,
    FlowRunFactory,
    RunningFlowRunFactory,
    StaffUserFactory,
    StepRunFactory,
)
from tests.storer_flows import members_flow

from .run_helpers import (
    CANCEL,
    RERUN,
    RESUME,
    SCRIPT,
    VIEW,
    add_changes,
    add_lines,
    client_for,
    finished_run,
    run_url,
    runs_url,
)

pytestmark = pytest.mark.django_db


def ids_listed(response) -> list[int]:
    return [run.pk for run in response.context["cl"].result_list]


# Who may see what


@pytest.mark.parametrize("view", ["changelist", "change", "live"])
def test_anonymous_users_are_sent_to_the_login_page(client: Client, view: str) -> None:
    run = finished_run()
    url = runs_url() if view == "changelist" else run_url(run, view)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("view", ["changelist", "change", "live", "history"])
def test_staff_without_the_view_permission_are_refused(view: str) -> None:
    run = finished_run()
    url = runs_url() if view == "changelist" else run_url(run, view)
    client = client_for(CANCEL, RERUN, RESUME)  # action permissions alone show nothing

    assert client.get(url).status_code == 403


def test_runs_are_read_only_even_for_a_superuser(admin_client: Client) -> None:
    run = finished_run()

    assert admin_client.get(reverse("admin:adminflow_flowrun_add")).status_code == 403
    assert admin_client.post(run_url(run, "delete"), {"post": "yes"}).status_code == 403
    assert admin_client.post(run_url(run), {"status": "succeeded"}).status_code == 403
    page = admin_client.get(runs_url()).content.decode()
    assert "delete_selected" not in page
    assert reverse("admin:adminflow_flowrun_add") not in page
    run.refresh_from_db()
    assert run.status == FlowRunStatus.FAILED


def test_a_missing_run_sends_the_user_back_with_a_message(viewer: Client) -> None:
    response = viewer.get(reverse("admin:adminflow_flowrun_change", args=[9999]), follow=True)

    assert "run with ID “9999” doesn\N{RIGHT SINGLE QUOTATION MARK}t exist" in (
        response.content.decode()
    )


# The changelist


def test_the_changelist_shows_who_ran_what_and_how_it_went(viewer: Client) -> None:
    user = StaffUserFactory(username="ana")
    finished_run(
        triggered_by=user, debug=True, records_added=4, records_changed=5, records_removed=6
    )

    page = viewer.get(runs_url()).content.decode()

    assert (
        '<span class="adminflow-badge status-failed" data-status="failed">Failed</span> '
        '<span class="adminflow-muted">debug</span>'
    ) in page
    assert '<td class="field-trigger_who">Admin <span class="adminflow-muted">· ana</span>' in page
    assert '<span class="adminflow-muted">· 10s</span></td>' in page
    assert 'title="added, changed, removed">+4 ~5 -6</span></td>' in page
    assert "adminflow/adminflow.css" in page


def test_the_changelist_offers_only_the_actions_the_user_may_take() -> None:
    finished_run()

    def actions_offered(client: Client) -> set[str]:
        form = client.get(runs_url()).context["action_form"]
        return {name for name, _label in form.fields["action"].choices if name} if form else set()

    assert actions_offered(client_for(VIEW)) == set()
    assert actions_offered(client_for(VIEW, CANCEL)) == {"cancel_runs"}
    assert actions_offered(client_for(VIEW, RERUN, RESUME)) == {
        "rerun_runs",
        "resume_runs",
        "resume_runs_with_flow_config",
    }


@pytest.fixture
def assorted_runs() -> dict[str, FlowRun]:
    numbers, other = FlowFactory(name="numbers-x"), FlowFactory(name="other")
    day = timezone.now() - timedelta(days=400)
    return {
        "failed": FlowRunFactory(
            flow=numbers, status=FlowRunStatus.FAILED, error="boom: disk full", worker="w1:1"
        ),
        "debug": FlowRunFactory(
            flow=other, status=FlowRunStatus.SUCCEEDED, debug=True, trigger=Trigger.ADMIN
        ),
        "old": FlowRunFactory(
            flow=other, status=FlowRunStatus.SUCCEEDED, queued_at=day, worker="w2:7"
        ),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status__exact": "failed"}, ["failed"]),
        ({"trigger__exact": "admin"}, ["debug"]),
        ({"debug__exact": "1"}, ["debug"]),
        ({"q": "disk full"}, ["failed"]),
        ({"q": "w2:7"}, ["old"]),
        ({"q": "numbers-x"}, ["failed"]),
        ({"flow": "other"}, ["debug", "old"]),
        ({"queued_at": "this year"}, ["failed", "debug"]),
    ],
)
def test_runs_are_filtered_and_searched(
    viewer: Client, assorted_runs: dict[str, FlowRun], query: dict[str, str], expected: list[str]
) -> None:
    if "flow" in query:
        query = {"flow__id__exact": str(Flow.objects.get(name=query["flow"]).pk)}
    if "queued_at" in query:  # the date filter's own "This year" link
        year = timezone.localtime().replace(
            month=1, day=1, hour=0, minute=0, second=0, microsecond=0
        )
        query = {
            "queued_at__gte": str(year),
            "queued_at__lt": str(year.replace(year=year.year + 1)),
        }

    response = viewer.get(runs_url(), query)

    assert sorted(ids_listed(response)) == sorted(assorted_runs[name].pk for name in expected)


def test_the_changelist_takes_a_bounded_number_of_queries_with_10k_runs(
    django_assert_max_num_queries,
) -> None:
    flows = [FlowFactory() for _ in range(5)]
    users = [StaffUserFactory() for _ in range(3)]
    now = timezone.now()
    FlowRun.objects.bulk_create(
        FlowRun(
            flow=flows[number % 5],
            status=FlowRunStatus.FAILED if number % 7 == 0 else FlowRunStatus.SUCCEEDED,
            trigger=Trigger.ADMIN,
            triggered_by=users[number % 3],
            queued_at=now - timedelta(hours=number),
            started_at=now - timedelta(hours=number),
            finished_at=now - timedelta(hours=number) + timedelta(seconds=number % 90),
            error="boom" if number % 7 == 0 else "",
            records_added=number,
        )
        for number in range(10_000)
    )
    client = client_for(VIEW, CANCEL, RERUN, RESUME)

    for query in [{}, {"status__exact": "failed", "q": "boom"}, {"p": "50"}]:
        with django_assert_max_num_queries(10):
            response = client.get(runs_url(), query)
        assert response.status_code == 200
        assert len(ids_listed(response)) == 100


# The run page


def test_the_run_page_sums_the_run_up(viewer: Client) -> None:
    resumed = FlowRunFactory(status=FlowRunStatus.FAILED)
    run = finished_run(
        triggered_by=StaffUserFactory(username="ana"),
        traceback="Traceback (most recent call last):\nRuntimeError: step 'b' failed",
        resumed_from=resumed,
        records_added=2,
    )

    page = viewer.get(run_url(run)).content.decode()

    assert f"<title>{run} |" in page
    assert f'<a href="/admin/adminflow/flow/{run.flow_id}/change/">{run.flow.name}</a>' in page
    assert "Admin · ana" in page
    assert "host:42" in page
    assert '<span data-run-field="records_added">2</span>' in page
    assert "RuntimeError: step &#x27;b&#x27; failed</pre>" in page
    assert f'resumed from <a href="/admin/adminflow/flowrun/{resumed.pk}/change/">' in page
    # The config snapshot as YAML, its secret masked as stored.
    assert "num_threads: 2\n" in page
    assert "b:\n  token: &#x27;********&#x27;\n" in page


def test_the_run_page_draws_each_step_on_a_shared_time_axis(viewer: Client) -> None:
    run = finished_run()

    response = viewer.get(run_url(run))
    page = response.content.decode()

    bars = {
        bar.step.name: (bar.left, bar.width, bar.started)
        for bar in response.context["timeline"].bars
    }
    # a ran 0-4 s, b 4-9 s of a 10 s run; c never started.
    assert bars == {"a": (0.0, 40.0, True), "b": (40.0, 50.0, True), "c": (0.0, 0.0, False)}
    assert response.context["timeline"].ticks == ["0.0s", "2.5s", "5.0s", "7.5s", "10s"]
    assert 'class="adminflow-bar status-failed" data-bar' in page
    assert 'x="40.0" width="50.0"' in page
    assert "never started" in page
    # The DAG, coloured by the steps' statuses.
    assert '<g class="node kind-update status-upstream_failed" data-step="c">' in page
    assert '<g class="node kind-update status-failed" data-step="b">' in page


def test_the_run_page_lists_step_errors_with_their_tracebacks(viewer: Client) -> None:
    page = viewer.get(run_url(finished_run())).content.decode()

    errors = page[page.index('id="step-errors"') : page.index('id="config"')]
    assert '<th scope="row">b</th>' in errors
    assert "ValueError: bad row</pre>" in errors
    assert "Traceback (most recent call last):\nValueError: bad row</pre>" in errors
    assert '<th scope="row">a</th>' not in errors


def test_the_run_page_shows_metadata_kept_as_a_repr_as_its_text(viewer: Client) -> None:
    run = finished_run(metadata={"count": 3, "when": {"__repr__": "datetime.date(2024, 9, 1)"}})

    response = viewer.get(run_url(run))

    rows = {row.name: (row.text, row.is_repr) for row in response.context["metadata"]}
    assert rows == {"count": ("3", False), "when": ("datetime.date(2024, 9, 1)", True)}
    assert "datetime.date(2024, 9, 1)</pre>" in response.content.decode()


def test_a_queued_run_shows_the_steps_it_will_run(viewer: Client) -> None:
    run = start_run("numbers", trigger=Trigger.ADMIN, modes={"total": "exclude"})

    response = viewer.get(run_url(run))

    steps = [(step.name, step.status) for step in response.context["steps"]]
    assert steps == [
        ("add", "pending"),
        ("double", "pending"),
        ("increment", "pending"),
        ("total", "excluded"),
    ]
    assert not StepRun.objects.exists()  # shown, not written
    assert 'data-active="true"' in response.content.decode()
    # Nothing started: no axis, only blank ticks for the live page to fill in.
    assert response.context["timeline"].ticks == [""] * 5
    assert "0 ms" not in response.content.decode()


def test_nothing_on_the_run_page_is_taken_as_html(viewer: Client) -> None:
    run = finished_run(
        error=SCRIPT,
        traceback=SCRIPT,
        metadata={SCRIPT: SCRIPT, "as repr": {"__repr__": SCRIPT}},
        config_snapshot={"step": {"label": SCRIPT}},
        worker=SCRIPT,
    )
    StepRun.objects.filter(run=run, name="b").update(error=SCRIPT, traceback=SCRIPT)
    RecordChange.objects.create(
        run=run, collection=SCRIPT, key=SCRIPT, action="changed", before={"n": SCRIPT}, after={}
    )
    StepRunFactory(run=run, name=SCRIPT, position=9)

    page = viewer.get(run_url(run)).content.decode()

    assert "<script>alert" not in page
    assert page.count("&lt;script&gt;alert") >= 10


def test_the_run_page_pages_its_record_changes(viewer: Client) -> None:
    run = finished_run()
    changes = add_changes(run, 120)

    first = viewer.get(run_url(run))
    third = viewer.get(run_url(run), {"changes_page": "3", "log_level": "30"})

    assert [row.change.pk for row in first.context["change_rows"]] == [c.pk for c in changes[:50]]
    assert [row.change.pk for row in third.context["change_rows"]] == [c.pk for c in changes[100:]]
    assert "120 changes · page 3 of 3" in third.content.decode()
    # Links keep the log's filter; a changed record shows only the fields that changed.
    assert third.context["changes_links"] == {
        "previous": "?changes_page=2&log_level=30",
        "next": None,
    }
    row = first.context["change_rows"][0]
    assert (row.before, row.after) == ('{\n  "name": "old 0"\n}', '{\n  "name": "new 0"\n}')


def test_the_run_page_takes_a_bounded_number_of_queries(
    viewer: Client, django_assert_num_queries
) -> None:
    small = finished_run()
    add_changes(small, 1)
    big = finished_run()
    StepRun.objects.bulk_create(
        StepRun(run=big, name=f"step-{number}", kind="update", status=StepRunStatus.SUCCEEDED)
        for number in range(60)
    )
    add_lines(big, 3000)
    add_changes(big, 500)
    FlowRunFactory.create_batch(5, resumed_from=big, status=FlowRunStatus.FAILED)
    viewer.get(run_url(small))  # the session and permission caches warm up alike

    with CaptureQueriesContext(connection) as small_queries:
        viewer.get(run_url(small))
    with django_assert_num_queries(len(small_queries)):
        assert viewer.get(run_url(big)).status_code == 200
    assert len(small_queries) <= 12


# The end of a run, on a page that followed it


def comparable(html: str) -> str:
    """Return ``html`` with what differs in each rendering blanked: its CSRF tokens (masked
    anew) and the ids of the DAG picture's arrowheads (unique on any page)."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken"', html)
    return re.sub(r"adminflow-arrow-\d+", "adminflow-arrow", html)


def test_once_a_run_ends_the_live_endpoint_sends_the_page_s_state_as_a_reload_shows_it() -> None:
    client = client_for(VIEW, CANCEL, RERUN)
    run = finished_run(status=FlowRunStatus.RUNNING, finished_at=None, error="", worker="")
    add_lines(run, 3)
    following = client.get(run_url(run), {"log_step": "a"}).content.decode()
    assert "This run is active: the page follows it.\n</p>" in following

    FlowRun.objects.filter(pk=run.pk).update(
        status=FlowRunStatus.SUCCEEDED,
        finished_at=timezone.now(),
        worker="host:4242",
        num_threads=2,
        metadata={"sent": 3},
        records_added=60,
    )
    add_changes(run, 60)
    data = client.get(run_url(run, "live"), {"after": "0", "first": "1", "log_step": "a"}).json()
    reloaded = client.get(run_url(run), {"log_step": "a"}).content.decode()

    state = comparable(data["state_html"]).strip()
    assert state.startswith('<div class="adminflow-run-state" data-run-state>')
    assert state in comparable(reloaded)
    assert state not in comparable(following)
    assert "Re-run with the same config" in state
    assert "Cancel run" not in state
    assert '<span data-run-field="worker">host:4242</span> · 2 threads' in state
    assert "60 changes · page 1 of 2" in state
    assert 'href="?log_step=a&amp;changes_page=2#changes"' in state
    assert "No record change was recorded" not in state
    assert "the page follows it" in state  # as in a reload: present, and hidden
    assert 'data-live-status hidden aria-live="polite"' in state


def test_the_live_endpoint_sends_the_page_s_state_only_with_a_final_run_s_last_line(
    viewer: Client,
) -> None:
    running = RunningFlowRunFactory()
    add_lines(running, 3)
    finished = finished_run()
    lines = [line.pk for line in add_lines(finished, 700)]

    assert viewer.get(run_url(running, "live")).json()["state_html"] is None
    assert viewer.get(run_url(running, "live"), {"lines": "0"}).json()["state_html"] is None
    first = viewer.get(run_url(finished, "live")).json()
    last = viewer.get(run_url(finished, "live"), {"after": str(lines[499])}).json()
    unfollowed = viewer.get(run_url(finished, "live"), {"lines": "0"}).json()

    assert (first["more"], first["state_html"]) == (True, None)
    assert last["more"] is False
    assert comparable(last["state_html"]) == comparable(unfollowed["state_html"])
    assert "data-run-state" in last["state_html"]


# A site of its own


ops_site = admin.AdminSite(name="ops")
ops_site.register(FlowRun, FlowRunAdmin)
ops_site.register(RecordChange, RecordChangeAdmin)
urlpatterns = [path("ops/", ops_site.urls)]


@pytest.mark.urls(__name__)
def test_the_run_page_links_within_the_site_it_is_on() -> None:
    run = finished_run()
    add_changes(run, 1)
    # Record changes are linked for staff who may view them.
    client = client_for(VIEW, RERUN, "adminflow.view_recordchange")

    page = client.get(run_url(run, site="ops")).content.decode()
    listing = client.get(runs_url(site="ops"))

    assert f'data-live-url="/ops/adminflow/flowrun/{run.pk}/live/"' in page
    assert f'action="/ops/adminflow/flowrun/{run.pk}/rerun/"' in page
    assert 'href="/ops/adminflow/recordchange/?collection=students&amp;key=k00000"' in page
    assert 'href="/admin/' not in page
    assert 'action="/admin/' not in page
    assert listing.status_code == 200
    live = client.get(run_url(run, "live", site="ops")).json()
    assert live["run"]["id"] == run.pk
    assert f'action="/ops/adminflow/flowrun/{run.pk}/rerun/"' in live["state_html"]
    assert 'href="/admin/' not in live["state_html"]


def test_a_queued_run_of_a_flow_no_longer_registered_still_shows(viewer: Client) -> None:
    run = FlowRunFactory(flow=FlowFactory(name="gone"), status=FlowRunStatus.QUEUED)

    response = viewer.get(run_url(run))

    assert response.status_code == 200
    assert "No step was recorded for this run." in response.content.decode()


# Which config a run used, what its storer said, whether it waits for a worker


def test_the_run_page_says_which_config_the_run_used(viewer: Client) -> None:
    earlier = FlowRunFactory(status=FlowRunStatus.FAILED)
    rerun = finished_run(config_source="run", config_from=earlier)
    resumed = finished_run(config_source="flow")
    given = finished_run(config_source="given")

    def config_row(run: FlowRun) -> str:
        page = viewer.get(run_url(run)).content.decode()
        return page.split('<th scope="row">Config</th>')[1].split("</tr>")[0].strip()

    assert config_row(rerun) == (
        f'<td>the config of run <a href="{run_url(earlier)}">#{earlier.pk}</a></td>'
    )
    assert config_row(resumed) == "<td>the flow&#x27;s stored config</td>"
    assert config_row(given) == "<td>a config given to the run</td>"


@pytest.mark.django_db(transaction=True)
def test_the_run_page_says_what_a_debug_store_would_have_written(register) -> None:
    register(members_flow())
    Record.objects.create(
        collection="roster.members", key="ada", data={"netid": "ada", "name": "Ada"}
    )
    run = execute_run(start_run("roster", trigger=Trigger.COMMAND, debug=True))
    run.refresh_from_db()

    page = client_for(VIEW).get(run_url(run)).content.decode()

    row = page.split('<th scope="row">Storer</th>')[1].split("</tr>")[0]
    assert f'<pre class="adminflow-pre">{escape(run.storer_report)}</pre>' in row
    assert "debug: would add 1" in row


def test_a_run_whose_storer_said_nothing_has_no_storer_row(viewer: Client) -> None:
    page = viewer.get(run_url(finished_run())).content.decode()

    assert '<th scope="row">Storer</th>' not in page


def test_a_queued_run_no_worker_holds_says_it_waits_for_one(viewer: Client) -> None:
    waiting = FlowRunFactory(status=FlowRunStatus.QUEUED, worker="")
    page = viewer.get(run_url(waiting)).content.decode()
    assert "<span data-run-waiting> <strong>waiting: no worker seen yet</strong></span>" in page

    at = timezone.now() - timedelta(hours=3)
    Worker.objects.create(name="box:7", first_seen_at=at, last_seen_at=at)
    when = date_format(timezone.localtime(at), "DATETIME_FORMAT")
    page = viewer.get(run_url(waiting)).content.decode()
    assert f'<strong title="box:7">waiting: no worker seen since {when}</strong>' in page


@pytest.mark.parametrize("case", ["worker seen lately", "run held", "run running"])
def test_a_run_a_worker_will_take_does_not_say_it_waits(viewer: Client, case: str) -> None:
    if case == "worker seen lately":
        now = timezone.now()
        Worker.objects.create(name="box:7", first_seen_at=now, last_seen_at=now)
        run = FlowRunFactory(status=FlowRunStatus.QUEUED, worker="")
    elif case == "run held":
        run = FlowRunFactory(status=FlowRunStatus.QUEUED, worker="box:7")
    else:
        run = RunningFlowRunFactory(worker="box:7")

    page = viewer.get(run_url(run)).content.decode()

    assert "waiting: no worker" not in page
    assert "data-run-waiting" not in page


def test_the_live_endpoint_shows_the_worker_once_one_took_the_run(viewer: Client) -> None:
    run = FlowRunFactory(status=FlowRunStatus.QUEUED, worker="")
    page = viewer.get(run_url(run)).content.decode()
    assert '<span data-run-field="worker">—</span>' in page
    assert viewer.get(run_url(run, "live")).json()["run"]["fields"]["worker"] == ""

    FlowRun.objects.filter(pk=run.pk).update(
        status=FlowRunStatus.RUNNING, worker="box:7", started_at=timezone.now()
    )

    assert viewer.get(run_url(run, "live")).json()["run"]["fields"]["worker"] == "box:7"
