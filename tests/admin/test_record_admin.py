"""Records and record changes in the admin: read-only, filtered, escaped, with each record's
history, and listed only on a site that keeps typed records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from unittest.mock import ANY

import pytest
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path, reverse

from adminflow import AdminFlow
from adminflow.admin.record_admin import RecordAdmin, RecordChangeAdmin
from adminflow.admin.record_history import HISTORY_LIMIT
from adminflow.models import Record, RecordChange
from adminflow.registry import step_registry
from adminflow.states import FlowRunStatus
from adminflow.storage import DjangoRecordStorer
from tests.factories import FlowRunFactory
from tests.run_helpers import registered_flows

from .run_helpers import ESCAPED_SCRIPT, SCRIPT, VIEW, client_for, run_url

IMG = '"><img src=x onerror=alert(2)>'


pytestmark = pytest.mark.django_db

VIEW_RECORDS = ("adminflow.view_record", "adminflow.view_recordchange")


@pytest.fixture
def record_viewer() -> Client:
    return client_for(*VIEW_RECORDS)


def url(model: str, view: str, *args: object) -> str:
    return reverse(f"admin:adminflow_{model}_{view}", args=args)


def listed(response) -> list[object]:
    return list(response.context["cl"].result_list)


@pytest.fixture
def history() -> dict[str, object]:
    """Record students/ana, added by one run, changed by a second, both with their audit rows."""
    first = FlowRunFactory(status=FlowRunStatus.SUCCEEDED)
    second = FlowRunFactory(status=FlowRunStatus.FAILED)
    record = Record.objects.create(collection="students", key="ana", data={"name": "Ana", "n": 2})
    Record.objects.create(collection="groups", key="g1", data={})
    Record.objects.create(collection="students", key="bo", data={})
    added = RecordChange.objects.create(
        run=first, collection="students", key="ana", action="added", after={"name": "Ana", "n": 1}
    )
    changed = RecordChange.objects.create(
        run=second,
        collection="students",
        key="ana",
        action="changed",
        before={"name": "Ana", "n": 1},
        after={"name": "Ana", "n": 2},
    )
    removed = RecordChange.objects.create(
        run=second, collection="groups", key="g0", action="removed"
    )
    return {
        "record": record,
        "first": first,
        "second": second,
        "added": added,
        "changed": changed,
        "removed": removed,
    }


# Who may see what


@pytest.mark.parametrize(
    "target",
    [
        ("record", "changelist"),
        ("recordchange", "changelist"),
        ("record", "change", "record"),
        ("recordchange", "change", "changed"),
    ],
)
def test_anonymous_users_and_staff_without_permission_are_refused(
    client: Client, history, target
) -> None:
    model, view, *obj = target
    address = url(model, view, *[history[name].pk for name in obj])

    anonymous = client.get(address)

    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/admin/login/")
    assert client_for("adminflow.view_flowrun").get(address).status_code == 403
    assert client_for(*VIEW_RECORDS).get(address).status_code == 200


@pytest.mark.parametrize("model", ["record", "recordchange"])
def test_records_and_their_changes_are_read_only_even_for_a_superuser(
    admin_client: Client, history, model: str
) -> None:
    obj = history["record"] if model == "record" else history["changed"]

    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.post(url(model, "change", obj.pk), {"key": "x"}).status_code == 403
    assert admin_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    obj.refresh_from_db()
    assert obj.key == "ana"
    page = admin_client.get(url(model, "change", obj.pk)).content.decode()
    assert 'name="_save"' not in page


# Browsing


@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ({}, ["g1", "ana", "bo"]),
        ({"collection": "students"}, ["ana", "bo"]),
        ({"q": "an"}, ["ana"]),
    ],
)
def test_records_are_filtered_by_collection_and_searched_by_key(
    record_viewer: Client, history, query: dict[str, str], keys: list[str]
) -> None:
    response = record_viewer.get(url("record", "changelist"), query)

    assert [record.key for record in listed(response)] == keys


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["removed", "changed", "added"]),
        ({"action__exact": "removed"}, ["removed"]),
        ({"collection": "students"}, ["changed", "added"]),
        ({"q": "g0"}, ["removed"]),
    ],
)
def test_record_changes_are_filtered_newest_first(
    record_viewer: Client, history, query: dict[str, str], expected: list[str]
) -> None:
    response = record_viewer.get(url("recordchange", "changelist"), query)

    assert [change.pk for change in listed(response)] == [history[name].pk for name in expected]


def test_a_record_change_links_to_its_run_and_to_its_record_s_history(
    record_viewer: Client, history
) -> None:
    change = history["changed"]

    listing = record_viewer.get(url("recordchange", "changelist")).content.decode()
    page = record_viewer.get(url("recordchange", "change", change.pk)).content.decode()

    link = f'<a href="{run_url(change.run)}">{change.run}</a>'
    assert link in listing
    assert link in page
    assert f"{url('recordchange', 'changelist')}?collection=students&amp;key=ana" in page
    assert "&quot;n&quot;: 1" in page  # before
    assert "&quot;n&quot;: 2" in page  # after


def test_a_record_s_page_shows_its_history_across_runs_newest_first(history) -> None:
    record = history["record"]

    response = client_for(*VIEW_RECORDS, VIEW).get(url("record", "change", record.pk))

    entries = response.context["record_history"].entries
    assert [entry.change.pk for entry in entries] == [history["changed"].pk, history["added"].pk]
    assert [(entry.row.before, entry.row.after) for entry in entries] == [
        ('{\n  "n": 1\n}', '{\n  "n": 2\n}'),
        ("", ANY),
    ]
    assert json.loads(entries[1].row.after) == {"name": "Ana", "n": 1}  # in the database's order
    page = response.content.decode()
    assert f'<a href="{run_url(history["second"])}">{history["second"]}</a>' in page
    assert 'class="adminflow-badge status-failed"' in page
    assert "&quot;name&quot;: &quot;Ana&quot;" in page
    assert response.context["record_history"].truncated is False


def test_a_long_history_is_cut_with_a_link_to_the_rest(record_viewer: Client) -> None:
    run = FlowRunFactory(status=FlowRunStatus.SUCCEEDED)
    record = Record.objects.create(collection="c", key="k", data={})
    RecordChange.objects.bulk_create(
        RecordChange(
            run=run, collection="c", key="k", action="changed", before={"n": n}, after={"n": n + 1}
        )
        for n in range(HISTORY_LIMIT + 5)
    )

    response = record_viewer.get(url("record", "change", record.pk))

    history = response.context["record_history"]
    assert len(history.entries) == HISTORY_LIMIT
    assert history.entries[0].change.after == {"n": HISTORY_LIMIT + 5}
    assert history.truncated is True
    assert (
        f'href="{url("recordchange", "changelist")}?collection=c&amp;key=k"'
        in response.content.decode()
    )


def test_nothing_stored_in_a_record_or_a_change_is_taken_as_html(record_viewer: Client) -> None:
    run = FlowRunFactory(status=FlowRunStatus.SUCCEEDED)
    record = Record.objects.create(collection=SCRIPT, key=SCRIPT, data={SCRIPT: SCRIPT})
    change = RecordChange.objects.create(
        run=run,
        collection=SCRIPT,
        key=SCRIPT,
        action="changed",
        before={"n": SCRIPT},
        after={SCRIPT: 1},
    )

    pages = [
        record_viewer.get(url("record", "changelist")),
        record_viewer.get(url("record", "change", record.pk)),
        record_viewer.get(url("recordchange", "changelist")),
        record_viewer.get(url("recordchange", "change", change.pk)),
    ]

    for page in pages:
        html = page.content.decode()
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert" in html


def test_the_record_pages_take_a_bounded_number_of_queries(record_viewer: Client) -> None:
    runs = FlowRunFactory.create_batch(20, status=FlowRunStatus.SUCCEEDED)
    record = Record.objects.create(collection="students", key="k00000", data={})
    Record.objects.bulk_create(
        Record(collection=f"c{n % 7}", key=f"k{n:05d}", data={"n": n}) for n in range(1, 2000)
    )
    RecordChange.objects.bulk_create(
        RecordChange(
            run=runs[n % 20],
            collection="students",
            key=f"k{n % 10:05d}",
            action="changed",
            before={},
            after={"n": n},
        )
        for n in range(3000)
    )
    record_viewer.get(url("record", "changelist"))  # the session and permission caches warm up

    for address in [
        url("record", "changelist"),
        url("record", "changelist") + "?collection=c3&q=k0",
        url("record", "change", record.pk),
        url("recordchange", "changelist"),
        url("recordchange", "changelist") + "?action__exact=changed&collection=students",
        url("recordchange", "change", RecordChange.objects.first().pk),
    ]:
        with CaptureQueriesContext(connection) as queries:
            assert record_viewer.get(address).status_code == 200
        assert len(queries) <= 9, address


def test_a_record_s_history_and_its_links_are_shown_only_to_who_may_view_them() -> None:
    run = FlowRunFactory(status=FlowRunStatus.SUCCEEDED)
    record = Record.objects.create(collection="c", key="k", data={})
    RecordChange.objects.bulk_create(
        RecordChange(run=run, collection="c", key="k", action="changed", before={}, after={})
        for _ in range(HISTORY_LIMIT + 1)
    )
    every_change = f'href="{url("recordchange", "changelist")}?collection=c&amp;key=k"'

    def page(*permissions: str) -> str:
        return client_for(*permissions).get(url("record", "change", record.pk)).content.decode()

    everything = page(*VIEW_RECORDS, VIEW)
    assert f'<a href="{run_url(run)}">{run}</a>' in everything
    assert every_change in everything
    without_runs = page(*VIEW_RECORDS)
    assert f"<td>{run}</td>" in without_runs
    assert "/flowrun/" not in without_runs
    assert every_change in without_runs
    without_changes = page("adminflow.view_record", VIEW)
    assert 'id="history"' not in without_changes
    assert every_change not in without_changes
    assert run_url(run) not in without_changes


def test_what_a_run_changed_is_shown_before_and_after_as_text(record_viewer: Client) -> None:
    run = FlowRunFactory(status=FlowRunStatus.SUCCEEDED)
    record = Record.objects.create(collection="c", key="k", data={"n": "now"})
    RecordChange.objects.create(
        run=run, collection="c", key="k", action="changed", before={"n": SCRIPT}, after={"n": IMG}
    )

    html = record_viewer.get(url("record", "change", record.pk)).content.decode()

    assert (
        f'<pre class="adminflow-pre">{{\n  &quot;n&quot;: &quot;{ESCAPED_SCRIPT}&quot;\n}}</pre>'
        in html
    )
    assert "&quot;n&quot;: &quot;\\&quot;&gt;&lt;img src=x onerror=alert(2)&gt;&quot;" in html
    assert "<script>alert" not in html
    assert "<img" not in html


# Listed only where typed records are kept


@dataclass
class Member:
    netid: str


class Members(DjangoRecordStorer[Member]):
    description = "Members as typed records."
    record_type = Member
    key = "netid"


def listed_models(client: Client, address: str) -> set[str]:
    """Return the models ``address`` lists in its app list (the index's, or the sidebar's)."""
    context = client.get(address).context
    apps = context.get("app_list") or context["available_apps"]
    return {model["object_name"] for app in apps for model in app["models"]}


def test_records_are_listed_only_while_the_site_keeps_typed_records(admin_client: Client) -> None:
    pages = [
        reverse("admin:index"),
        reverse("admin:app_list", args=["adminflow"]),
        url("recordchange", "changelist"),  # the sidebar
    ]

    def listed() -> list[bool]:
        return ["Record" in listed_models(admin_client, page) for page in pages]

    # This site's flows store its own models (the course's students): no typed records.
    assert listed() == [False, False, False]
    assert all("RecordChange" in listed_models(admin_client, page) for page in pages)
    # Unlisted is not closed: the records' pages answer by permission as ever.
    assert client_for(*VIEW_RECORDS).get(url("record", "changelist")).status_code == 200
    assert client_for(VIEW).get(url("record", "changelist")).status_code == 403
    # A typed flow, before its first run: its records' page is where they will be.
    with registered_flows() as register:
        register(AdminFlow("members", "typed members", Members, "members"))
        assert listed() == [True, True, True]
        assert "Record" in listed_models(client_for(*VIEW_RECORDS), reverse("admin:index"))
        assert "Record" not in listed_models(client_for(VIEW), reverse("admin:index"))
    # A typed storer a flow defined as data can name.
    step_registry.register(Members)
    try:
        assert listed() == [True, True, True]
    finally:
        step_registry.unregister("Members")
    # Typed records kept, though no registered storer keeps them (any more).
    assert listed() == [False, False, False]
    Record.objects.create(collection="members.members", key="ana", data={"netid": "ana"})
    assert listed() == [True, True, True]


def test_the_index_asks_the_database_once_whether_typed_records_are_kept(
    admin_client: Client,
) -> None:
    admin_client.get(reverse("admin:index"))  # the session and permission caches warm up

    with CaptureQueriesContext(connection) as queries:
        admin_client.get(reverse("admin:index"))

    asked = [query for query in queries if 'FROM "adminflow_record"' in query["sql"]]
    assert len(asked) == 1
    with registered_flows() as register, CaptureQueriesContext(connection) as queries:
        register(AdminFlow("members", "typed members", Members, "members"))
        admin_client.get(reverse("admin:index"))
    assert not [query for query in queries if 'FROM "adminflow_record"' in query["sql"]]


# Sites of their own, without the run admin


records_site = admin.AdminSite(name="records")
records_site.register(Record, RecordAdmin)
changes_site = admin.AdminSite(name="changes")
changes_site.register(RecordChange, RecordChangeAdmin)
urlpatterns = [path("records/", records_site.urls), path("changes/", changes_site.urls)]


@pytest.mark.urls(__name__)
def test_a_site_without_runs_shows_a_record_s_runs_as_text(history) -> None:
    record = history["record"]
    client = client_for(*VIEW_RECORDS)

    page = client.get(reverse("records:adminflow_record_change", args=[record.pk]))

    assert page.status_code == 200
    assert f"<td>{history['second']}</td>" in page.content.decode()
    assert "/flowrun/" not in page.content.decode()


@pytest.mark.urls(__name__)
def test_a_site_with_record_changes_but_no_runs_shows_their_runs_as_text(history) -> None:
    change = history["changed"]
    client = client_for(*VIEW_RECORDS)

    listing = client.get(reverse("changes:adminflow_recordchange_changelist"))
    page = client.get(reverse("changes:adminflow_recordchange_change", args=[change.pk]))

    assert (listing.status_code, page.status_code) == (200, 200)
    for response in (listing, page):
        assert str(change.run) in response.content.decode()
        assert "/flowrun/" not in response.content.decode()
    history_url = reverse("changes:adminflow_recordchange_changelist")
    assert f'href="{history_url}?collection=students&amp;key=ana"' in page.content.decode()
