"""Scheduled runs: when a flow falls due, what one pass starts, and claims that start one run.

The clock is frozen with time-machine: ``timezone.now()`` follows it, so a
flow's next due time is computed at the frozen instant when it is saved.
"""

from __future__ import annotations

import logging
import threading
from datetime import date

import pytest
from django.db import connection
from django.db.models.signals import post_save

from adminflow.models import Flow, FlowRun
from adminflow.runs import cancel_run, start_run
from adminflow.schedule.scheduler import DueRuns, due_flows, next_due_at, start_due_runs
from adminflow.states import FlowRunStatus, Trigger
from tests.factories import FlowFactory
from tests.run_helpers import pipeline
from tests.schedule_helpers import utc

pytestmark = pytest.mark.django_db

EVERY_15 = "*/15 * * * *"


@pytest.fixture
def scheduled(register, trace, time_machine):
    """Return ``make(name, schedule, **fields)``: a registered flow with a schedule, saved now."""

    def make(name: str, schedule: str = EVERY_15, **fields) -> Flow:
        register(pipeline(name, trace))
        return FlowFactory(name=name, schedule=schedule, **fields)

    return make


def fresh(row: Flow) -> Flow:
    row.refresh_from_db()
    return row


def finish_runs() -> None:
    """End every run, so that the flows' next times may start."""
    FlowRun.objects.update(status=FlowRunStatus.SUCCEEDED)


def due_pass(*args: int) -> DueRuns:
    """Pass at the instant ``args`` (UTC)."""
    return start_due_runs(utc(*args))


# When a flow falls due


def test_a_new_schedule_is_due_at_its_next_time(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)

    row = scheduled("tidy")

    assert row.schedule_due_at == utc(2024, 6, 1, 12, 15)
    assert row.last_scheduled_at is None
    assert next_due_at() == utc(2024, 6, 1, 12, 15)


