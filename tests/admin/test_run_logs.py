"""A run's log on its page and through the live endpoint: escaped, filtered, paged, followed."""

from __future__ import annotations

from collections import deque

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from adminflow.admin.run_page import LIVE_MAX_LINES
from adminflow.models import RunLog, StepRun
from adminflow.runs import start_run
from adminflow.runs.config import get_flow_row
from adminflow.states import FlowRunStatus, StepRunStatus, Trigger
from tests.factories import RunningFlowRunFactory, StepRunFactory

from .run_helpers import (
    SCRIPT,
    add_lines,
    add_many_lines,
    client_for,
    finished_run,
    run_url,
)

pytestmark = pytest.mark.django_db


def shown(response) -> list[int]:
    """Return the ids of the log lines a run page shows."""
    return [line["id"] for line in response.context["log_lines"]]


def ids(lines: list[RunLog]) -> list[int]:
    return [line.pk for line in lines]


# Escaped and coloured


def test_a_log_line_with_a_script_tag_is_shown_as_text(viewer: Client) -> None:
    run = finished_run()
    RunLog.objects.create(run=run, step=SCRIPT, level=40, message=f"got {SCRIPT}\nsecond line")

    page = viewer.get(run_url(run)).content.decode()

    assert "<script>alert" not in page
    assert (
        '<span class="log-message">got &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;\n'
        "second line</span>"
    ) in page


def test_the_live_endpoint_returns_messages_as_data_for_the_script_to_set_as_text(
    viewer: Client,
) -> None:
    run = finished_run()
    RunLog.objects.create(run=run, step="a", level=20, message=SCRIPT)

    response = viewer.get(run_url(run, "live"))

    assert response["Content-Type"] == "application/json"
    assert response.json()["lines"][0]["message"] == SCRIPT


@pytest.mark.parametrize(
    ("level", "name"),
    [
        (5, "debug"),
        (10, "debug"),
        (20, "info"),
        (25, "info"),
        (30, "warning"),
        (40, "error"),
        (50, "critical"),
    ],
)
def test_each_line_is_classed_by_its_level(viewer: Client, level: int, name: str) -> None:
    run = finished_run()
    line = RunLog.objects.create(run=run, step="a", level=level, message="m")

    page = viewer.get(run_url(run)).content.decode()

    assert f'<div class="adminflow-log-line level-{name}" data-id="{line.pk}">' in page
    assert viewer.get(run_url(run, "live")).json()["lines"][0]["level_name"] == name


# Filtered


@pytest.fixture
def mixed_log() -> tuple[object, dict[str, list[int]]]:
    run = finished_run()
    lines = {
        "a-info": ids(add_lines(run, 3, step="a", level=20)),
        "b-error": ids(add_lines(run, 2, step="b", level=40)),
        "flow-warning": ids(add_lines(run, 2, step="", level=30)),
        "records-debug": ids(add_lines(run, 2, step="records", level=10)),
    }
    return run, lines


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["a-info", "b-error", "flow-warning", "records-debug"]),
        ({"log_step": "b"}, ["b-error"]),
        ({"log_step": "_flow"}, ["flow-warning"]),
        ({"log_step": "records"}, ["records-debug"]),
        ({"log_level": "30"}, ["b-error", "flow-warning"]),
        ({"log_level": "40", "log_step": "a"}, []),
        ({"log_level": "20", "log_step": "a"}, ["a-info"]),
        ({"log_level": "35"}, ["a-info", "b-error", "flow-warning", "records-debug"]),
        (
            {"log_level": "nonsense", "log_after": "x", "log_before": "-1"},
            ["a-info", "b-error", "flow-warning", "records-debug"],
        ),
    ],
)
def test_the_log_is_filtered_by_step_and_lowest_level(
    viewer: Client, mixed_log, query: dict[str, str], expected: list[str]
) -> None:
    run, lines = mixed_log

    response = viewer.get(run_url(run), query)
    live = viewer.get(run_url(run, "live"), query).json()

    wanted = sorted(pk for name in expected for pk in lines[name])
    assert shown(response) == wanted
    assert [line["id"] for line in live["lines"]] == wanted


def test_the_step_filter_offers_every_step_the_storer_and_the_flow(viewer: Client) -> None:
    run = finished_run()

    choices = viewer.get(run_url(run)).context["log_step_choices"]

    assert [value for value, _label in choices] == ["", "_flow", "records", "a", "b", "c"]


# Paged


@pytest.fixture
def long_log() -> tuple[object, list[int]]:
    run = finished_run()
    return run, ids(add_lines(run, 1200))


