"""Scheduled runs: find the flows whose schedule fell due, claim each due time once, start them.

Each ``Flow`` row carries the next scheduled time not yet claimed,
``schedule_due_at``, which ``Flow.save()`` sets whenever the schedule
changes. A pass claims a due flow with one conditional UPDATE that moves
that time on: of any number of processes passing at once (cron on several
machines, ``flowscheduler``), exactly one sees its UPDATE change the row,
and only that one starts the run. However many times fell due since the
last pass, a flow gets one run, for the latest of them. The claim and the
new run commit together, so a process that dies in between loses nothing:
the time is still due at the next pass.

A flow that still has an active run is skipped: its time counts as taken,
so the skipped run does not follow the long one. Once a schedule's last day
is over in the site's zone nothing more is started, not even for a time of
that day that was missed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Min, QuerySet
from django.utils import timezone

from ..engine import AdminflowError
from ..models import Flow, FlowRun
from ..runs import Executor, FlowAlreadyRunning, start_run
from ..states import FlowRunStatus, Trigger
from .cron import cron_problem, latest_tick, site_time, site_today

logger = logging.getLogger(__name__)


@dataclass
class DueRuns:
    """What one pass did, in words the commands print: one line per flow."""

    started: list[FlowRun] = field(default_factory=list)
    """The runs it queued, each with its ``scheduled_for``."""
    skipped: list[str] = field(default_factory=list)
    """Flows not started because they still have an active run."""
    errors: list[str] = field(default_factory=list)
    """Flows that could not be started: a broken config or schedule."""
    taken: list[str] = field(default_factory=list)
    """Flows whose due time another process claimed first."""

    def lines(self, verbosity: int = 1) -> list[str]:
        """Return what a command prints of this pass at ``verbosity``, errors aside."""
        if verbosity < 1:
            return []
        lines = [describe_run(run) for run in self.started] + self.skipped
        if verbosity > 1:
            lines += self.taken
            if not (lines or self.errors):
                lines.append("No flow is due.")
        return lines


def describe_run(run: FlowRun) -> str:
    """Return a scheduled run in one line: id, flow, scheduled time, status and task."""
    task = f", task {run.task_id}" if run.task_id else ""
    return (
        f"Run {run.pk} of flow '{run.flow.name}', scheduled for "
        f"{site_time(run.scheduled_for)}: {run.status}{task}"  # type: ignore[arg-type]  # a scheduled run has one
    )


def scheduled_flows() -> QuerySet[Flow]:
    """Return the flows whose schedule may fall due: enabled, with a schedule switched on."""
    return Flow.objects.filter(enabled=True, schedule_enabled=True).exclude(schedule="")


def due_flows(now: datetime) -> QuerySet[Flow]:
    """Return the scheduled flows with a time not yet claimed at or before ``now``."""
    return scheduled_flows().filter(schedule_due_at__lte=now).order_by("schedule_due_at", "pk")


def next_due_at() -> datetime | None:
    """Return the earliest time any schedule falls due, or None if none will."""
    return scheduled_flows().aggregate(due=Min("schedule_due_at"))["due"]


def start_due_runs(now: datetime | None = None, *, execute: Executor | None = None) -> DueRuns:
    """Claim the due time of every due flow and queue one run for each claim; say what happened.

    ``execute`` is as for :func:`adminflow.runs.start_run`: the caller
    executes the runs here (``"here"``), or they are sent to a Tasks worker
    (``"worker"``); then a run the backend refused, which is marked failed,
    is reported among the errors, not the started runs. Raise only what the
    database raises; a flow that cannot start is reported and the others
    still start.
    """
    now = now or timezone.now()
    report = DueRuns()
    for row in due_flows(now):
        with transaction.atomic():
            _start_due(row, now, report, execute)
    if execute == "worker":
        _report_unsent(report)
    return report


def _report_unsent(report: DueRuns) -> None:
    """Move the runs that failed as they were sent from the started runs to the errors."""
    sent = []
    for run in report.started:
        run.refresh_from_db()  # sent once its claim committed, after start_run returned
        # Failed here: refused, or run at once by an immediate backend, and failed.
        if run.status in (FlowRunStatus.FAILED, FlowRunStatus.CANCELLED):
            _fail(report, f"{describe_run(run)}: {run.error}")
        else:
            sent.append(run)
    report.started = sent


def _start_due(row: Flow, now: datetime, report: DueRuns, execute: Executor | None) -> None:
    """Claim the due time of ``row`` and, if this process got it, start the run it is for."""
    problem = cron_problem(row.schedule)
    over = row.schedule_ends is not None and site_today(now) > row.schedule_ends
    tick = None if problem or over else _due_time(row, now)
    claimed = Flow.objects.filter(pk=row.pk, schedule_due_at=row.schedule_due_at).update(
        schedule_due_at=None if problem else row.next_schedule_time(now),
        **({"last_scheduled_at": tick} if tick else {}),
    )
    if not claimed:
        report.taken.append(f"Flow '{row.name}': its due time was claimed by another scheduler.")
        logger.debug("%s", report.taken[-1])
    elif problem:
        _fail(report, f"Flow '{row.name}' has an invalid schedule, so it no longer runs: {problem}")
    elif over:
        logger.info(
            "Flow '%s': its schedule ended on %s; nothing started.", row.name, row.schedule_ends
        )
    elif tick is not None:
        _start(row, tick, report, execute)


def _due_time(row: Flow, now: datetime) -> datetime | None:
    """Return the time to run ``row`` for: its latest scheduled time up to ``now``.

    None if no time of the schedule lies between its due time and ``now``
    (only a schedule changed by a queryset update, not by save(), does that).
    """
    tick = latest_tick(
        row.schedule,
        now,
        after=row.schedule_due_at - timedelta(seconds=1),  # type: ignore[operator,arg-type]  # set on every schedule that is on
        starts=row.schedule_starts,
        ends=row.schedule_ends,
    )
    return None if tick is None else tick.astimezone(UTC)


def _start(row: Flow, tick: datetime, report: DueRuns, execute: Executor | None) -> None:
    try:
        run = start_run(row, trigger=Trigger.SCHEDULE, scheduled_for=tick, execute=execute)
    except FlowAlreadyRunning as exc:
        report.skipped.append(f"Skipped flow '{row.name}': {exc.active}.")
        logger.info("%s", report.skipped[-1])
    except AdminflowError as exc:
        _fail(report, f"Flow '{row.name}' was not started for {site_time(tick)}: {exc}")
    else:
        report.started.append(run)
        logger.info(
            "Queued run %s of flow '%s', scheduled for %s.", run.pk, row.name, site_time(tick)
        )


def _fail(report: DueRuns, message: str) -> None:
    report.errors.append(message)
    logger.error("%s", message)