def test_nothing_starts_before_the_time(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    row = scheduled("tidy")

    due = due_pass(2024, 6, 1, 12, 14, 59)

    assert due == DueRuns()
    assert not FlowRun.objects.exists()
    assert fresh(row).schedule_due_at == utc(2024, 6, 1, 12, 15)


def test_at_the_time_one_run_starts_for_it_with_trigger_schedule(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    row = scheduled("tidy")

    due = due_pass(2024, 6, 1, 12, 15)

    (run,) = due.started
    assert FlowRun.objects.get() == run
    assert (run.status, run.trigger, run.scheduled_for) == (
        FlowRunStatus.QUEUED,
        Trigger.SCHEDULE,
        utc(2024, 6, 1, 12, 15),
    )
    row = fresh(row)
    assert row.last_scheduled_at == utc(2024, 6, 1, 12, 15)
    assert row.schedule_due_at == utc(2024, 6, 1, 12, 30)
    assert due.lines() == [
        f"Run {run.pk} of flow 'tidy', scheduled for 2024-06-01 12:15 UTC: queued"
    ]


def test_the_same_time_does_not_start_twice(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    scheduled("tidy")
    due_pass(2024, 6, 1, 12, 15)

    again = due_pass(2024, 6, 1, 12, 16)

    assert again == DueRuns()
    assert FlowRun.objects.count() == 1


def test_missed_times_give_one_run_for_the_latest(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    row = scheduled("tidy")

    # The clock jumps three hours: twelve times of */15 went by.
    due = due_pass(2024, 6, 1, 15, 7)

    (run,) = due.started
    assert (run.trigger, run.scheduled_for) == (Trigger.SCHEDULE, utc(2024, 6, 1, 15, 0))
    assert FlowRun.objects.count() == 1
    row = fresh(row)
    assert (row.last_scheduled_at, row.schedule_due_at) == (
        utc(2024, 6, 1, 15, 0),
        utc(2024, 6, 1, 15, 15),
    )


def test_a_schedule_runs_across_midnight(scheduled, time_machine):
    time_machine.move_to(utc(2024, 12, 31, 22, 50), tick=False)
    row = scheduled("tidy", "0,30 23,0 * * *")
    times = [
        utc(2024, 12, 31, 23, 0),
        utc(2024, 12, 31, 23, 30),
        utc(2025, 1, 1, 0, 0),
        utc(2025, 1, 1, 0, 30),
    ]

    for time in times:
        start_due_runs(time)
        finish_runs()

    assert list(FlowRun.objects.order_by("pk").values_list("scheduled_for", flat=True)) == times
    assert fresh(row).schedule_due_at == utc(2025, 1, 1, 23, 0)


# Daylight saving, in the site's zone


def test_spring_forward_the_skipped_time_runs_once_at_the_jump(amsterdam, scheduled, time_machine):
    time_machine.move_to(utc(2024, 3, 30, 12), tick=False)
    row = scheduled("tidy", "30 2 * * *")
    assert row.schedule_due_at == utc(2024, 3, 31, 1, 0)  # 03:00 CEST

    (run,) = due_pass(2024, 3, 31, 1, 0).started

    assert run.scheduled_for == utc(2024, 3, 31, 1, 0)
    assert fresh(row).schedule_due_at == utc(2024, 4, 1, 0, 30)  # 02:30 CEST


def test_fall_back_a_fixed_time_runs_once_not_again_in_the_repeat(
    amsterdam, scheduled, time_machine
):
    time_machine.move_to(utc(2024, 10, 26, 12), tick=False)
    row = scheduled("tidy", "30 2 * * *")

    first = due_pass(2024, 10, 27, 0, 30)  # 02:30 CEST
    repeat = due_pass(2024, 10, 27, 1, 30)  # 02:30 CET

    assert [run.scheduled_for for run in first.started] == [utc(2024, 10, 27, 0, 30)]
    assert repeat == DueRuns()
    assert fresh(row).schedule_due_at == utc(2024, 10, 28, 1, 30)


def test_fall_back_an_every_half_hour_schedule_runs_in_both_passes(
    amsterdam, scheduled, time_machine
):
    time_machine.move_to(utc(2024, 10, 26, 23, 50), tick=False)
    scheduled("tidy", "*/30 * * * *")
    times = [(0, 0), (0, 30), (1, 0), (1, 30), (2, 0)]  # 02:00, 02:30 CEST; 02:00, 02:30, 03:00 CET

    for hour, minute in times:
        due_pass(2024, 10, 27, hour, minute)
        finish_runs()

    scheduled_for = FlowRun.objects.order_by("pk").values_list("scheduled_for", flat=True)
    assert list(scheduled_for) == [utc(2024, 10, 27, h, m) for h, m in times]


def test_a_midnight_schedule_is_midnight_of_the_site_zone(amsterdam, scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12), tick=False)
    scheduled("tidy", "0 0 * * *")

    assert due_pass(2024, 6, 1, 21, 59).started == []
    (run,) = due_pass(2024, 6, 1, 22, 0).started  # 00:00 CEST on 2 June
    assert run.scheduled_for == utc(2024, 6, 1, 22, 0)


# Switched off, disabled, windows


def test_a_schedule_switched_off_starts_nothing(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    row = scheduled("tidy", schedule_enabled=False)

    assert row.schedule_due_at is None
    assert due_pass(2024, 6, 2, 12).started == []
    assert not FlowRun.objects.exists()


def test_a_disabled_flow_starts_nothing(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    row = scheduled("tidy", enabled=False)

    assert row.schedule_due_at is None
    assert due_pass(2024, 6, 2, 12).started == []


def test_switched_off_past_its_time_by_an_update_it_starts_nothing(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    row = scheduled("tidy")
    Flow.objects.filter(pk=row.pk).update(schedule_enabled=False)

    assert due_pass(2024, 6, 1, 13).started == []
    assert list(due_flows(utc(2024, 6, 1, 13))) == []


def test_switching_a_schedule_on_does_not_run_the_times_it_missed(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    row = scheduled("tidy", schedule_enabled=False)

    time_machine.move_to(utc(2024, 6, 1, 15, 7), tick=False)
    row.schedule_enabled = True
    row.save()

    assert row.schedule_due_at == utc(2024, 6, 1, 15, 15)
    assert due_pass(2024, 6, 1, 15, 7).started == []


def test_a_start_date_in_the_future_waits_for_that_day(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    row = scheduled("tidy", "0 9 * * *", schedule_starts=date(2024, 6, 10))

    assert row.schedule_due_at == utc(2024, 6, 10, 9)
    assert due_pass(2024, 6, 5, 9).started == []
    (run,) = due_pass(2024, 6, 10, 9).started
    assert run.scheduled_for == utc(2024, 6, 10, 9)


def test_the_last_day_runs_and_then_the_schedule_is_over(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12), tick=False)
    row = scheduled("tidy", "0 23 * * *", schedule_ends=date(2024, 6, 2))
    due_pass(2024, 6, 1, 23)
    finish_runs()

    (run,) = due_pass(2024, 6, 2, 23).started

    assert run.scheduled_for == utc(2024, 6, 2, 23)
    assert fresh(row).schedule_due_at is None
    assert due_pass(2024, 6, 3, 23).started == []


def test_after_the_last_day_a_missed_time_is_not_run_and_the_due_time_is_cleared(
    scheduled, time_machine, caplog
):
    time_machine.move_to(utc(2024, 6, 1, 12), tick=False)
    row = scheduled("tidy", "0 23 * * *", schedule_ends=date(2024, 6, 2))

    with caplog.at_level(logging.INFO, logger="adminflow.schedule.scheduler"):
        due = due_pass(2024, 6, 3, 9)  # the scheduler was down from before the first time

    assert due == DueRuns()
    assert not FlowRun.objects.exists()
    row = fresh(row)
    assert (row.schedule_due_at, row.last_scheduled_at) == (None, None)
    assert "Flow 'tidy': its schedule ended on 2024-06-02; nothing started." in caplog.messages


def test_the_last_day_ends_at_midnight_of_the_site_zone(amsterdam, scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12), tick=False)
    scheduled("tidy", "0 12 * * *", schedule_ends=date(2024, 6, 2))

    # 23:30 CEST on the last day: its noon run is still made up for.
    (run,) = due_pass(2024, 6, 2, 21, 30).started
    assert run.scheduled_for == utc(2024, 6, 2, 10)  # 12:00 CEST


# What a pass does not start


def test_a_flow_with_an_active_run_is_skipped_logged_and_its_time_taken(
    scheduled, time_machine, caplog
):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    row = scheduled("tidy")
    active = start_run("tidy", trigger=Trigger.ADMIN)

    with caplog.at_level(logging.INFO, logger="adminflow.schedule.scheduler"):
        due = due_pass(2024, 6, 1, 12, 15)

    message = f"Skipped flow 'tidy': run {active.pk} is queued."
    assert due == DueRuns(skipped=[message])
    assert due.lines() == [message]
    assert message in caplog.messages
    assert list(FlowRun.objects.all()) == [active]
    row = fresh(row)
    assert (row.last_scheduled_at, row.schedule_due_at) == (
        utc(2024, 6, 1, 12, 15),
        utc(2024, 6, 1, 12, 30),
    )
    # Once the long run is over, the next time starts as usual; the skipped one is not made up.
    cancel_run(active)
    (run,) = due_pass(2024, 6, 1, 12, 31).started
    assert run.scheduled_for == utc(2024, 6, 1, 12, 30)


def test_a_flow_with_a_broken_config_is_an_error_and_the_others_still_start(
    scheduled, time_machine, caplog
):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    scheduled("broken", config={"ghost": {}})
    scheduled("tidy")

    with caplog.at_level(logging.INFO, logger="adminflow.schedule.scheduler"):
        due = due_pass(2024, 6, 1, 12, 15)

    assert [run.flow.name for run in due.started] == ["tidy"]
    (error,) = due.errors
    assert error.startswith("Flow 'broken' was not started for 2024-06-01 12:15 UTC: ")
    assert "ghost" in error
    assert error in caplog.messages
    assert FlowRun.objects.get().flow.name == "tidy"
    assert fresh(Flow.objects.get(name="broken")).schedule_due_at == utc(2024, 6, 1, 12, 30)


def test_an_invalid_schedule_written_past_validation_is_reported_once_and_stopped(
    scheduled, time_machine
):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    row = scheduled("tidy")
    Flow.objects.filter(pk=row.pk).update(schedule="61 * * * *")

    first = due_pass(2024, 6, 1, 12, 15)
    second = due_pass(2024, 6, 1, 12, 30)

    assert first.errors == [
        "Flow 'tidy' has an invalid schedule, so it no longer runs: '61 * * * *' is not a "
        "valid cron expression: bad minute (expected five fields: minute hour day-of-month "
        "month day-of-week, e.g. '*/15 8-18 * * 1-5')"
    ]
    assert second == DueRuns()
    assert not FlowRun.objects.exists()
    assert fresh(row).schedule_due_at is None


def test_a_pass_that_breaks_between_claim_and_start_gives_the_time_back(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    row = scheduled("tidy")

    def database_went_away(**kwargs) -> None:
        raise RuntimeError("the database went away")

    # A host site's receiver failing as the run is written: the claim must not stand alone.
    post_save.connect(database_went_away, sender=FlowRun, dispatch_uid="went-away")
    try:
        with pytest.raises(RuntimeError, match="the database went away"):
            due_pass(2024, 6, 1, 12, 15)
    finally:
        post_save.disconnect(sender=FlowRun, dispatch_uid="went-away")

    assert not FlowRun.objects.exists()
    row = fresh(row)
    assert (row.schedule_due_at, row.last_scheduled_at) == (utc(2024, 6, 1, 12, 15), None)
    (run,) = due_pass(2024, 6, 1, 12, 16).started
    assert run.scheduled_for == utc(2024, 6, 1, 12, 15)


# Flow.save keeps the due time


def test_changing_the_schedule_moves_the_due_time(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    row = scheduled("tidy")

    time_machine.move_to(utc(2024, 6, 1, 12, 20), tick=False)  # 12:15 is due and not yet claimed
    row.schedule = "0 * * * *"
    row.save()

    assert row.schedule_due_at == utc(2024, 6, 1, 13)
    assert fresh(row).schedule_due_at == utc(2024, 6, 1, 13)


@pytest.mark.parametrize(
    ("field", "value", "due"),
    [
        ("schedule", "", None),
        ("schedule_enabled", False, None),
        ("enabled", False, None),
        ("schedule_starts", date(2024, 6, 3), utc(2024, 6, 3, 0, 0)),
        ("schedule_ends", date(2024, 5, 31), None),
    ],
)
def test_each_schedule_field_moves_the_due_time(scheduled, time_machine, field, value, due):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    row = scheduled("tidy")

    setattr(row, field, value)
    row.save(update_fields=[field])

    assert fresh(row).schedule_due_at == due


def test_saving_other_fields_keeps_a_due_time_not_yet_claimed(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    row = scheduled("tidy")

    time_machine.move_to(utc(2024, 6, 1, 12, 20), tick=False)
    row = Flow.objects.get(pk=row.pk)
    row.description = "tidier"
    row.save()

    assert fresh(row).schedule_due_at == utc(2024, 6, 1, 12, 15)
    (run,) = due_pass(2024, 6, 1, 12, 20).started
    assert run.scheduled_for == utc(2024, 6, 1, 12, 15)


def test_saving_a_row_read_before_a_claim_does_not_hand_the_time_out_again(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    scheduled("tidy")
    held = Flow.objects.get(name="tidy")  # an admin form opens it
    due_pass(2024, 6, 1, 12, 15)

    held.description = "edited meanwhile"
    held.save()

    row = Flow.objects.get(name="tidy")
    assert (row.description, row.schedule_due_at, row.last_scheduled_at) == (
        "edited meanwhile",
        utc(2024, 6, 1, 12, 30),
        utc(2024, 6, 1, 12, 15),
    )
    finish_runs()
    assert due_pass(2024, 6, 1, 12, 16) == DueRuns()


def test_a_row_refreshed_after_another_changed_its_schedule_keeps_the_due_time(
    scheduled, time_machine
):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    scheduled("tidy")
    held = Flow.objects.get(name="tidy")
    time_machine.move_to(utc(2024, 6, 1, 12, 7), tick=False)
    other = Flow.objects.get(name="tidy")
    other.schedule = "*/5 * * * *"
    other.save()  # due at 12:10

    time_machine.move_to(utc(2024, 6, 1, 12, 12), tick=False)
    held.refresh_from_db()
    held.description = "edited"
    held.save()

    assert fresh(held).schedule_due_at == utc(2024, 6, 1, 12, 10)  # still to run


# Claims: several schedulers at once


@pytest.mark.django_db(transaction=True)
def test_two_threads_passing_at_once_start_one_run_per_flow(scheduled, time_machine):
    time_machine.move_to(utc(2024, 6, 1, 12, 5), tick=False)
    names = [f"flow-{i}" for i in range(8)]
    for name in names:
        scheduled(name)
    start = threading.Barrier(2)
    reports: list[DueRuns] = []

    def scheduler() -> None:
        try:
            start.wait()
            reports.append(start_due_runs(utc(2024, 6, 1, 12, 15)))
        finally:
            connection.close()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(reports) == 2
    started = sorted(run.flow.name for report in reports for run in report.started)
    assert started == names
    assert sorted(FlowRun.objects.values_list("flow__name", flat=True)) == names
    assert all(report.errors == [] and report.skipped == [] for report in reports)
    # Each flow seen by both was started by one and lost by the other.
    assert all(len(report.started) + len(report.taken) <= len(names) for report in reports)
