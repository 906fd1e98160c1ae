"""A record's timeline across runs and a run's records x steps grid, through the test client.

The timeline is asked for a typed record a real run added, and for one that
1,000 runs touched; the grid for its cells, its two row filters and its
pages, at 10 and at 20,000 records, with the same queries at both sizes.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.http import urlencode

from adminflow.admin.run_grid import GRID_PAGE_SIZE
from adminflow.admin.timeline import TIMELINE_RUNS
from adminflow.models import FlowRun, Record, RecordChange, RunLog, StepEffect
from adminflow.runs import execute_run, start_run
from adminflow.states import Trigger
from tests.factories import FlowFactory
from tests.run_helpers import registered_flows
from tests.storer_flows import members_flow

from .change_helpers import COLLECTION, changed_run, key, queries_of
from .run_helpers import VIEW, client_for, run_url

pytestmark = pytest.mark.django_db

VIEW_CHANGES = "adminflow.view_recordchange"
BIG = 20_000
RUNS = 1_000


@pytest.fixture
def staff() -> Client:
    return client_for(VIEW, VIEW_CHANGES)


def timeline_url(collection: str, key: str, **more: object) -> str:
    query = urlencode({"collection": collection, "key": key, **more})
    return f"{reverse('admin:adminflow_recordchange_timeline')}?{query}"


def grid_url(run: FlowRun, **query: object) -> str:
    return f"{run_url(run, 'grid')}?{urlencode(query)}"


# The timeline


@pytest.mark.django_db(transaction=True)  # the run's recorder writes from a thread of its own
def test_a_typed_records_timeline_shows_the_run_that_added_it_and_the_step_that_did():
    with registered_flows() as register:
        register(members_flow())
        run = execute_run(start_run("roster", trigger=Trigger.COMMAND))
    assert run.status == "succeeded"

    response = client_for(VIEW, VIEW_CHANGES).get(timeline_url("roster.members", "cy"))

    [entry] = response.context["timeline"].runs
    assert entry.run == run
    assert (entry.change.action, entry.change.kind) == ("added", "added")
    assert [(e.step, e.action) for e in entry.effects] == [("add", "added")]
    html = response.content.decode()
    assert "Timeline of cy" in html
    assert f'href="{run_url(run)}"' in html


def test_a_timeline_lists_runs_newest_first_with_before_and_after_effects_and_lines(staff):
    first, second = changed_run(10), changed_run(10)
    RunLog.objects.create(run=second, step="b", message="m00004 renamed", record_key=key(4))

    timeline = staff.get(timeline_url(COLLECTION, key(4))).context["timeline"]

    assert [entry.run for entry in timeline.runs] == [second, first]
    newest = timeline.runs[0]
    assert [(f.name, f.before, f.after) for f in newest.fields] == [
        ("group", "old", "new"),
        ("name", "old", "new"),
    ]
    assert [(e.step, e.action, e.fields) for e in newest.effects] == [
        ("b", "changed", ["name"]),
        ("c", "changed", ["group"]),
    ]
    assert [line["message"] for line in newest.lines] == ["m00004 renamed"]
    assert timeline.runs[1].lines == []
    errored = staff.get(timeline_url(COLLECTION, key(7))).context["timeline"].runs[0]
    assert [(e.step, e.error) for e in errored.effects] == [
        ("a", ""),  # added back
        ("c", "ValueError: no email"),
    ]


def test_a_timeline_pages_by_run_and_says_when_nothing_touched_the_record(staff):
    runs = [changed_run(1) for _ in range(TIMELINE_RUNS + 2)]

    first = staff.get(timeline_url(COLLECTION, key(0))).context["timeline"]
    assert [e.run for e in first.runs] == runs[::-1][:TIMELINE_RUNS]
    assert first.older_url is not None
    older = staff.get(first.older_url).context["timeline"]
    assert [e.run for e in older.runs] == runs[1::-1]
    assert older.older_url is None

    response = staff.get(timeline_url(COLLECTION, "nobody"))
    assert response.context["timeline"].runs == []
    assert "No run has touched this record." in response.content.decode()


def test_a_timeline_needs_a_collection_and_a_key(staff):
    response = staff.get(reverse("admin:adminflow_recordchange_timeline") + "?key=ana")

    assert response.status_code == 400
    assert "collection and key" in response.content.decode()


def test_a_record_page_links_to_its_timeline(staff):
    record = Record.objects.create(collection=COLLECTION, key="ana", data={})

    viewer = client_for(VIEW, VIEW_CHANGES, "adminflow.view_record")
    html = viewer.get(reverse("admin:adminflow_record_change", args=[record.pk])).content.decode()

    assert f'href="{timeline_url(COLLECTION, "ana").replace("&", "&amp;")}"' in html


def test_a_timeline_makes_the_same_queries_for_1000_runs_as_for_two(
    staff, django_assert_max_num_queries
):
    changed_run(1)
    changed_run(1)
    small = queries_of(staff, timeline_url(COLLECTION, key(0)))

    flow = FlowFactory(name="many")
    runs = FlowRun.objects.bulk_create(
        FlowRun(flow=flow, status="succeeded", trigger="command") for _ in range(RUNS)
    )
    record = {"collection": COLLECTION, "key": key(0)}
    RecordChange.objects.bulk_create(
        RecordChange(run=run, action="changed", kind="changed", before={}, after={}, **record)
        for run in runs
    )
    StepEffect.objects.bulk_create(StepEffect(run=run, step="b", **record) for run in runs)
    RunLog.objects.bulk_create(
        RunLog(run=run, step="b", message="about m00000", record_key=key(0)) for run in runs
    )

    with django_assert_max_num_queries(small):
        assert queries_of(staff, timeline_url(COLLECTION, key(0))) == small
    assert small == 9


# The grid


def cells(response) -> dict[str, list[str]]:
    """Return each row's cells as text: action and fields, or error, "" where nothing."""

    def text(cell: StepEffect | None) -> str:
        if cell is None:
            return ""
        return " ".join(filter(None, [cell.action, ",".join(cell.fields), cell.error]))

    grid = response.context["grid"]
    return {row.key: [text(cell) for cell in row.cells] for row in grid.rows}


