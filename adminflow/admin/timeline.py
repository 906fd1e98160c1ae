"""One record's timeline across every flow: what each run did to it, step by step.

A student's question, "what has happened to me?", has its answer spread
over three tables: the store's audit (``RecordChange``: added, changed with
before and after, removed), what each step did (``StepEffect``: the step
that added, dropped or changed it, an error it raised holding it) and the
log lines that name it (``RunLog.record_key``). This page puts them
together per run, newest run first, a page of runs at a time (keyset by
run id: no OFFSET), in the same few queries however many runs and records
there are.

Outside actions planned and applied for a record (intents and their
outcomes) belong here too, once runs keep them: :func:`timeline_of` reads
each source into :class:`TimelineRun`, and a new source is one more query
and one more list on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.contrib.admin import AdminSite
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from ..models import FlowRun, RecordChange, RunLog, StepEffect
from .change_list import runs_visible_to
from .display import admin_url, change_link, status_badge
from .run_page import line_json

TIMELINE_RUNS = 25
"""Runs on one page of a timeline, newest first."""
TIMELINE_LINES = 500
"""Log lines on one page of a timeline at most; the run's own page has the rest."""


@dataclass(frozen=True)
class FieldChange:
    name: str
    before: Any
    after: Any

    @property
    def before_text(self) -> str:
        return shown(self.before)

    @property
    def after_text(self) -> str:
        return shown(self.after)


def shown(value: Any) -> str:
    """Return a field's stored value as staff read it: "—" for none, "(blank)" for empty text."""
    if value is None:
        return "—"
    if value == "":
        return "(blank)"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@dataclass
class TimelineRun:
    """What one run did to the record."""

    run: FlowRun
    link: SafeString
    badge: SafeString
    change: RecordChange | None = None
    fields: list[FieldChange] = field(default_factory=list)
    effects: list[StepEffect] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RecordTimeline:
    collection: str
    key: str
    runs: list[TimelineRun]
    older_url: str | None
    """The next page of older runs, if there are more."""
    lines_cut: bool
    """More log lines name the record in these runs than the page shows."""


def timeline_url(admin_site: AdminSite, collection: str, key: str) -> str | None:
    """Return the URL of a record's timeline on ``admin_site``, if it shows record changes."""
    url = admin_url(admin_site, RecordChange, "timeline")
    if url is None:
        return None
    return f"{url}?{urlencode({'collection': collection, 'key': key})}"


def field_changes(change: RecordChange | None) -> list[FieldChange]:
    """Return a changed record's fields that changed, each before and after."""
    if change is None or change.action != RecordChange.Action.CHANGED:
        return []
    before = change.before if isinstance(change.before, dict) else {}
    after = change.after if isinstance(change.after, dict) else {}
    return [
        FieldChange(name, before.get(name), after.get(name))
        for name in sorted({*before, *after})
        if before.get(name) != after.get(name)
    ]


def timeline_of(
    request: HttpRequest,
    admin_site: AdminSite,
    collection: str,
    key: str,
    *,
    before_run: int | None = None,
) -> RecordTimeline:
    """Return the record's timeline: the runs that touched it before run ``before_run``
    (the newest ones without it), each with its store change, step effects and lines.

    Five queries, whatever the number of runs, records or lines.
    """
    visible = runs_visible_to(request, admin_site).order_by().values("pk")
    sources: list[QuerySet[Any]] = [
        model.objects.filter(collection=collection, key=key, run__in=visible)
        .order_by()
        .values_list("run_id")
        for model in (RecordChange, StepEffect)
    ]
    if before_run is not None:
        sources = [source.filter(run_id__lt=before_run) for source in sources]
    ids = [
        run_id
        for (run_id,) in sources[0].union(sources[1]).order_by("-run_id")[: TIMELINE_RUNS + 1]
    ]
    more, ids = len(ids) > TIMELINE_RUNS, ids[:TIMELINE_RUNS]
    if not ids:
        return RecordTimeline(collection, key, [], None, False)
    runs = {run.pk: run for run in FlowRun.objects.select_related("flow").filter(pk__in=ids)}
    entries = {
        run_id: TimelineRun(
            runs[run_id],
            change_link(admin_site, FlowRun, run_id, runs[run_id]),
            status_badge(runs[run_id].status),
        )
        for run_id in ids
        if run_id in runs
    }
    record = {"collection": collection, "key": key, "run_id__in": ids}
    for change in RecordChange.objects.filter(**record).order_by("id"):
        entry = entries[change.run_id]
        entry.change, entry.fields = change, field_changes(change)
    for effect in StepEffect.objects.filter(**record).order_by("id"):
        entries[effect.run_id].effects.append(effect)
    lines = list(
        RunLog.objects.filter(record_key=key, run_id__in=ids).order_by("-run_id", "id")[
            : TIMELINE_LINES + 1
        ]
    )
    for line in lines[:TIMELINE_LINES]:
        entries[line.run_id].lines.append(line_json(line))
    older = None
    if more:
        query = urlencode({"collection": collection, "key": key, "before_run": ids[-1]})
        older = f"{request.path}?{query}"
    return RecordTimeline(
        collection, key, list(entries.values()), older, len(lines) > TIMELINE_LINES
    )
