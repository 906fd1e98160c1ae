"""Follow one student: three roster syncs enrol, drop and re-enrol a student, and the admin says
what each run and each of its steps did to them, from the student's own page."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.http import urlencode

from adminflow.models import FlowRun
from courseadmin.course.models import Student
from tests.course.conftest import run, student_row, sync_config
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PERMISSIONS = ["course.view_student", "adminflow.view_recordchange", "adminflow.view_flowrun"]


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(StaffUserFactory(permissions=PERMISSIONS))
    return client


@pytest.fixture
def three_weeks(sections, write_roster, staff_emails, mailoutbox) -> list[FlowRun]:
    """Week 1 enrols ab1 (no GitHub username) and cd2; week 2 drops ab1; week 3 brings ab1
    back, with a username."""
    weeks = [
        [student_row("ab1", github=""), student_row("cd2")],
        [student_row("cd2")],
        [student_row("ab1", github="ann-b"), student_row("cd2")],
    ]
    # A drop of one of two students is half the class: let it through.
    runs = [
        run("roster-sync", sync_config(write_roster(rows), import_roster={"max_drop_share": 1.0}))
        for rows in weeks
    ]
    assert [r.status for r in runs] == ["succeeded"] * 3
    return runs


def timeline_url(netid: str) -> str:
    query = urlencode({"collection": "course.Student", "key": netid})
    return f"{reverse('admin:adminflow_recordchange_timeline')}?{query}"


def test_a_students_page_links_to_a_timeline_of_every_run_and_step(staff, three_weeks):
    week1, week2, week3 = three_weeks
    ann = Student.objects.get(netid="ab1")

    page = staff.get(reverse("admin:course_student_change", args=[ann.pk])).content.decode()
    assert f'href="{timeline_url("ab1").replace("&", "&amp;")}"' in page

    timeline = staff.get(timeline_url("ab1")).context["timeline"]

    assert [entry.run for entry in timeline.runs] == [week3, week2, week1]
    back, dropped, added = timeline.runs
    assert (added.change.kind, dropped.change.kind, back.change.kind) == (
        "added",
        "removed",
        "returned",
    )
    assert [(f.name, f.before, f.after) for f in dropped.fields] == [
        ("status", "enrolled", "dropped")
    ]
    # Which step did what: the roster import added, dropped and re-enrolled the student;
    # the username check and the reminder did their part.
    steps = {
        entry.run: {e.step: (e.action, e.fields) for e in entry.effects} for entry in timeline.runs
    }
    assert steps[week1]["import-roster"] == ("added", [])
    assert steps[week1]["remind-missing-usernames"] == (
        "changed",
        ["last_reminded_at", "reminder_task"],
    )
    assert steps[week2]["import-roster"] == ("changed", ["status"])
    assert steps[week3]["import-roster"] == ("changed", ["github_username", "status"])
    assert steps[week3]["check-usernames"] == ("changed", ["github_username_valid"])
    # What the steps said about the student, and only about them.
    assert [line["message"] for line in dropped.lines] == ["dropped ab1 (Student AB1, S01)"]
    assert all("cd2" not in line["message"] for entry in timeline.runs for line in entry.lines)


def test_a_runs_grid_shows_each_steps_part_for_each_student(staff, three_weeks):
    week3 = three_weeks[2]

    response = staff.get(reverse("admin:adminflow_flowrun_grid", args=[week3.pk]) + "?every=1")

    grid = response.context["grid"]
    assert [step.name for step in grid.steps] == [
        "import-roster",
        "check-usernames",
        "assign-groups",
        "remind-missing-usernames",
        "staff-summary",
    ]
    rows = {row.key: row for row in grid.rows}
    assert set(rows) == {"ab1", "cd2"}  # cd2: a current student the run left alone
    assert [cell and cell.action for cell in rows["ab1"].cells][:2] == ["changed", "changed"]
    assert rows["ab1"].change.kind == "returned"
    assert rows["cd2"].cells == [None] * 5
    assert rows["cd2"].change is None
