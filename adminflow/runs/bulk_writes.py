"""Write many rows of one model in a few statements, without model instances.

A recorded run writes a log line for every step's start and end and a row
change for every move of a step. Through the ORM each value passes the
query compiler (``bulk_create``), or each row costs a statement
(``update()``), or each changed field a CASE over every row
(``bulk_update``): on a 1000-step run any of them cost several times what
running the steps did. Here the SQL is built from the model's own table
and column names, and the values go as the database driver takes them
fastest, measured on such a run:

- PostgreSQL: one JSON parameter per batch, read back into rows of the
  table's own type by ``json_populate_recordset``. Thousands of ``%s``
  would be parsed by the driver in Python, which cost more than the write;
  datetimes go in it as ISO text, made without a callback from the encoder.
- SQLite: a multi-row INSERT, and one prepared UPDATE run for every row
  (no round trips to save; ``UPDATE ... FROM`` needs SQLite 3.33).

The callers pass strings, numbers, booleans, None, aware datetimes and
JSON values; nothing else is adapted.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from django.db import connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    batch_size: int,
) -> None:
    """Insert ``rows``, each a value per name in ``fields``, in one transaction: one
    INSERT per ``batch_size`` rows (fewer if the database takes fewer parameters)."""
    connection = connections[router.db_for_write(model)]
    columns = [_field(model, name) for name in fields]
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    names = ", ".join(qn(_column(field)) for field in columns)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sql = (
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {_recordset(connection, model)}"
            )
            for batch in _batches(_adapted(connection, columns, rows), batch_size):
                cursor.execute(sql, [_as_json(columns, batch)])
            return
        size = max(1, min(batch_size, connection.ops.bulk_batch_size(columns, rows)))
        one = f"({', '.join(['%s'] * len(columns))})"
        for batch in _batches(_adapted(connection, columns, rows), size):
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {', '.join([one] * len(batch))}",
                [value for row in batch for value in row],
            )


def update_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    batch_size: int,
) -> None:
    """Set ``fields`` of the rows whose primary key is each row's first value to the
    values after it, in one transaction: on PostgreSQL one UPDATE per ``batch_size``
    rows, elsewhere one prepared UPDATE run for every row."""
    connection = connections[router.db_for_write(model)]
    columns = [model._meta.pk, *(_field(model, name) for name in fields)]
    qn = connection.ops.quote_name
    pk, *changed = (qn(_column(field)) for field in columns)
    table = qn(model._meta.db_table)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            sets = ", ".join(f"{name} = v.{name}" for name in changed)
            sql = (
                f"UPDATE {table} AS t SET {sets} FROM {_recordset(connection, model)} AS v "
                f"WHERE t.{pk} = v.{pk}"
            )
            for batch in _batches(_adapted(connection, columns, rows), batch_size):
                cursor.execute(sql, [_as_json(columns, batch)])
            return
        sets = ", ".join(f"{name} = %s" for name in changed)
        # The key goes last, where the WHERE clause takes it.
        cursor.executemany(
            f"UPDATE {table} SET {sets} WHERE {pk} = %s",
            [(*row[1:], row[0]) for row in _adapted(connection, columns, rows)],
        )


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    """Return ``model``'s field ``name``: one with a column of the table, as the callers
    pass (never a reverse relation)."""
    return cast("models.Field[Any, Any]", model._meta.get_field(name))


def _column(field: models.Field[Any, Any]) -> str:
    """Return ``field``'s column: every field the callers pass has one."""
    return cast(str, field.column)


def _batches(rows: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [rows[start : start + size] for start in range(0, len(rows), size)]


def _recordset(connection: BaseDatabaseWrapper, model: type[models.Model]) -> str:
    """Return the SQL reading a JSON parameter as rows of ``model``'s table (PostgreSQL)."""
    return f"json_populate_recordset(NULL::{connection.ops.quote_name(model._meta.db_table)}, %s)"


def _as_json(columns: list[models.Field], rows: Sequence[Sequence[Any]]) -> str:
    """Return ``rows``, adapted (:func:`_adapted`), as a JSON array of objects keyed by
    column (PostgreSQL)."""
    names = [column.column for column in columns]
    return json.dumps([dict(zip(names, row, strict=True)) for row in rows])


def _adapted(
    connection: BaseDatabaseWrapper, columns: list[models.Field], rows: Sequence[Sequence[Any]]
) -> list[Sequence[Any]]:
    """Return ``rows`` with their datetimes and JSON as the database takes them: on
    PostgreSQL, as they go in a JSON batch (datetimes as ISO text, JSON as it is)."""
    adapters: list[tuple[int, Callable[[Any], Any]]] = []
    for index, column in enumerate(columns):
        if isinstance(column, models.DateTimeField):
            adapters.append((index, _datetime_adapter(connection)))
        elif isinstance(column, models.JSONField) and connection.vendor != "postgresql":
            adapters.append((index, functools.partial(json.dumps, cls=column.encoder)))
    if not adapters:
        return list(rows)
    adapted: list[Sequence[Any]] = []
    for row in rows:
        values = list(row)
        for index, adapt in adapters:
            values[index] = adapt(values[index])
        adapted.append(values)
    return adapted


def _datetime_adapter(connection: BaseDatabaseWrapper) -> Callable[[Any], Any]:
    """Return a datetime's adapter for ``connection``, with a short cut for the common case.

    A datetime in UTC (as ``timezone.now()`` and the engine give them) becomes
    its text in a fraction of the time the usual way takes: thousands per
    run, most of them within the same few seconds, whose text up to the
    second is made once (for the one batch the adapter serves). On SQLite
    that is the backend adapter's text (the naive datetime, when the
    connection's zone is UTC); on PostgreSQL, ISO text with its offset for a
    JSON batch. Elsewhere, the backend's adapter.
    """
    if connection.vendor == "postgresql":
        return _utc_text("T", "+00:00", datetime.isoformat)
    adapt = connection.ops.adapt_datetimefield_value
    if connection.vendor == "sqlite" and connection.timezone is UTC:
        return _utc_text(" ", "", adapt)
    return adapt


def _utc_text(sep: str, offset: str, otherwise: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Return a function writing a UTC datetime as ISO text (``sep`` between date and time,
    ``offset`` after it; the microseconds only if any, as ``isoformat`` does); None as None,
    and any other value as ``otherwise`` does."""
    seconds: dict[tuple[int, ...], str] = {}

    def text(value: Any) -> Any:
        if value is None:
            return None
        if getattr(value, "tzinfo", None) is not UTC:
            return otherwise(value)
        second = (value.year, value.month, value.day, value.hour, value.minute, value.second)
        start = seconds.get(second)
        if start is None:
            start = seconds[second] = value.replace(microsecond=0, tzinfo=None).isoformat(sep)
        if value.microsecond:
            return f"{start}.{value.microsecond:06d}{offset}"
        return f"{start}{offset}"

    return text
