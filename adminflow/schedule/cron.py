"""Cron expressions, read by cronsim and evaluated in the site's time zone.

cronsim follows Debian cron across daylight-saving changes: a fixed-time job
whose time is skipped in spring runs when the clock jumps forward, one whose
time happens twice in autumn runs once, and a job with a wildcard hour runs
in both of autumn's repeated hours.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

CRON_FORMAT = "five fields: minute hour day-of-month month day-of-week, e.g. '*/15 8-18 * * 1-5'"


def site_zone() -> ZoneInfo:
    """Return the zone cron expressions are read in: ``TIME_ZONE``, or UTC without USE_TZ."""
    return ZoneInfo(settings.TIME_ZONE if settings.USE_TZ else "UTC")


def site_today(now: datetime) -> date:
    """Return the date ``now`` falls on by the site's clock: the days schedules keep to."""
    return timezone.localtime(now, site_zone()).date()


def site_time(moment: datetime) -> str:
    """Return ``moment`` as the site's clock shows it, with the zone's abbreviation."""
    return f"{timezone.localtime(moment, site_zone()):%Y-%m-%d %H:%M %Z}"


def cron_problem(expression: object) -> str | None:
    """Return why ``expression`` is not a valid cron expression, or None if it is."""
    if not isinstance(expression, str) or not expression.strip():
        return f"expected a cron expression of {CRON_FORMAT}"
    try:
        CronSim(expression, datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC")))
    except CronSimError as exc:
        reason = str(exc)
        return (
            f"'{expression}' is not a valid cron expression: "
            f"{reason[:1].lower()}{reason[1:]} (expected {CRON_FORMAT})"
        )
    return None


def validate_cron(expression: str) -> None:
    """Model and form validator: refuse an invalid cron expression, saying why."""
    if problem := cron_problem(expression):
        raise ValidationError(problem, code="invalid_cron")


def ticks_after(
    expression: str,
    after: datetime,
    *,
    starts: date | None = None,
    ends: date | None = None,
) -> Iterator[datetime]:
    """Yield, in order, the times after ``after`` at which ``expression`` falls due,
    keeping to the days ``starts`` to ``ends`` (inclusive, in the site's zone).

    Arithmetic is done on instants (UTC), never on the zone's wall clock,
    which daylight-saving changes make skip and repeat.
    Raise ValueError for an invalid expression.
    """
    if problem := cron_problem(expression):
        raise ValueError(problem)
    zone = site_zone()
    begin = after
    if starts is not None:
        # Ticks are strictly after the start point: a second before the first day's
        # midnight lets a midnight tick on that day count.
        first_day = datetime.combine(starts, time(), zone).astimezone(UTC) - timedelta(seconds=1)
        begin = max(begin, first_day, key=datetime.timestamp)
    begin = timezone.localtime(begin, zone)
    for tick in CronSim(expression, begin):
        if ends is not None and tick.date() > ends:
            return
        # cronsim walks a fixed-time job on the wall clock, which cannot tell
        # autumn's repeated hour from its first pass: started in the repeat,
        # it offers a time of the first pass, already gone. As an instant it
        # is not after ``begin``, and is dropped.
        if tick.timestamp() > begin.timestamp():
            yield tick


def next_tick(
    expression: str, after: datetime, *, starts: date | None = None, ends: date | None = None
) -> datetime | None:
    """Return the first time after ``after`` that ``expression`` falls due in the window,
    or None if there is none (the window is over).

    Raise ValueError for an invalid expression.
    """
    return next(ticks_after(expression, after, starts=starts, ends=ends), None)


def latest_tick(
    expression: str,
    at_or_before: datetime,
    *,
    after: datetime,
    starts: date | None = None,
    ends: date | None = None,
) -> datetime | None:
    """Return the last time in (``after``, ``at_or_before``] that ``expression`` fell due
    in the window, or None if it did not.

    A scheduler that was stopped for months must not walk every missed minute:
    cronsim's reverse mode jumps close to the answer, and the forward walk,
    which alone knows the daylight-saving rules for sure, finishes from there.
    Raise ValueError for an invalid expression.
    """
    if problem := cron_problem(expression):
        raise ValueError(problem)
    zone = site_zone()
    # Reverse mode yields times strictly before its start; ticks fall on whole
    # seconds, so a start one second later includes ``at_or_before`` itself.
    start = at_or_before.astimezone(UTC) + timedelta(seconds=1)
    if ends is not None:
        start = min(start, datetime.combine(ends + timedelta(days=1), time(), zone))
    start = timezone.localtime(start, zone).replace(microsecond=0)
    hint = next(CronSim(expression, start, reverse=True), None)
    begin = after
    if hint is not None and after.timestamp() < hint.timestamp() <= at_or_before.timestamp():
        begin = hint.astimezone(UTC) - timedelta(seconds=1)
    latest = None
    for tick in ticks_after(expression, begin, starts=starts, ends=ends):
        if tick.timestamp() > at_or_before.timestamp():
            break
        latest = tick
    return latest
