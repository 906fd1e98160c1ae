"""Cron expressions: what is refused and why, and when a schedule falls due in the site's zone.

Daylight saving follows Debian cron (through cronsim): a fixed-time job whose
time is skipped in spring runs when the clock jumps forward, one whose time
happens twice in autumn runs once, and a job with a wildcard hour runs in
both of autumn's repeated hours. Europe/Amsterdam springs forward on
2024-03-31 at 02:00 (to 03:00) and falls back on 2024-10-27 at 03:00 (to 02:00).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import islice

import pytest
from django.core.exceptions import ValidationError

from adminflow.schedule.cron import (
    CRON_FORMAT,
    cron_problem,
    latest_tick,
    next_tick,
    site_zone,
    ticks_after,
    validate_cron,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ticks(expression: str, after: datetime, count: int, **window: date) -> list[datetime]:
    """Return the first ``count`` ticks after ``after``, as UTC instants."""
    return [t.astimezone(UTC) for t in islice(ticks_after(expression, after, **window), count)]


# What is refused


@pytest.mark.parametrize("expression", ["*/15 * * * *", "0 8 * * 1-5", "30 2 1 */3 *"])
def test_a_valid_expression_has_no_problem(expression):
    assert cron_problem(expression) is None
    validate_cron(expression)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("* * * *", "wrong number of fields"),
        ("61 * * * *", "bad minute"),
        ("0 25 * * *", "bad hour"),
        ("0 0 31 2 *", "bad day-of-month"),
        ("0 0 * * mon-fry", "bad day-of-week"),
        ("every day", "wrong number of fields"),
        ("@daily", "wrong number of fields"),
    ],
)
def test_an_invalid_expression_is_refused_with_the_reason_and_the_expected_form(expression, reason):
    problem = cron_problem(expression)

    assert problem == (
        f"'{expression}' is not a valid cron expression: {reason} (expected {CRON_FORMAT})"
    )
    with pytest.raises(ValidationError) as caught:
        validate_cron(expression)
    assert caught.value.messages == [problem]
    assert caught.value.code == "invalid_cron"


@pytest.mark.parametrize("expression", ["", "   ", None, 15])
def test_an_empty_or_non_text_expression_is_refused(expression):
    assert cron_problem(expression) == f"expected a cron expression of {CRON_FORMAT}"


def test_ticks_of_an_invalid_expression_raise_value_error():
    with pytest.raises(ValueError, match="'61 \\* \\* \\* \\*' is not a valid cron expression"):
        next(ticks_after("61 * * * *", utc(2024, 1, 1)))
    with pytest.raises(ValueError, match="not a valid cron expression"):
        latest_tick("61 * * * *", utc(2024, 1, 1), after=utc(2023, 1, 1))


# When it falls due


def test_ticks_run_on_across_midnight():
    assert ticks("0,30 23,0 * * *", utc(2024, 12, 31, 22, 45), 5) == [
        utc(2024, 12, 31, 23, 0),
        utc(2024, 12, 31, 23, 30),
        utc(2025, 1, 1, 0, 0),
        utc(2025, 1, 1, 0, 30),
        utc(2025, 1, 1, 23, 0),
    ]


def test_ticks_are_strictly_after_the_start():
    assert ticks("0 0 * * *", utc(2024, 5, 1), 1) == [utc(2024, 5, 2)]
    assert ticks("0 0 * * *", utc(2024, 4, 30, 23, 59, 59), 1) == [utc(2024, 5, 1)]


def test_ticks_are_read_in_the_site_zone(amsterdam):
    (tick,) = islice(ticks_after("0 8 * * *", utc(2024, 6, 1)), 1)

    assert str(site_zone()) == "Europe/Amsterdam"
    assert tick.astimezone(UTC) == utc(2024, 6, 1, 6)  # 08:00 summer time
    assert (tick.hour, tick.tzname()) == (8, "CEST")


def test_without_use_tz_schedules_are_read_in_utc(settings):
    settings.USE_TZ = False
    settings.TIME_ZONE = "Europe/Amsterdam"

    assert str(site_zone()) == "UTC"


def test_spring_forward_a_skipped_time_runs_when_the_clock_jumps(amsterdam):
    # 02:30 does not exist on 31 March: it runs at 03:00 summer time, once.
    assert ticks("30 2 * * *", utc(2024, 3, 30, 12), 3) == [
        utc(2024, 3, 31, 1, 0),  # 03:00 CEST
        utc(2024, 4, 1, 0, 30),  # 02:30 CEST
        utc(2024, 4, 2, 0, 30),
    ]


def test_spring_forward_an_hourly_schedule_has_no_ticks_in_the_missing_hour(amsterdam):
    # Every 30 minutes: 01:30 CET, then 03:00 and 03:30 CEST; 02:00 and 02:30 never happen.
    assert ticks("*/30 * * * *", utc(2024, 3, 31, 0, 15), 3) == [
        utc(2024, 3, 31, 0, 30),
        utc(2024, 3, 31, 1, 0),
        utc(2024, 3, 31, 1, 30),
    ]


def test_fall_back_a_fixed_time_in_the_repeated_hour_runs_once(amsterdam):
    assert ticks("30 2 * * *", utc(2024, 10, 26, 12), 2) == [
        utc(2024, 10, 27, 0, 30),  # 02:30 CEST, the first pass; not 02:30 CET an hour later
        utc(2024, 10, 28, 1, 30),  # 02:30 CET
    ]


def test_fall_back_a_wildcard_hour_runs_in_both_passes(amsterdam):
    assert ticks("*/30 * * * *", utc(2024, 10, 26, 23, 45), 5) == [
        utc(2024, 10, 27, 0, 0),  # 02:00 CEST
        utc(2024, 10, 27, 0, 30),  # 02:30 CEST
        utc(2024, 10, 27, 1, 0),  # 02:00 CET
        utc(2024, 10, 27, 1, 30),  # 02:30 CET
        utc(2024, 10, 27, 2, 0),  # 03:00 CET
    ]


def test_fall_back_from_inside_the_repeat_the_first_pass_is_not_offered_again(amsterdam):
    # 01:10 UTC is 02:10 CET, in the repeated hour: today's 02:30 was at 00:30 UTC.
    tick = next_tick("30 2 * * *", utc(2024, 10, 27, 1, 10))

    assert tick.astimezone(UTC) == utc(2024, 10, 28, 1, 30)


# The window: first and last day, inclusive, in the site's zone


def test_no_tick_comes_before_the_first_day_and_its_midnight_counts(amsterdam):
    assert ticks("0 0,12 * * *", utc(2024, 5, 1), 2, starts=date(2024, 6, 1)) == [
        utc(2024, 5, 31, 22),  # midnight CEST on 1 June
        utc(2024, 6, 1, 10),
    ]


def test_a_start_in_the_past_changes_nothing():
    assert ticks("0 12 * * *", utc(2024, 6, 10), 1, starts=date(2024, 6, 1)) == [
        utc(2024, 6, 10, 12)
    ]


def test_the_last_day_is_the_last_with_ticks(amsterdam):
    window = {"starts": date(2024, 6, 1), "ends": date(2024, 6, 2)}

    assert ticks("0 23 * * *", utc(2024, 5, 1), 5, **window) == [
        utc(2024, 6, 1, 21),
        utc(2024, 6, 2, 21),  # 23:00 CEST on the last day
    ]
    assert next_tick("0 23 * * *", utc(2024, 6, 2, 21), **window) is None


# The latest tick: what a late scheduler runs


def test_the_latest_tick_of_missed_ones_is_the_one_to_run():
    latest = latest_tick("*/15 * * * *", utc(2024, 6, 1, 12, 7), after=utc(2024, 6, 1, 8, 59))

    assert latest == utc(2024, 6, 1, 12, 0)


def test_a_tick_at_the_very_moment_counts():
    moment = utc(2024, 6, 1, 12, 0)

    assert latest_tick("*/15 * * * *", moment, after=utc(2024, 6, 1, 11, 59)) == moment


def test_no_tick_in_the_range_gives_none():
    assert latest_tick("0 12 * * *", utc(2024, 6, 1, 11), after=utc(2024, 5, 31, 12)) is None


def test_the_latest_tick_after_a_year_stopped():
    latest = latest_tick("* * * * *", utc(2025, 6, 1, 12, 0, 30), after=utc(2024, 6, 1))

    assert latest == utc(2025, 6, 1, 12, 0)


def test_the_latest_tick_keeps_to_the_window(amsterdam):
    window = {"starts": date(2024, 5, 20), "ends": date(2024, 6, 5)}

    latest = latest_tick("0 12 * * *", utc(2024, 6, 10), after=utc(2024, 5, 1), **window)
    early = latest_tick("0 12 * * *", utc(2024, 5, 19), after=utc(2024, 5, 1), **window)

    assert latest.astimezone(UTC) == utc(2024, 6, 5, 10)  # 12:00 CEST on the last day
    assert early is None


def test_the_latest_tick_in_the_repeated_hour_is_the_first_pass(amsterdam):
    # At 02:10 CET (01:10 UTC) today's 02:30 has been, at 02:30 CEST (00:30 UTC).
    latest = latest_tick("30 2 * * *", utc(2024, 10, 27, 1, 10), after=utc(2024, 10, 26))

    assert latest.astimezone(UTC) == utc(2024, 10, 27, 0, 30)


def test_the_latest_tick_after_spring_forward_is_the_jumped_one(amsterdam):
    latest = latest_tick("30 2 * * *", utc(2024, 3, 31, 1, 10), after=utc(2024, 3, 30, 12))

    assert latest.astimezone(UTC) == utc(2024, 3, 31, 1, 0)  # 03:00 CEST
