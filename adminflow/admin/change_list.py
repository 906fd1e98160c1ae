"""The record changes' list as staff ask it: one run's changes, of one kind, of one field; as CSV.

The run page's change summary links here with ``?run=<id>&kind=<kind>``
(and ``&field=<name>`` for one field's changes). The filters read only
their own parameter and at most the one run named, so the list costs the
same few queries for a run of 20,000 changes as for one of ten; its CSV
export streams the very rows the list filters, a chunk at a time.

Which runs anyone sees goes through :func:`runs_visible_to`: every view of
records that runs changed asks it, so narrowing it narrows them all.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin import AdminSite
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..models import ChangeKind, FlowRun, RecordChange

RUN_ATTR = "_adminflow_changes_run"
"""Where a request keeps the run its change filters name: two filters ask for it."""

CSV_COLUMNS = (
    "change",
    "run",
    "flow",
    "run queued at",
    "collection",
    "key",
    "action",
    "kind",
    "fields",
    "before",
    "after",
)
FORMULA_STARTS = frozenset("=+-@\t\r")
CSV_CHUNK = 2000
"""Rows read from the database at a time while the export streams."""


def runs_visible_to(request: HttpRequest, admin_site: AdminSite) -> QuerySet[FlowRun]:
    """Return the runs the user may see: the run admin's own queryset on ``admin_site``.

    Every page that shows what runs did to records (the changes list and its
    export, a record's timeline, a run's grid) asks here, so that limiting
    who sees which flow's runs, in the run admin, limits them all.
    """
    if admin_site.is_registered(FlowRun):
        return admin_site.get_model_admin(FlowRun).get_queryset(request)
    return FlowRun.objects.all()


def kind_filter(kind: str) -> Q:
    """Return the condition for changes of ``kind``; a change stored before kinds were kept
    counts as its action."""
    if kind == ChangeKind.RETURNED:
        return Q(kind=kind)
    return Q(kind=kind) | Q(kind="", action=kind)


def named_run(request: HttpRequest, value: str | None) -> FlowRun | None:
    """Return the run ``?run=`` names (one query, once per request), or None."""
    if not value or not value.isdigit():
        return None
    if not hasattr(request, RUN_ATTR):
        setattr(request, RUN_ATTR, FlowRun.objects.select_related("flow").filter(pk=value).first())
    return getattr(request, RUN_ATTR)


class RunFilter(admin.SimpleListFilter):
    """One run's changes; the choice offered is the run named, not a list of every run."""

    title = _("run")
    parameter_name = "run"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # A filter without choices is dropped by the changelist, unapplied: a run that
        # does not exist (or a malformed id) must still filter, to nothing.
        value = self.value()
        if value is None:
            return []
        run = named_run(request, value)
        return [(value, str(run) if run is not None else _("no run #%s") % value)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(run_id=value if value.isdigit() else None)


class KindFilter(admin.SimpleListFilter):
    """Added, removed, re-enrolled or changed: what the change means, as the summary counts it."""

    title = _("kind of change")
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return list(ChangeKind.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(kind_filter(value))


class FieldFilter(admin.SimpleListFilter):
    """Changes of records whose ``field`` changed; the choices are the fields the named run
    changed, by how many records."""

    title = _("changed field")
    parameter_name = "field"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        run = named_run(request, request.GET.get(RunFilter.parameter_name))
        fields = dict((run.change_summary or {}).get("fields", {})) if run is not None else {}
        value = self.value()
        if value and value not in fields:
            fields[value] = None
        return [
            (name, name if count is None else f"{name} ({count})") for name, count in fields.items()
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        return queryset.filter(action=RecordChange.Action.CHANGED, after__has_key=value)


def changed_fields(change: RecordChange) -> list[str]:
    """Return the fields a changed record's change changed (its ``after`` holds only those)."""
    if change.action == RecordChange.Action.CHANGED and isinstance(change.after, dict):
        return sorted(change.after)
    return []


class _Echo:
    """A file whose ``write`` returns what it is given: csv.writer's rows, one at a time."""

    def write(self, value: str) -> str:
        return value


def csv_lines(changes: QuerySet[RecordChange]) -> Iterator[str]:
    """Yield the CSV export of ``changes``: a header, then one line per change, streamed."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    rows = changes.select_related("run__flow").order_by("id")
    for change in rows.iterator(chunk_size=CSV_CHUNK):
        yield writer.writerow(
            [
                change.pk,
                change.run_id,
                _cell(change.run.flow.name),
                change.run.queued_at.isoformat(),
                _cell(change.collection),
                _cell(change.key),
                change.action,
                change.kind or change.action,
                " ".join(changed_fields(change)),
                _json(change.before),
                _json(change.after),
            ]
        )


def _cell(text: str) -> str:
    """Return ``text`` as a spreadsheet shows it, never as a formula it would run (a key a
    student typed may start with ``=``)."""
    return f"'{text}" if text[:1] in FORMULA_STARTS else text


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)
