"""A course administrator asks what the roster syncs changed, and follows one student.

Three weeks of the course's ``roster-sync`` flow run first, in this process:
week 1 enrols ab1 (no GitHub username), cd2 and ef3; week 2 drops ab1;
week 3 brings ab1 back with a username. Then, in a browser at 1280 px, the
administrator opens week 2's run, follows its summary to the list of
removed students, opens ab1's page and its timeline, and week 3's grid.
Each page is left as a screenshot in /tmp/shots for people to look at.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from playwright.sync_api import Page, expect

from adminflow.models import FlowRun
from adminflow.registry import flow_registry
from adminflow.runs import execute_run, start_run
from adminflow.states import Trigger
from courseadmin.course.models import Student
from tests.factories import SectionFactory, StaffUserFactory

from .conftest import PASSWORD

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

SHOTS = Path("/tmp/shots")
WIDTH, HEIGHT = 1280, 900
PERMISSIONS = ["adminflow.view_flowrun", "adminflow.view_recordchange", "course.view_student"]
WEEKS = [
    ["ab1,Ann Bell,ab1@example.edu,S01,", "cd2,Cy Dao,cd2@example.edu,S01,cy-dao", "ef3,Eve Fry,ef3@example.edu,S02,evefry"],
    ["cd2,Cy Dao,cd2@example.edu,S01,cy-dao", "ef3,Eve Fry,ef3@example.edu,S02,evefry"],
    ["ab1,Ann Bell,ab1@example.edu,S01,ann-bell", "cd2,Cy Dao,cd2@example.edu,S01,cy-dao", "ef3,Eve Fry,ef3@example.edu,S02,evefry"],
]  # fmt: skip


@pytest.fixture
def weeks(transactional_db, tmp_path, settings) -> list[FlowRun]:
    """Run three weeks of roster-sync; return the runs."""
    settings.COURSE_STAFF_EMAILS = ["head-ta@example.edu"]
    for code in ("S01", "S02"):
        SectionFactory(code=code)
    runs = []
    for number, rows in enumerate(WEEKS, start=1):
        roster = tmp_path / f"week{number}.csv"
        roster.write_text("NetID,Name,Email,Section,GitHub\n" + "\n".join(rows) + "\n")
        config = copy.deepcopy(flow_registry["roster-sync"].default_config)
        config["import-roster"] = {**config["import-roster"], "path": str(roster)}
        config["import-roster"]["max_drop_share"] = 1.0
        runs.append(execute_run(start_run("roster-sync", trigger=Trigger.COMMAND, config=config)))
    assert [run.status for run in runs] == ["succeeded"] * 3
    return runs


@pytest.fixture
def administrator(transactional_db) -> User:
    user = StaffUserFactory(permissions=PERMISSIONS)
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


def log_in(page: Page, base_url: str, user: User, next_url: str) -> None:
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    page.goto(f"{base_url}{reverse('admin:login')}?next={next_url}")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base_url}{next_url}")


def screenshot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def test_the_run_page_says_what_changed_and_its_counts_open_the_changes(
    page: Page, live_server, administrator: User, weeks: list[FlowRun]
) -> None:
    week2 = weeks[1]
    log_in(
        page,
        live_server.url,
        administrator,
        reverse("admin:adminflow_flowrun_change", args=[week2.pk]),
    )

    summary = page.locator("[data-change-summary]")
    expect(summary).to_contain_text("What this run changed")
    expect(summary.locator('[data-kind="removed"]')).to_contain_text("1 removed")
    expect(summary.locator('[data-kind="added"]')).to_contain_text("0 added")
    # It comes first: above the run's own summary, in sight without scrolling.
    assert summary.bounding_box()["y"] < page.locator("#summary").bounding_box()["y"]
    assert summary.bounding_box()["y"] + summary.bounding_box()["height"] < HEIGHT
    metadata = page.locator("#metadata")
    expect(metadata.get_by_text("1 item", exact=True).first).to_be_visible()
    expect(metadata.get_by_text('"ab1"')).to_be_hidden()  # listed records: a click away
    screenshot(page, "what-changed-run-page")

    summary.locator('[data-kind="removed"] a').click()

    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("ab1")
    expect(page.locator("#result_list")).to_contain_text("Removed")
    expect(page.locator("[data-export-csv]")).to_have_attribute(
        "href", f"/admin/adminflow/recordchange/export/?run={week2.pk}&kind=removed"
    )
    screenshot(page, "what-changed-changes-list")


def test_a_students_timeline_opens_from_their_page(
    page: Page, live_server, administrator: User, weeks: list[FlowRun]
) -> None:
    ann = Student.objects.get(netid="ab1")
    log_in(
        page, live_server.url, administrator, reverse("admin:course_student_change", args=[ann.pk])
    )

    page.locator("[data-timeline-link]").click()

    runs = page.locator("[data-timeline-run]")
    expect(runs).to_have_count(3)
    expect(runs.nth(0)).to_contain_text("Re-enrolled")
    dropped = runs.nth(1)
    expect(dropped).to_contain_text("Removed")
    status = dropped.locator('[data-field="status"] td')
    expect(status.nth(0)).to_have_text("enrolled")  # before
    expect(status.nth(2)).to_have_text("dropped")  # after
    expect(dropped.locator('[data-effect-step="import-roster"]')).to_contain_text("status")
    expect(dropped).to_contain_text("dropped ab1 (Ann Bell, S01)")
    expect(runs.nth(2)).to_contain_text("Added")
    screenshot(page, "what-changed-timeline")


def test_a_runs_grid_shows_each_steps_part_and_pages_every_record(
    page: Page, live_server, administrator: User, weeks: list[FlowRun]
) -> None:
    week3 = weeks[2]
    log_in(
        page,
        live_server.url,
        administrator,
        reverse("admin:adminflow_flowrun_change", args=[week3.pk]),
    )

    page.locator("[data-grid-link]").click()

    rows = page.locator("[data-grid-row]")
    expect(rows).to_have_count(1)  # only ab1 had something done to them
    ann = page.locator('[data-grid-row="ab1"]')
    expect(ann.locator("td").nth(0)).to_contain_text("github_username, status")
    expect(ann.locator("[data-grid-store]")).to_contain_text("re-enrolled")
    screenshot(page, "what-changed-grid")

    page.locator("[data-every-record]").click()

    expect(rows).to_have_count(3)
    expect(page.locator('[data-grid-row="cd2"] td.adminflow-cell')).to_have_count(0)
    page.locator('[data-grid-row="ab1"] th a').click()
    expect(page.locator("[data-timeline-run]")).to_have_count(3)