def test_each_cell_says_what_the_step_did_to_the_record(staff):
    run = changed_run(10, records=True)

    response = staff.get(grid_url(run))

    assert [step.name for step in response.context["grid"].steps] == ["a", "b", "c"]
    assert cells(response) == {
        key(0): ["added", "", "ValueError: no email"],
        key(1): ["removed", "", ""],
        key(2): ["added", "", ""],
        key(3): ["", "changed name", ""],
        key(4): ["", "changed name", "changed group"],
        key(5): ["added", "", ""],
        key(6): ["removed", "", ""],
        key(7): ["added", "", "ValueError: no email"],
        key(8): ["", "changed name", ""],
        key(9): ["", "changed name", "changed group"],
    }
    rows = {row.key: row for row in response.context["grid"].rows}
    assert (rows[key(2)].change.kind, rows[key(9)].store_fields) == ("returned", ["group", "name"])
    html = response.content.decode()
    assert f'href="{timeline_url(COLLECTION, key(4)).replace("&", "&amp;")}"' in html


def test_every_record_adds_the_rows_with_nothing_and_rows_are_paged(staff):
    run = changed_run(10, records=True)
    Record.objects.bulk_create(
        Record(collection=COLLECTION, key=f"quiet{n:04d}", data={}) for n in range(250)
    )

    assert len(cells(staff.get(grid_url(run)))) == 10
    every = staff.get(grid_url(run, every=1))
    assert every.context["grid"].page.paginator.count == 260
    assert len(cells(every)) == GRID_PAGE_SIZE
    last = cells(staff.get(grid_url(run, every=1, page=3)))
    assert len(last) == 60
    assert last["quiet0249"] == ["", "", ""]
    html = every.content.decode()
    assert 'href="?every=1&amp;page=2"' in html


def test_a_run_that_touched_no_record_has_an_empty_grid(staff):
    run = changed_run(0)

    response = staff.get(grid_url(run, every=1))

    assert response.context["grid"].rows == []
    assert "did nothing to any record" in response.content.decode()


def test_the_grid_makes_the_same_queries_at_20000_records_as_at_10(
    staff, django_assert_max_num_queries
):
    small = changed_run(10, records=True)
    counts = {every: queries_of(staff, grid_url(small, every=every)) for every in (0, 1)}
    Record.objects.all().delete()
    big = changed_run(BIG, records=True)

    for every, count in counts.items():
        with django_assert_max_num_queries(count):
            assert queries_of(staff, grid_url(big, every=every, page=50)) == count
    assert counts == {0: 11, 1: 11}
