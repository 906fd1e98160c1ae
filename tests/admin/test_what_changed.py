"""What a run changed: the run page's summary, the changes list's filters and its CSV export.

Pages are asked through the test client; each is asked for a run of 10
changes among a few runs and for one of 20,000 among 1,000 runs, and must
make the same number of queries, within its bound.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from adminflow.models import FlowRun, RecordChange
from tests.factories import FlowFactory

from .change_helpers import COLLECTION, changed_run, key, queries_of
from .run_helpers import VIEW, client_for, run_url

pytestmark = pytest.mark.django_db

VIEW_CHANGES = "adminflow.view_recordchange"
BIG = 20_000
RUNS = 1_000


@pytest.fixture
def staff() -> Client:
    return client_for(VIEW, VIEW_CHANGES)


def changes_url(**query: object) -> str:
    url = reverse("admin:adminflow_recordchange_changelist")
    return f"{url}?{'&'.join(f'{name}={value}' for name, value in query.items())}"


def export_url(**query: object) -> str:
    url = reverse("admin:adminflow_recordchange_export")
    return f"{url}?{'&'.join(f'{name}={value}' for name, value in query.items())}"


def href(url: str) -> str:
    return f'href="{url.replace("&", "&amp;")}"'


def listed_keys(client: Client, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200
    return sorted(change.key for change in response.context["cl"].result_list)


def exported(client: Client, url: str) -> list[dict[str, str]]:
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"] == 'attachment; filename="record-changes.csv"'
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def many_runs(count: int) -> None:
    flow = FlowFactory(name="other")
    FlowRun.objects.bulk_create(
        FlowRun(flow=flow, status="succeeded", trigger="command") for _ in range(count)
    )


# The run page's summary


def test_the_run_page_opens_with_what_the_run_changed_each_count_a_link(staff):
    run = changed_run(10)

    response = staff.get(run_url(run))

    summary = response.context["change_summary"]
    assert [(k.kind, k.count) for k in summary.kinds] == [
        ("added", 2),
        ("removed", 2),
        ("returned", 2),
        ("changed", 4),
    ]
    assert [(f.name, f.count) for f in summary.fields] == [("name", 4), ("group", 2)]
    html = response.content.decode()
    # First on the page, before the run's own summary.
    assert html.index('id="what-changed"') < html.index('id="summary"')
    assert href(changes_url(run=run.pk, kind="returned")) in html
    assert href(changes_url(run=run.pk, kind="changed", field="group")) in html
    assert href(run_url(run, "grid")) in html
    assert href(export_url(run=run.pk)) in html


def test_staff_who_may_not_view_changes_see_the_counts_without_links():
    run = changed_run(10)

    response = client_for(VIEW).get(run_url(run))

    summary = response.context["change_summary"]
    assert [k.count for k in summary.kinds] == [2, 2, 2, 4]
    assert {k.url for k in summary.kinds} == {None}
    assert (summary.changes_url, summary.export_url) == (None, None)
    # Nor links from the changes' keys to their history: the list would refuse them.
    assert reverse("admin:adminflow_recordchange_changelist") not in response.content.decode()


def test_a_run_stored_before_kinds_were_counted_shows_the_counts_it_has(staff):
    run = changed_run(0)
    FlowRun.objects.filter(pk=run.pk).update(
        change_summary={}, records_added=3, records_changed=1, records_removed=0
    )

    summary = staff.get(run_url(run)).context["change_summary"]

    assert [(k.kind, k.count) for k in summary.kinds] == [
        ("added", 3),
        ("removed", 0),
        ("returned", None),
        ("changed", 1),
    ]


def test_metadata_that_lists_records_is_a_count_that_expands(staff):
    run = changed_run(0)
    FlowRun.objects.filter(pk=run.pk).update(
        metadata={"roster_added": [key(n) for n in range(300)], "total": 300}
    )

    html = staff.get(run_url(run)).content.decode()

    assert "<summary>300 items</summary>" in html
    assert html.count(key(299)) == 1  # once, inside the closed details
    assert '<pre class="adminflow-pre">300</pre>' in html  # a plain value stays plain


# The changes list: filters and export


def test_the_changes_list_filters_by_run_kind_and_field(staff):
    run = changed_run(10)
    other = changed_run(5)

    assert listed_keys(staff, changes_url(run=run.pk)) == [key(n) for n in range(10)]
    assert listed_keys(staff, changes_url(run=run.pk, kind="returned")) == [key(2), key(7)]
    assert listed_keys(staff, changes_url(run=run.pk, kind="removed")) == [key(1), key(6)]
    assert listed_keys(staff, changes_url(run=run.pk, kind="changed", field="group")) == [
        key(4),
        key(9),
    ]
    assert listed_keys(staff, changes_url(run=other.pk, kind="added")) == [key(0)]
    # The field filter offers the fields the run changed, with their counts.
    response = staff.get(changes_url(run=run.pk))
    html = response.content.decode()
    assert "name (4)" in html
    assert "group (2)" in html


def test_a_change_stored_before_kinds_were_kept_is_filtered_by_its_action(staff):
    run = changed_run(0)
    RecordChange.objects.create(run=run, collection="c", key="old", action="removed")

    assert listed_keys(staff, changes_url(run=run.pk, kind="removed")) == ["old"]
    assert listed_keys(staff, changes_url(run=run.pk, kind="returned")) == []


def test_a_malformed_or_unknown_run_filter_lists_nothing(staff):
    run = changed_run(3)

    assert listed_keys(staff, changes_url(run="x")) == []
    assert listed_keys(staff, changes_url(run=run.pk + 1)) == []


def test_the_export_is_the_filtered_list_as_csv(staff):
    run = changed_run(10)
    changed_run(5)

    rows = exported(staff, export_url(run=run.pk, kind="changed", field="group"))

    assert [(row["key"], row["kind"], row["fields"]) for row in rows] == [
        (key(4), "changed", "group name"),
        (key(9), "changed", "group name"),
    ]
    assert rows[0]["run"] == str(run.pk)
    assert rows[0]["flow"] == run.flow.name
    assert rows[0]["collection"] == COLLECTION
    assert rows[0]["before"] == '{"group": "old", "name": "old"}'
    assert rows[0]["after"] == '{"group": "new", "name": "new"}'
    assert len(exported(staff, export_url(run=run.pk))) == 10


def test_an_export_filtered_by_an_unknown_field_of_the_list_is_refused(staff):
    changed_run(3)

    response = staff.get(export_url(nonsense__exact="1"))

    assert response.status_code == 400
    assert "cannot be filtered" in response.content.decode()


def test_the_changes_list_links_to_its_export_with_its_filters(staff):
    run = changed_run(3)

    html = staff.get(changes_url(run=run.pk, kind="added")).content.decode()

    assert href(export_url(run=run.pk, kind="added")) in html


def test_a_key_a_spreadsheet_would_run_is_exported_as_text(staff):
    run = changed_run(0)
    RecordChange.objects.create(
        run=run, collection="c", key="=HYPERLINK(1)", action="added", kind="added"
    )

    [row] = exported(staff, export_url(run=run.pk))

    assert row["key"] == "'=HYPERLINK(1)"


# Queries: the same at 10 changes among a few runs as at 20,000 among 1,000 runs


def test_the_pages_of_a_runs_changes_make_the_same_queries_at_any_size(
    staff, django_assert_max_num_queries
):
    small = changed_run(10)
    pages = {
        "run page": lambda run: run_url(run),
        "changes list": lambda run: changes_url(run=run.pk, kind="changed", field="name"),
        "export": lambda run: export_url(run=run.pk),
    }
    counts = {name: queries_of(staff, page(small)) for name, page in pages.items()}

    many_runs(RUNS)
    big = changed_run(BIG)

    for name, page in pages.items():
        with django_assert_max_num_queries(counts[name]):
            assert queries_of(staff, page(big)) == counts[name], name
    assert counts == {"run page": 10, "changes list": 8, "export": 7}
