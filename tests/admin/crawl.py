"""Every admin page that shows a flow, its runs and their records; every stored value.

For sweeps that must not miss a page or a column: a secret that must appear
nowhere, markup that must be shown as text everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db import connection
from django.urls import reverse
from django.utils.http import urlencode

from adminflow.models import Flow, FlowRun, Record, RecordChange


def admin_pages(flow: Flow) -> list[str]:
    """Return the URL of every admin page showing ``flow``, its runs, records and changes."""

    def url(name: str, *args: object) -> str:
        return reverse(f"admin:adminflow_{name}", args=args)

    pages = [
        reverse("admin:index"),
        url("flow_changelist"),
        f"{url('flow_changelist')}?{urlencode({'q': flow.name})}",
        url("flow_change", flow.pk),
        url("flow_run", flow.pk),
        url("flow_history", flow.pk),
        url("flowrun_changelist"),
        f"{url('flowrun_changelist')}?flow__id__exact={flow.pk}&status__exact=failed",
        url("record_changelist"),
        url("recordchange_changelist"),
    ]
    for run in FlowRun.objects.filter(flow=flow):
        pages += [
            url("flowrun_change", run.pk),
            f"{url('flowrun_change', run.pk)}?log_level=30",
            url("flowrun_live", run.pk),
            url("flowrun_history", run.pk),
        ]
    pages += [url("record_change", pk) for pk in Record.objects.values_list("pk", flat=True)]
    changes = RecordChange.objects.filter(run__flow=flow).values_list("pk", flat=True)
    pages += [url("recordchange_change", pk) for pk in changes]
    return pages


def stored_values() -> Iterator[tuple[str, str, str]]:
    """Yield ``(table, column, value as text)`` for every column of every row of every table."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            columns = [column[0] for column in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", "replace")
                    yield table, column, str(value)
