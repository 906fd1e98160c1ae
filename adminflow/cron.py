"""Cron expressions, read by cronsim and evaluated in the site's time zone.

cronsim follows Debian cron across daylight-saving changes: a fixed-time job
whose time is skipped in spring runs when the clock jumps forward, one whose
time happens twice in autumn runs once, and a job with a wildcard hour runs
in both of autumn's repeated hours.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

CRON_FORMAT = "five fields: minute hour day-of-month month day-of-week, e.g. '*/15 8-18 * * 1-5'"


def site_zone() -> ZoneInfo:
    """Return the zone cron expressions are read in: ``TIME_ZONE``, or UTC without USE_TZ."""
    return ZoneInfo(settings.TIME_ZONE if settings.USE_TZ else "UTC")


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

    Raise ValueError for an invalid expression.
    """
    if problem := cron_problem(expression):
        raise ValueError(problem)
    zone = site_zone()
    begin = timezone.localtime(after, zone)
    if starts is not None:
        # Ticks are strictly after the start point: a second before the first day's
        # midnight lets a midnight tick on that day count.
        begin = max(begin, datetime.combine(starts, time(), zone) - timedelta(seconds=1))
    for tick in CronSim(expression, begin):
        if ends is not None and tick.date() > ends:
            return
        yield tick
