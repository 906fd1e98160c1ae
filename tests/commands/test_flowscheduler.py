"""``manage.py flowscheduler``: one pass, how long it sleeps, and stopping on a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from adminflow.management.commands.flowscheduler import MIN_SLEEP, seconds_to_next_time
from adminflow.models import Flow, FlowRun
from adminflow.states import FlowRunStatus, Trigger
from tests.factories import FlowFactory, RunningFlowRunFactory
from tests.run_helpers import command, database_url, pipeline
from tests.schedule_helpers import utc

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]


def flowscheduler(*args: str) -> tuple[str, str, int]:
    return command("flowscheduler", *args)


@pytest.fixture
def tidy(register, trace, time_machine) -> Flow:
    """A flow on */15 saved at 12:05, due at 12:15; the clock is then at 12:16."""
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    register(pipeline("tidy", trace))
    row = FlowFactory(name="tidy", schedule="*/15 * * * *")
    time_machine.move_to(utc(2024, 6, 1, 12, 16), tick=False)
    return row


def test_once_queues_the_due_runs_for_a_worker_and_exits(tidy, settings):
    settings.ADMINFLOW = {"TASK_BACKEND": "database"}

    out, err, code = flowscheduler("--once")

    assert (code, err) == (0, "")
    run = FlowRun.objects.get()
    assert (run.status, run.trigger) == (FlowRunStatus.QUEUED, Trigger.SCHEDULE)
    assert str(DBTaskResult.objects.get().id) == run.task_id
    assert out == (
        f"Run {run.pk} of flow 'tidy', scheduled for 2024-06-01 12:15 UTC: queued, "
        f"task {run.task_id}\n"
    )


def test_each_pass_fails_lost_runs_whether_or_not_their_flow_is_due(settings):
    settings.ADMINFLOW = {"STALE_AFTER": 60}
    lost = RunningFlowRunFactory(
        worker="gone:7", heartbeat_at=timezone.now() - timedelta(seconds=61)
    )

    out, err, code = flowscheduler("--once")

    lost.refresh_from_db()
    assert (code, out) == (0, "")
    assert lost.status == FlowRunStatus.FAILED
    assert err == f"Run {lost.pk} of flow '{lost.flow.name}' was lost: {lost.error}\n"
    assert lost.error.startswith("worker gone:7 stopped heartbeating at ")


def test_once_with_nothing_due_prints_nothing(tidy):
    Flow.objects.update(schedule_due_at=timezone.now() + timedelta(minutes=5))

    assert flowscheduler("--once") == ("", "", 0)
    assert flowscheduler("--once", "-v2") == ("No flow is due.\n", "", 0)


def test_once_reports_a_flow_that_cannot_start_on_stderr(tidy):
    Flow.objects.update(config={"ghost": {}})

    out, err, code = flowscheduler("--once")

    assert (out, code) == ("", 0)
    assert err.startswith("Flow 'tidy' was not started for 2024-06-01 12:15 UTC: ")


def test_a_max_sleep_under_a_second_is_a_usage_error():
    assert flowscheduler("--max-sleep", "0.5") == (
        "",
        "CommandError: --max-sleep (or ADMINFLOW['SCHEDULER_MAX_SLEEP']) must be at least "
        "1 second, got 0.5\n",
        2,
    )


def test_the_setting_under_a_second_is_refused_too(settings):
    settings.ADMINFLOW = {"SCHEDULER_MAX_SLEEP": 0}

    out, err, code = flowscheduler()

    assert (out, code) == ("", 2)
    assert err.endswith("must be at least 1 second, got 0\n")


@pytest.mark.parametrize(
    ("due_in", "sleep"),
    [
        (timedelta(seconds=30), 30.0),  # until the next time
        (timedelta(hours=2), 60.0),  # at most max_sleep, to notice edited schedules
        (None, 60.0),  # no schedule at all
    ],
)
def test_it_sleeps_until_the_next_time_at_most_max_sleep(tidy, due_in, sleep):
    Flow.objects.update(schedule_due_at=None if due_in is None else timezone.now() + due_in)

    assert seconds_to_next_time(60.0) == sleep


def test_it_never_sleeps_less_than_a_second(tidy):
    # Due a moment from now, or already (another scheduler is claiming it): no busy loop.
    Flow.objects.update(schedule_due_at=timezone.now() + timedelta(milliseconds=10))
    assert seconds_to_next_time(60.0) == MIN_SLEEP
    Flow.objects.update(schedule_due_at=timezone.now() - timedelta(seconds=10))

    assert seconds_to_next_time(60.0) == MIN_SLEEP


# A real process, stopped by a signal


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_running_scheduler_queues_due_runs_and_stops_cleanly_on_a_signal(signum):
    Flow.objects.filter(name="numbers").update(
        schedule="* * * * *", schedule_due_at=timezone.now() - timedelta(minutes=1)
    )
    process = subprocess.Popen(
        # Sleeping for an hour: only the signal can end it in time.
        [
            *(sys.executable, "-m", "django", "flowscheduler", "--settings=tests.settings"),
            *("--max-sleep", "3600"),
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = [process.stdout.readline(), process.stdout.readline()]
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()

    assert process.returncode == 0, err
    run = FlowRun.objects.get()
    assert (run.trigger, run.status) == (Trigger.SCHEDULE, FlowRunStatus.SUCCEEDED)
    assert seen[0] == "flowscheduler started (looks again at least every 3600s)\n"
    assert seen[1].startswith(f"Run {run.pk} of flow 'numbers', scheduled for ")
    assert out == "flowscheduler stopped\n"
    assert err == ""
