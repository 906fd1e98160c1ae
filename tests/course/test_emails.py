"""RemindMissingUsernames and StaffSummary: whom they email, when, and what they record."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from adminflow import FlowConfigError
from adminflow.models import RecordChange
from adminflow.runs import apply_plan, approve_plan, execute_run, plan_run
from adminflow.states import Trigger
from courseadmin.course.models import Group, Student
from tests.course.conftest import STAFF, run, student_row, sync_config, table
from tests.factories import CourseStudentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def reminders(**modes: str):
    return run("reminders", modes=modes or None)


def logged(flow_run, step: str, level: int = logging.INFO) -> list[str]:
    """Return what ``step`` logged at ``level``, without the lines saying it started and ended."""
    lines = flow_run.logs.filter(step=step, level=level).values_list("message", flat=True)
    return [line for line in lines if not line.startswith((f"{step} (", f"{step}: "))]


def test_enrolled_students_without_a_valid_username_get_the_templated_reminder(
    sections, mailoutbox
):
    CourseStudentFactory(netid="ok", github_username="octocat")
    CourseStudentFactory(
        netid="none", name="Zoë O'Brien", github_username="", section=sections["S02"]
    )
    CourseStudentFactory(netid="bad", github_username="octo--cat")
    CourseStudentFactory(
        netid="gone", github_username="", github_username_valid=False, status="dropped"
    )

    flow_run = reminders()

    assert flow_run.status == "succeeded"
    assert flow_run.metadata["reminded"] == ["bad", "none"]
    assert sorted(message.to for message in mailoutbox) == [
        ["bad@example.edu"],
        ["none@example.edu"],
    ]
    message = next(m for m in mailoutbox if m.to == ["none@example.edu"])
    assert message.subject == "Action needed: your GitHub username for section S02"
    assert message.body.startswith(
        "Hello Zoë O'Brien,\n\nWe need your GitHub username to add you to the course's GitHub "
        "organization\nand to your project group's repository. No GitHub username was given.\n"
    )
    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html"
    assert "<p>Hello Zoë O&#x27;Brien,</p>" in html
    bad = next(m for m in mailoutbox if m.to == ["bad@example.edu"])
    assert "'octo--cat' may not contain two hyphens in a row." in bad.body
    reminded_at = dict(Student.objects.values_list("netid", "last_reminded_at"))
    assert reminded_at["ok"] is None
    assert reminded_at["gone"] is None
    assert reminded_at["bad"] is not None
    assert reminded_at["none"] is not None
    assert sorted(
        (change.key, sorted(change.after)) for change in RecordChange.objects.filter(run=flow_run)
    ) == [
        ("bad", ["github_username_valid", "last_reminded_at", "reminder_task"]),
        ("none", ["github_username_valid", "last_reminded_at", "reminder_task"]),
    ]


@pytest.mark.parametrize(("hours_ago", "reminded"), [(71, []), (72, ["late"]), (200, ["late"])])
def test_a_student_is_not_reminded_again_before_the_minimum_gap(
    sections, mailoutbox, hours_ago, reminded
):
    last = timezone.now() - timedelta(hours=hours_ago)
    CourseStudentFactory(netid="late", github_username="", last_reminded_at=last)

    flow_run = reminders()

    assert flow_run.metadata["reminded"] == reminded
    assert len(mailoutbox) == len(reminded)
    stored = Student.objects.get(netid="late").last_reminded_at
    assert (stored != last) == bool(reminded)


def test_in_debug_mode_reminders_are_only_logged(sections, mailoutbox):
    CourseStudentFactory(netid="none", github_username="")

    flow_run = reminders(**{"remind-missing-usernames": "debug"})

    assert flow_run.status == "succeeded"
    assert mailoutbox == []
    assert logged(flow_run, "remind-missing-usernames") == [
        "1 students are due a reminder",
        "debug: would email none <none@example.edu>",
    ]
    assert Student.objects.get(netid="none").last_reminded_at is None
    assert flow_run.metadata["reminded"] == ["none"]  # who it would remind


def test_a_debug_run_sends_nothing_and_stores_nothing(
    sections, staff_emails, write_roster, mailoutbox
):
    CourseStudentFactory(netid="old", github_username="")
    before = sorted(Student.objects.values_list())
    path = write_roster([student_row("old", github=""), student_row("new", github="")])

    flow_run = run("roster-sync", sync_config(path), debug=True)

    assert flow_run.status == "succeeded"
    assert mailoutbox == []
    assert sorted(Student.objects.values_list()) == before
    assert Group.objects.count() == 0
    assert RecordChange.objects.count() == 0
    (summary_line,) = logged(flow_run, "staff-summary")
    # What the summary would say: the two students the run would remind, too.
    assert summary_line == (
        f"debug: would email {', '.join(STAFF)}: Roster update: 1 added, 0 dropped, "
        "2 reminded, 1 new group"
    )


def test_rerunning_with_nothing_changed_writes_nothing_and_sends_nothing(
    sections, staff_emails, write_roster, mailoutbox
):
    path = write_roster(
        [
            student_row("ab1"),
            student_row("cd2", github=""),
            student_row("ef3", "S02", "x--y"),
            "bad,Row,not-an-email,S01,",  # skipped, and reported on every run
        ]
    )
    first = run("roster-sync", sync_config(path))
    assert first.status == "succeeded"
    assert len(mailoutbox) == 3  # two reminders and the summary
    assert "  - line 5: 'not-an-email' is not an email address\n" in mailoutbox[-1].body
    stored = sorted(Student.objects.values_list())
    mailoutbox.clear()

    with CaptureQueriesContext(connection) as queries:
        second = run("roster-sync", sync_config(path))

    assert second.status == "succeeded"
    assert mailoutbox == []
    assert sorted(Student.objects.values_list()) == stored
    assert RecordChange.objects.filter(run=second).count() == 0
    assert (second.records_added, second.records_changed, second.records_removed) == (0, 0, 0)
    course_writes = [
        q["sql"]
        for q in queries.captured_queries
        if '"course_' in q["sql"] and not q["sql"].startswith("SELECT")
    ]
    assert course_writes == []
    assert logged(second, "staff-summary") == ["nothing changed; no summary sent"]
    assert logged(second, "import-roster", logging.ERROR) == [
        f"{path} line 5: 'not-an-email' is not an email address"
    ]


def test_without_staff_addresses_the_summary_is_not_sent_and_says_why(
    sections, write_roster, mailoutbox, settings
):
    settings.COURSE_STAFF_EMAILS = []

    flow_run = run("roster-sync", sync_config(write_roster([student_row("ab1")])))

    assert flow_run.status == "succeeded"
    assert mailoutbox == []
    assert logged(flow_run, "staff-summary", logging.WARNING) == [
        "settings.COURSE_STAFF_EMAILS is empty; no summary sent"
    ]


def test_the_summary_waits_for_the_reminders_and_reports_them(
    sections, staff_emails, write_roster, mailoutbox
):
    flow_run = run("roster-sync", sync_config(write_roster([student_row("ab1", github="")])))

    assert [message.to for message in mailoutbox] == [["ab1@example.edu"], STAFF]
    assert "Reminded about GitHub usernames (1):\n  - Student AB1 (ab1) <ab1@example.edu>\n" in (
        mailoutbox[1].body
    )
    summary_step = flow_run.steps.get(name="staff-summary")
    reminder_step = flow_run.steps.get(name="remind-missing-usernames")
    assert summary_step.depends_on == ["remind-missing-usernames"]
    assert summary_step.started_at >= reminder_step.finished_at


def test_a_negative_gap_is_refused(sections):
    with pytest.raises(
        FlowConfigError, match=re.escape("min_gap_hours may not be negative, got -1.0")
    ):
        run("reminders", {"remind-missing-usernames": {"min_gap_hours": -1}})


def test_students_already_checked_are_not_rewritten_when_nothing_is_due(sections, mailoutbox):
    CourseStudentFactory(netid="ok", github_username="octocat")

    flow_run = reminders()

    assert mailoutbox == []
    assert table(("github_username_valid", "last_reminded_at")) == {"ok": (True, None)}
    assert RecordChange.objects.filter(run=flow_run).count() == 0


def test_a_planned_roster_sync_emails_nobody_until_its_plan_is_applied(
    sections, staff_emails, write_roster, mailoutbox
):
    path = write_roster([student_row("new", github="")])
    planned = execute_run(
        plan_run("roster-sync", trigger=Trigger.COMMAND, config=sync_config(path))
    )

    assert planned.status == "planned"
    assert mailoutbox == []
    assert not Student.objects.exists()
    assert list(planned.plan.intents.values_list("step", "action")) == [
        ("remind-missing-usernames", "remind"),
        ("staff-summary", "email"),
    ]

    approve_plan(planned, None)
    applied = execute_run(apply_plan(planned, None))

    assert applied.status == "succeeded", applied.error
    assert [m.to for m in mailoutbox] == [["new@example.edu"], STAFF]
    assert Student.objects.get(netid="new").last_reminded_at is not None
