"""In a browser: run a flow once with options and an uploaded file; the changelists at 1280 px.

Flow ``from-file`` is data (a ``Flow`` row with a spec naming its steps by
path), so that the ``db_worker`` process executes it as the site does: its
record step reads the file its ``path`` key names, which the test uploads
on the flow's "Run with options" page.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from adminflow.models import Flow, FlowRun, RunLog
from adminflow.states import FlowRunStatus, Trigger

from .pages import HEIGHT, WIDTH, log_in, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

WORKER_MS = 15_000

SPEC = {
    "description": "Add the numbers of this week's export, then add one to each.",
    "storer": {"type": "Numbers", "name": "numbers"},
    "steps": [
        {"name": "read-the-weekly-export", "type": "tests.admin.flow_helpers.ReadNumbers"},
        {"name": "increment", "type": "Increment", "kind": "update"},
    ],
}


@pytest.fixture
def from_file(transactional_db, tmp_path) -> Flow:
    week1 = tmp_path / "week1.txt"
    week1.write_text("1\n2\n")
    return Flow.objects.create(
        name="from-file",
        spec=SPEC,
        config={"numbers": {}, "read-the-weekly-export": {"path": str(week1)}},
    )


def fits(page: Page) -> bool:
    """Return whether the page and its results table show whole, with no sideways scrolling."""
    return page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth && "
        "[...document.querySelectorAll('.results')].every(box => "
        "box.scrollWidth <= box.clientWidth)"
    )


def overrides(page: Page) -> str:
    return page.locator("[data-run-overrides]").inner_text()


def test_a_run_with_options_and_an_uploaded_file_is_executed_by_the_worker(
    page: Page, live_server, staff: User, worker, from_file: Flow, settings, tmp_path: Path
) -> None:
    start_worker = worker
    settings.ADMINFLOW = {**settings.ADMINFLOW, "RUN_UPLOADS_DIR": str(tmp_path / "uploads")}
    week2 = tmp_path / "week2.txt"
    week2.write_text("7\n8\n9\n")
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    log_in(page, live_server.url, staff, reverse("admin:adminflow_flow_changelist"))

    row = page.locator("#result_list tbody tr").filter(has_text="from-file")
    row.get_by_role("link", name="options…").click()
    expect(page.locator("h1")).to_have_text("Run “from-file”")
    page.locator('input[name="increment.by"]').fill("5")
    page.locator('input[name="read-the-weekly-export.path:upload"]').set_input_files(week2)
    screenshot(page, "run-options-filled")
    page.get_by_role("button", name="Run", exact=True).click()

    run = FlowRun.objects.get()
    expect(page).to_have_url(
        f"{live_server.url}{reverse('admin:adminflow_flowrun_change', args=[run.pk])}"
    )
    expect(page.locator(".messagelist .success")).to_have_text(
        f"Queued run #{run.pk} of flow “from-file” with this run's options."
    )
    assert "by: 5" in overrides(page)
    assert "week2.txt" in overrides(page)

    start_worker()

    status = page.locator("[data-run-status] .adminflow-badge")
    expect(status).to_have_attribute("data-status", "succeeded", timeout=WORKER_MS)
    expect(page.locator("[data-log-lines]")).to_contain_text("week2.txt: 3 numbers read")
    screenshot(page, "run-options-run-page")
    run.refresh_from_db()
    assert run.status == FlowRunStatus.SUCCEEDED
    assert RunLog.objects.filter(run=run, message="week2.txt: 3 numbers read").exists()
    from_file.refresh_from_db()
    assert from_file.config["read-the-weekly-export"]["path"].endswith("week1.txt")


def test_a_refused_option_is_shown_at_its_key_and_nothing_is_queued(
    page: Page, live_server, staff: User, from_file: Flow
) -> None:
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    run_url = reverse("admin:adminflow_flow_run", args=[from_file.pk])
    log_in(page, live_server.url, staff, run_url)

    page.locator('input[name="read-the-weekly-export.path"]').fill("nowhere.txt")
    page.locator('textarea[name="more"]').fill("increment:\n  colour: red\n")
    page.get_by_role("button", name="Run", exact=True).click()

    expect(page.locator(".errornote").first).to_contain_text("The run was not queued")
    field = page.locator(".form-row.field-read-the-weekly-exportpath")
    expect(field.locator(".errorlist")).to_contain_text("no file at 'nowhere.txt'")
    expect(page.locator(".form-row.field-more .errorlist")).to_contain_text(
        "increment.colour (line 2): unknown key"
    )
    # The YAML box keeps what was typed, its lines numbered.
    expect(page.locator(".adminflow-yaml-lines")).to_have_text("1\n2\n3")
    screenshot(page, "run-options-refused")
    assert not FlowRun.objects.exists()


def test_the_changelists_fit_a_1280_px_screen_and_run_from_a_row(
    page: Page, live_server, staff: User, from_file: Flow
) -> None:
    long = "Import the registrar's export, check every student's GitHub username, " * 3
    for number in range(8):
        Flow.objects.create(
            name=f"course-chore-{number}",
            description=long,
            spec={"storer": {"type": "Numbers"}},
            schedule="*/15 8-18 * * 1-5" if number % 2 else "",
        )
    start = timezone.now() - timedelta(days=3)
    FlowRun.objects.bulk_create(
        FlowRun(
            flow=from_file,
            trigger=Trigger.ADMIN,
            triggered_by=staff,
            status=FlowRunStatus.FAILED if number % 7 == 0 else FlowRunStatus.SUCCEEDED,
            debug=number % 5 == 0,
            started_at=start + timedelta(hours=number),
            finished_at=start + timedelta(hours=number, seconds=74),
            records_added=number,
            records_changed=120 + number,
            records_removed=number % 3,
        )
        for number in range(30)
    )
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    flows_url = reverse("admin:adminflow_flow_changelist")
    log_in(page, live_server.url, staff, flows_url)

    screenshot(page, "flow-changelist-1280")
    assert fits(page)
    row = page.locator("#result_list tr", has_text="course-chore-0")
    description = row.locator("td.field-short_description span")
    expect(description).to_have_attribute("title", long)
    page.goto(f"{live_server.url}{reverse('admin:adminflow_flowrun_changelist')}")
    screenshot(page, "run-changelist-1280")
    assert fits(page)

    page.goto(f"{live_server.url}{flows_url}")
    before = set(FlowRun.objects.values_list("pk", flat=True))
    row = page.locator("#result_list tbody tr").filter(has_text="from-file")
    row.get_by_role("button", name="Run").click()

    expect(page).to_have_url(re.compile(r"/adminflow/flowrun/\d+/change/$"))
    run = FlowRun.objects.exclude(pk__in=before).get()
    assert page.url.endswith(reverse("admin:adminflow_flowrun_change", args=[run.pk]))
    assert run.overrides == {}
    assert run.triggered_by == staff