def test_a_long_log_is_read_a_page_at_a_time(viewer: Client, long_log) -> None:
    run, lines = long_log

    first = viewer.get(run_url(run))
    second = viewer.get(run_url(run) + first.context["log_links"]["newer"])
    third = viewer.get(run_url(run) + second.context["log_links"]["newer"])

    assert shown(first) == lines[:500]
    assert shown(second) == lines[500:1000]
    assert shown(third) == lines[1000:]
    assert first.context["log_links"]["older"] is None
    assert third.context["log_links"]["newer"] is None
    back = viewer.get(run_url(run) + third.context["log_links"]["older"])
    assert shown(back) == lines[500:1000]


def test_the_newest_lines_are_a_link_away_and_page_backwards(viewer: Client, long_log) -> None:
    run, lines = long_log

    first = viewer.get(run_url(run), {"log_step": "a"})
    newest = viewer.get(run_url(run) + first.context["log_links"]["newest"])
    older = viewer.get(run_url(run) + newest.context["log_links"]["older"])
    oldest = viewer.get(run_url(run) + older.context["log_links"]["oldest"])

    assert first.context["log_links"]["newest"] == "?log_step=a&log_newest=1"
    assert shown(newest) == lines[700:]
    assert shown(older) == lines[200:700]
    assert shown(oldest) == lines[:500]
    assert older.context["log_links"]["newer"] == f"?log_step=a&log_after={lines[699]}"


def test_an_active_run_opens_on_its_newest_lines_and_follows_them(viewer: Client) -> None:
    run = RunningFlowRunFactory()
    lines = ids(add_lines(run, 700))

    response = viewer.get(run_url(run))

    assert shown(response) == lines[200:]
    assert response.context["follow"] is True
    assert f'data-after="{lines[-1]}"' in response.content.decode()
    assert 'data-follow="true"' in response.content.decode()
    # An earlier page of an active run does not follow; a finished run never does.
    assert viewer.get(run_url(run), {"log_after": "0"}).context["follow"] is False
    assert viewer.get(run_url(finished_run())).context["follow"] is False


# The live endpoint


def test_anonymous_users_and_staff_without_permission_get_no_live_data(client: Client) -> None:
    run = finished_run()

    anonymous = client.get(run_url(run, "live"))

    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/admin/login/")
    assert client_for().get(run_url(run, "live")).status_code == 403


def test_the_live_endpoint_of_a_missing_run_says_so(viewer: Client) -> None:
    response = viewer.get(reverse("admin:adminflow_flowrun_live", args=[424242]))

    assert response.status_code == 404
    assert response.json() == {"error": "no run with id '424242'"}


def test_the_live_endpoint_gives_the_run_its_steps_and_the_lines_after_a_cursor(
    viewer: Client,
) -> None:
    run = RunningFlowRunFactory(records_loaded=3)
    StepRunFactory(run=run, name="load", status=StepRunStatus.RUNNING, started_at=run.started_at)
    StepRunFactory(run=run, name="after", status=StepRunStatus.PENDING)
    lines = ids(add_lines(run, 5, step="load"))

    data = viewer.get(run_url(run, "live"), {"after": str(lines[1])}).json()

    assert data["run"]["id"] == run.pk
    assert (data["run"]["status"], data["run"]["status_label"], data["run"]["active"]) == (
        "running",
        "Running",
        True,
    )
    assert data["run"]["fields"]["records_loaded"] == 3
    assert [(s["name"], s["status"], s["started"]) for s in data["steps"]] == [
        ("load", "running", True),
        ("after", "pending", False),
    ]
    assert len(data["ticks"]) == 5
    assert [line["id"] for line in data["lines"]] == lines[2:]
    assert set(data["lines"][0]) == {"id", "time", "step", "level", "level_name", "message"}
    assert data["more"] is False


def test_the_live_endpoint_sends_lines_in_bounded_batches(viewer: Client) -> None:
    run = RunningFlowRunFactory()
    lines = ids(add_lines(run, 1100))

    first = viewer.get(run_url(run, "live"), {"after": "0"}).json()
    second = viewer.get(run_url(run, "live"), {"after": str(first["lines"][-1]["id"])}).json()
    third = viewer.get(run_url(run, "live"), {"after": str(second["lines"][-1]["id"])}).json()

    assert [len(first["lines"]), len(second["lines"]), len(third["lines"])] == [500, 500, 100]
    assert [first["more"], second["more"], third["more"]] == [True, True, False]
    assert third["lines"][-1]["id"] == lines[-1]


def test_the_live_endpoint_leaves_lines_out_when_asked(viewer: Client) -> None:
    run = RunningFlowRunFactory()
    add_lines(run, 3)

    data = viewer.get(run_url(run, "live"), {"lines": "0"}).json()

    assert (data["lines"], data["more"]) == ([], False)


def test_the_live_endpoint_shows_a_queued_run_s_steps_before_its_worker_writes_them(
    viewer: Client,
) -> None:
    get_flow_row("numbers")
    run = start_run("numbers", trigger=Trigger.ADMIN)

    data = viewer.get(run_url(run, "live")).json()

    assert data["run"]["status"] == FlowRunStatus.QUEUED
    assert [step["name"] for step in data["steps"]] == ["add", "double", "increment", "total"]
    assert not StepRun.objects.exists()


