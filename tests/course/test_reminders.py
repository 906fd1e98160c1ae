"""Username reminders go out through the Tasks queue: queued by the step, in batches, each
student recording its reminder's task, and delivered by the task, which records each
reminder's outcome, whichever backend runs it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.core.management import call_command

from courseadmin.course.models import Reminder, Student
from courseadmin.course.steps import RemindMissingUsernames
from tests.course.conftest import run
from tests.factories import CourseStudentFactory

pytestmark = pytest.mark.django_db(transaction=True)

DATABASE_BACKEND = {"BACKEND": "django_tasks_db.DatabaseBackend"}


@pytest.fixture
def database_queue(settings: Any) -> None:
    """Send tasks to the database backend, where they wait for a worker, as on the site."""
    settings.TASKS = {**settings.TASKS, "default": DATABASE_BACKEND}


def db_worker() -> None:
    """Run a worker over the database queue until it is empty, here, as the site would."""
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)


def outcomes() -> dict[str, tuple[str, str, str]]:
    """Return each delivered reminder's (outcome, error, task) by NetID."""
    return {r.netid: (r.outcome, r.error, r.task_id) for r in Reminder.objects.all()}


def tasks() -> dict[str, str]:
    """Return the task of each student's last reminder, by NetID."""
    return dict(Student.objects.values_list("netid", "reminder_task"))


def lines(flow_run: Any, level: int = logging.INFO) -> list[str]:
    step = "remind-missing-usernames"
    found = flow_run.logs.filter(step=step, level=level).values_list("message", flat=True)
    return [line for line in found if not line.startswith((f"{step} (", f"{step}: "))]


def test_queued_reminders_wait_for_a_worker_which_sends_them_and_records_it(
    sections, database_queue, mailoutbox
):
    CourseStudentFactory(netid="none", github_username="")
    CourseStudentFactory(netid="bad", github_username="octo--cat")
    CourseStudentFactory(netid="ok", github_username="octocat")

    flow_run = run("reminders")

    assert flow_run.status == "succeeded"
    assert mailoutbox == []  # nothing is sent inside the run
    assert Reminder.objects.count() == 0
    task = tasks()["none"]
    assert task
    assert tasks() == {"none": task, "bad": task, "ok": ""}
    due, *queued = lines(flow_run)
    assert due == "2 students are due a reminder"
    assert sorted(queued) == [
        f"queued a reminder to bad <bad@example.edu> (task {task})",
        f"queued a reminder to none <none@example.edu> (task {task})",
    ]
    # Queued counts as reminded: the next run does not queue them again.
    assert flow_run.metadata["reminded"] == ["bad", "none"]
    assert Student.objects.filter(last_reminded_at__isnull=True).count() == 1
    assert run("reminders").metadata["reminded"] == []

    db_worker()

    assert sorted(message.to for message in mailoutbox) == [
        ["bad@example.edu"],
        ["none@example.edu"],
    ]
    assert "'octo--cat' may not contain two hyphens in a row." in next(
        m.body for m in mailoutbox if m.to == ["bad@example.edu"]
    )
    assert outcomes() == {"bad": ("sent", "", task), "none": ("sent", "", task)}


def test_reminders_are_queued_a_batch_to_a_task(sections, database_queue, monkeypatch):
    monkeypatch.setattr(RemindMissingUsernames, "batch_size", 2)
    for netid in ("a1", "b2", "c3", "d4", "e5"):
        CourseStudentFactory(netid=netid, github_username="")

    run("reminders")
    db_worker()

    by_task: dict[str, list[str]] = {}
    for netid, task in sorted(tasks().items()):
        by_task.setdefault(task, []).append(netid)
    assert sorted(by_task.values()) == [["a1", "b2"], ["c3", "d4"], ["e5"]]
    assert {netid: task for netid, (_, _, task) in outcomes().items()} == tasks()


def test_a_backend_that_runs_tasks_at_once_has_sent_them_when_the_step_ends(sections, mailoutbox):
    CourseStudentFactory(netid="none", github_username="")

    flow_run = run("reminders")  # the tests' default backend is the immediate one

    assert [message.to for message in mailoutbox] == [["none@example.edu"]]
    assert outcomes() == {"none": ("sent", "", tasks()["none"])}
    assert lines(flow_run) == [
        "1 students are due a reminder",
        "reminded none <none@example.edu>",
    ]


def test_a_batch_the_queue_refuses_fails_the_step_and_its_students_stay_due(
    sections, settings, mailoutbox
):
    # The backend takes tasks for another queue only: enqueueing the reminders is refused.
    settings.TASKS = {**settings.TASKS, "default": {**settings.TASKS["default"], "QUEUES": ["x"]}}
    CourseStudentFactory(netid="none", github_username="")

    flow_run = run("reminders")

    assert flow_run.status == "failed"
    error = flow_run.steps.get(name="remind-missing-usernames").error
    assert error.startswith(
        "IntentsFailed: 1 of 1 intents failed: email none <none@example.edu>: "
        "ReminderError: could not be queued: "
    )
    assert mailoutbox == []
    assert Reminder.objects.count() == 0
    none = Student.objects.get(netid="none")
    assert (none.last_reminded_at, none.reminder_task) == (None, "")  # the next run tries again


def test_debug_mode_queues_nothing(sections, database_queue, mailoutbox):
    CourseStudentFactory(netid="none", github_username="")

    flow_run = run("reminders", modes={"remind-missing-usernames": "debug"})

    assert flow_run.status == "succeeded"
    assert tasks() == {"none": ""}
    db_worker()
    assert mailoutbox == []
    assert Reminder.objects.count() == 0
