"""Rows written in bulk, without model instances, read back as the ORM would have
written them: datetimes above all, which take a short cut on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from adminflow.models import RunLog
from adminflow.runs.bulk_writes import insert_rows
from tests.factories import FlowRunFactory

pytestmark = pytest.mark.django_db

MOMENTS = [
    datetime(2026, 9, 1, 8, 30, 0, tzinfo=UTC),  # no microseconds: str() leaves them out
    datetime(2026, 9, 1, 8, 30, 0, 1, tzinfo=UTC),
    datetime(2026, 9, 1, 8, 30, 0, 999_999, tzinfo=UTC),  # the same second's text, reused
    datetime(2026, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC),
    # Another zone: the backend's own adapter converts it.
    datetime(2026, 9, 1, 10, 30, 0, 250_000, tzinfo=timezone(timedelta(hours=2))),
]


def test_inserted_datetimes_read_back_as_the_orm_writes_them():
    run = FlowRunFactory()
    rows = [(run.pk, "", 20, f"line {index}", moment) for index, moment in enumerate(MOMENTS)]
    by_orm = FlowRunFactory()
    RunLog.objects.bulk_create(
        RunLog(run=by_orm, level=20, message=f"line {index}", created_at=moment)
        for index, moment in enumerate(MOMENTS)
    )

    insert_rows(RunLog, ("run", "step", "level", "message", "created_at"), rows, 2)

    written = list(run.logs.order_by("id").values_list("created_at", flat=True))
    assert written == list(by_orm.logs.order_by("id").values_list("created_at", flat=True))
    assert written == MOMENTS