# 100k lines


def log_queries(queries: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"] for query in queries.captured_queries if "adminflow_runlog" in query["sql"]
    ]


def assert_bounded(queries: CaptureQueriesContext) -> None:
    """Assert that every query of the log reads one page by id, or looks for one row."""
    for sql in log_queries(queries):
        assert "COUNT(" not in sql.upper()
        assert "OFFSET" not in sql.upper()
        assert sql.upper().endswith(("LIMIT 501", "LIMIT 1")), sql


def test_a_100k_line_log_is_read_in_bounded_queries_without_counting_it(viewer: Client) -> None:
    run = finished_run()
    add_many_lines(run, 100_000)
    middle = RunLog.objects.filter(run=run).order_by("id").values_list("id", flat=True)[50_000]
    viewer.get(run_url(run))  # the session and permission caches warm up

    for query in [
        {},
        {"log_after": str(middle)},
        {"log_before": str(middle)},
        {"log_newest": "1"},
        {"log_level": "40", "log_step": "b"},
    ]:
        with CaptureQueriesContext(connection) as page_queries:
            page = viewer.get(run_url(run), query)
        with CaptureQueriesContext(connection) as live_queries:
            live = viewer.get(run_url(run, "live"), {"after": query.get("log_after", "0")})

        assert page.status_code == live.status_code == 200
        assert len(page.context["log_lines"]) in (100, 500)
        assert len(page_queries) <= 10
        assert len(live_queries) <= LIVE_QUERIES
        assert_bounded(page_queries)
        assert_bounded(live_queries)


LIVE_QUERIES = 8
"""The live endpoint's queries while the run is active: session, user, run, two of
permissions, steps, one page of lines, and the pager's look for an older line."""

NEWEST = '<span class="adminflow-muted">newest lines</span>'


def says_newer(pager: str) -> bool:
    """Return whether a pager links to newer lines (and so does not call these the newest)."""
    return 'rel="next"' in pager and NEWEST not in pager


@pytest.mark.parametrize("size", [1_000, 100_000])
def test_a_long_log_is_followed_live_to_its_last_line_in_bounded_queries(
    viewer: Client, django_assert_max_num_queries, size: int
) -> None:
    run = RunningFlowRunFactory()
    opened = viewer.get(run_url(run))  # before any line: the page follows from the start
    add_many_lines(run, size)
    every = list(RunLog.objects.filter(run=run).order_by("id").values_list("id", flat=True))
    # What the page's script does (run.js): send its cursor and its first line, keep the
    # last LIVE_MAX_LINES lines, ask again at once while there is more or it dropped lines.
    held: deque[int] = deque(shown(opened), maxlen=LIVE_MAX_LINES)
    after, received, requests = opened.context["log_cursor"], 0, 0
    while True:
        sent_first = held[0] if held else None
        query = {"after": str(after)} | ({"first": str(sent_first)} if held else {})
        with django_assert_max_num_queries(LIVE_QUERIES) as queries:
            data = viewer.get(run_url(run, "live"), query).json()
        assert_bounded(queries)
        requests += 1
        sent = [line["id"] for line in data["lines"]]
        assert sent == every[received : received + 500]  # page after page, none skipped
        received += len(sent)
        held.extend(sent)
        after = sent[-1] if sent else after
        # Never "newest" while newer lines exist; "newest" once the page has the last line.
        assert says_newer(data["pager_html"]) is data["more"] is (after != every[-1])
        settled = held[0] == (sent_first or sent[0])
        if settled:
            older = held[0] != every[0]
            assert (f'href="?log_before={held[0]}#logs"' in data["pager_html"]) is older
        if not data["more"] and settled:
            break

    assert list(held) == every[-LIVE_MAX_LINES:]
    # A page that dropped lines says it holds the newest; one that holds them all needs no pager.
    assert (NEWEST in data["pager_html"]) is (size > LIVE_MAX_LINES)
    assert requests <= size // 500 + 2


def test_the_pager_of_a_followed_filtered_log_keeps_its_filter(viewer: Client) -> None:
    run = RunningFlowRunFactory()
    lines = ids(add_lines(run, 700, step="b"))

    data = viewer.get(
        run_url(run, "live"), {"after": str(lines[99]), "first": str(lines[50]), "log_step": "b"}
    ).json()

    assert f'href="?log_step=b&amp;log_before={lines[50]}#logs"' in data["pager_html"]
    assert f'href="?log_step=b&amp;log_after={lines[599]}#logs"' in data["pager_html"]
    assert "first=" not in data["pager_html"]
    assert "after=" not in data["pager_html"].replace("log_after=", "")
