"""What the run page shows: its step timeline, log pages, metadata and record changes.

Computed here, not in the template, so the page and its live endpoint (which
the page's script polls while the run is active) share one answer. Every
query is bounded whatever the size of the run: a log of 100k lines is read
one page at a time by id (keyset), never with OFFSET or a COUNT(*) over the
whole log.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import SafeString
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from ..engine import AdminflowError
from ..models import FlowRun, RecordChange, RunLog, StepRun
from ..runs.config import build_flow
from ..runs.metadata import REPR_KEY
from ..runs.step_rows import step_rows
from ..states import FlowRunStatus, StepRunStatus
from .display import format_duration, status_badge
from .graph import status_class

LOG_PAGE_SIZE = 500
CHANGES_PAGE_SIZE = 50

LIVE_MAX_LINES = 5000
"""Lines the run page keeps while it follows a run; it drops its oldest beyond that, which
stay a click away on the log's earlier pages (see :func:`log_window`)."""

FLOW_LINES = "_flow"
"""The step filter's value for the flow's own lines (blank step): no step name starts with ``_``."""

LOG_LEVELS = (
    (logging.DEBUG, "debug"),
    (logging.INFO, "info"),
    (logging.WARNING, "warning"),
    (logging.ERROR, "error"),
    (logging.CRITICAL, "critical"),
)

LEVEL_CHOICES = [
    ("", _("every level")),
    (str(logging.INFO), _("info and above")),
    (str(logging.WARNING), _("warnings and above")),
    (str(logging.ERROR), _("errors and above")),
    (str(logging.CRITICAL), _("critical only")),
]

MIN_BAR_WIDTH = 0.4
"""Percent of the axis: a step that took no measurable time still shows a sliver."""


def level_name(level: int) -> str:
    """Return the name of the highest standard level at or below ``level`` (the CSS class)."""
    name = LOG_LEVELS[0][1]
    for number, candidate in LOG_LEVELS:
        if level >= number:
            name = candidate
    return name


def parse_id(value: str | None) -> int | None:
    """Return a cursor from the query string, or None for a missing or malformed one."""
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


# Logs


@dataclass(frozen=True)
class LogFilter:
    """Which lines of a run's log to show: one step's (or the flow's own), from a level up."""

    step: str | None = None
    min_level: int | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> LogFilter:
        """Return the filter in ``log_step`` / ``log_level``; unknown levels are ignored."""
        level = query.get("log_level", "")
        known = {str(number) for number, _name in LOG_LEVELS}
        return cls(query.get("log_step") or None, int(level) if level in known else None)

    def apply(self, lines: QuerySet[RunLog]) -> QuerySet[RunLog]:
        if self.step is not None:
            lines = lines.filter(step="" if self.step == FLOW_LINES else self.step)
        if self.min_level is not None:
            lines = lines.filter(level__gte=self.min_level)
        return lines

    def as_query(self) -> dict[str, str]:
        """Return the filter as query parameters, for links that keep it."""
        query = {}
        if self.step is not None:
            query["log_step"] = self.step
        if self.min_level is not None:
            query["log_level"] = str(self.min_level)
        return query


@dataclass(frozen=True)
class LogPage:
    """One page of a run's log, with the cursors of its neighbours (None: there is none)."""

    lines: list[RunLog]
    older: int | None
    """``log_before`` of the previous page."""
    newer: int | None
    """``log_after`` of the next page."""

    @property
    def is_newest(self) -> bool:
        """Return whether nothing newer exists, so the page may follow new lines live."""
        return self.newer is None


def log_page(
    run: FlowRun,
    log_filter: LogFilter,
    *,
    after: int | None = None,
    before: int | None = None,
    newest: bool = False,
    size: int = LOG_PAGE_SIZE,
) -> LogPage:
    """Return the lines after id ``after`` (the first page without it), or the ones before ``before``.

    ``newest`` (without ``before``) gives the last page. One query, of at
    most ``size + 1`` rows: the extra row says whether there is more.
    """
    lines = log_filter.apply(RunLog.objects.filter(run=run))
    if before is not None or newest:
        if before is not None:
            lines = lines.filter(id__lt=before)
        found = list(lines.order_by("-id")[: size + 1])
        page = found[:size][::-1]
        older = page[0].id if len(found) > size else None
        newer = (page[-1].id if page else before - 1) if before is not None else None
        return LogPage(page, older, newer)
    if after is not None:
        lines = lines.filter(id__gt=after)
    found = list(lines.order_by("id")[: size + 1])
    page = found[:size]
    older = (page[0].id if page else after + 1) if after else None
    return LogPage(page, older, page[-1].id if len(found) > size else None)


def log_window(
    run: FlowRun, log_filter: LogFilter, page: LogPage, *, first: int | None, after: int
) -> LogPage:
    """Return ``page`` with the neighbours of what a following page holds once it shows it.

    A following page holds every line from ``first`` (its first line, None
    if it has none yet) to the last of ``page``: older lines exist if any is
    before ``first``, newer ones if ``page`` has a next page. The pager drawn
    from this says "newest" only when it is true, however many lines the
    page dropped. One query, of at most one row, by id.
    """
    start = first
    if start is None:
        start = page.lines[0].id if page.lines else (after + 1 if after else None)
    if start is None:
        return LogPage(page.lines, None, page.newer)
    earlier = log_filter.apply(RunLog.objects.filter(run=run, id__lt=start))
    return LogPage(page.lines, start if earlier.exists() else None, page.newer)


def step_choices(run: FlowRun, steps: Sequence[StepRun]) -> list[tuple[str, str]]:
    """Return the log's step filter choices: every step, the storer, the flow itself.

    Taken from the run's steps and modes (whose other key is the storer),
    not from the log: a DISTINCT over 100k lines would be slow.
    """
    step_names = [step.name for step in steps]
    storers = [name for name in run.step_modes if name not in step_names]
    return [
        ("", str(_("every step"))),
        (FLOW_LINES, str(_("the flow itself"))),
        *((name, name) for name in [*storers, *step_names]),
    ]


def log_time(line: RunLog) -> str:
    return date_format(timezone.localtime(line.created_at), "H:i:s")


def line_json(line: RunLog) -> dict[str, Any]:
    return {
        "id": line.id,
        "time": log_time(line),
        "step": line.step,
        "level": line.level,
        "level_name": level_name(line.level),
        "message": line.message,
    }


# Steps and the timeline


def planned_steps(run: FlowRun) -> list[StepRun]:
    """Return unsaved step rows for a queued run, whose worker has not written them yet.

    Built as the run service will build them (from the flow's definition and
    the run's modes), so the page shows the steps, pending or excluded, from
    the start. None if the flow can no longer be built; the worker will then
    fail the run anyway.
    """
    if run.status != FlowRunStatus.QUEUED:
        return []
    try:
        flow = build_flow(run.flow)
    except AdminflowError:
        return []
    return step_rows(run, flow.steps)


def attempts_label(step: StepRun) -> str:
    """Return how often a step was called, where that says something: it was retried.

    A running step's attempts are its failed calls so far (the recorder
    writes them as each one fails), so it is now on the next one.
    """
    if step.status == StepRunStatus.RUNNING and step.attempts:
        return gettext("attempt %(number)d") % {"number": step.attempts + 1}
    if step.attempts > 1:
        return ngettext("%(count)d attempt", "%(count)d attempts", step.attempts) % {
            "count": step.attempts
        }
    return ""


def overdue_label(step: StepRun) -> str:
    """Return a note for a step that ran past its time limit, while it runs and after."""
    if not step.overdue or step.time_limit is None:
        return ""
    return gettext("over its %(limit)s limit") % {"limit": format_duration(step.time_limit)}


def step_elapsed(step: StepRun, now: datetime) -> float | None:
    """Return how long a step took, or has taken so far if it is running."""
    if step.duration is not None:
        return step.duration
    if step.started_at is None:
        return None
    return ((step.finished_at or now) - step.started_at).total_seconds()


@dataclass(frozen=True)
class Bar:
    """One step on the timeline: where its bar starts and how wide it is, in % of the axis."""

    step: StepRun
    left: float
    width: float
    duration: str

    @property
    def started(self) -> bool:
        return self.step.started_at is not None

    @property
    def badge(self) -> SafeString:
        return status_badge(self.step.status)

    @property
    def status_class(self) -> str:
        return status_class(self.step.status)

    @property
    def attempts(self) -> str:
        return attempts_label(self.step)

    @property
    def overdue(self) -> str:
        return overdue_label(self.step)


@dataclass(frozen=True)
class Timeline:
    bars: list[Bar]
    ticks: list[str]
    """Labels at 0, ¼, ½, ¾ and the whole of the axis."""


def timeline(run: FlowRun, steps: Sequence[StepRun], now: datetime) -> Timeline:
    """Return the steps on a shared time axis from the run's start to its end (or now)."""
    starts = [step.started_at for step in steps if step.started_at]
    origin = run.started_at or min(starts, default=None)
    ends = [*starts, *(step.finished_at for step in steps if step.finished_at)]
    if run.is_active or any(step.status == StepRunStatus.RUNNING for step in steps):
        ends.append(now)
    if run.finished_at:
        ends.append(run.finished_at)
    span = max((max(ends) - origin).total_seconds(), 0.0) if origin and ends else 0.0

    def percent(moment: datetime) -> float:
        offset = (moment - origin).total_seconds() if origin else 0.0
        return min(max(offset / span * 100, 0.0), 100.0) if span else 0.0

    bars = []
    for step in steps:
        elapsed = step_elapsed(step, now)
        if step.started_at is None:
            bars.append(Bar(step, 0.0, 0.0, format_duration(None)))
            continue
        left = min(percent(step.started_at), 100.0 - MIN_BAR_WIDTH)
        stop = step.finished_at or (now if step.status == StepRunStatus.RUNNING else None)
        width = max(percent(stop) - left if stop else 0.0, MIN_BAR_WIDTH)
        bars.append(Bar(step, round(left, 2), round(width, 2), format_duration(elapsed)))
    if origin is None:
        # Nothing started (a queued run): no axis to label, but five blank ticks for the
        # live page to fill in once it starts.
        return Timeline(bars, [""] * 5)
    return Timeline(bars, [tick_label(span * quarter / 4, span) for quarter in range(5)])


def tick_label(seconds: float, span: float) -> str:
    """Return an axis label; a run shorter than 2 s is labelled in milliseconds, so
    its five ticks do not all round to the same tenth of a second."""
    return f"{seconds * 1000:.0f} ms" if span < 2 else format_duration(seconds)


# Metadata, config and record changes


@dataclass(frozen=True)
class MetadataRow:
    name: str
    text: str
    is_repr: bool
    """The value was not JSON: it was stored, and is shown, as its repr only."""
    items: int | None = None
    """For a list or a mapping (the NetIDs a step added, say): how many items it holds,
    which the page shows, the items a click away."""


def metadata_rows(metadata: Mapping[str, Any]) -> list[MetadataRow]:
    rows = []
    for name, value in metadata.items():
        if isinstance(value, dict) and set(value) == {REPR_KEY}:
            rows.append(MetadataRow(name, str(value[REPR_KEY]), True))
        elif isinstance(value, list | dict):
            rows.append(MetadataRow(name, _json_text(value), False, len(value)))
        else:
            rows.append(MetadataRow(name, _json_text(value), False))
    return rows


def config_yaml(snapshot: Any) -> str:
    """Return a run's config snapshot (secrets already masked) as YAML."""
    return yaml.safe_dump(snapshot, sort_keys=False, allow_unicode=True, default_flow_style=False)


@dataclass(frozen=True)
class ChangeRow:
    change: RecordChange
    before: str
    after: str


def change_row(change: RecordChange) -> ChangeRow:
    """Return a record change for display: for a changed record, only the fields that changed."""
    before, after = change.before, change.after
    if isinstance(before, dict) and isinstance(after, dict):
        changed = [name for name in {**before, **after} if before.get(name) != after.get(name)]
        before = {name: before[name] for name in changed if name in before}
        after = {name: after[name] for name in changed if name in after}
    return ChangeRow(
        change,
        "" if before is None else _json_text(before),
        "" if after is None else _json_text(after),
    )


def _json_text(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


# The live endpoint


def live_payload(
    run: FlowRun,
    steps: Sequence[StepRun],
    page: LogPage | None,
    now: datetime,
    *,
    pager_html: str | None = None,
    state_html: str | None = None,
) -> dict[str, Any]:
    """Return what the run page's script applies while it follows an active run.

    ``pager_html`` is the log's pager for the lines the page holds (None when
    it does not follow lines). ``state_html`` is the page's state part as the
    server renders it, sent once the run is final and every line was sent:
    the script puts it in place of its own, so that the page shows the end
    exactly as a reload would, instead of patching what it guessed changed.
    """
    line = timeline(run, steps, now)
    return {
        "run": {
            "id": run.pk,
            "status": run.status,
            "status_label": str(run.get_status_display()),
            "active": run.is_active,
            "cancel_requested": run.cancel_requested,
            "fields": {
                "started_at": _when(run.started_at),
                "finished_at": _when(run.finished_at),
                "duration": format_duration(run.duration),
                # Blank until a worker takes the run: the page shows it from then on.
                "worker": run.worker,
                "records_loaded": run.records_loaded,
                "records_stored": run.records_stored,
                "records_added": run.records_added,
                "records_changed": run.records_changed,
                "records_removed": run.records_removed,
                "error": run.error,
            },
        },
        "steps": [
            {
                "name": bar.step.name,
                "status": bar.step.status,
                "status_label": str(bar.step.get_status_display()),
                "started": bar.started,
                "attempts": bar.attempts,
                "overdue": bar.overdue,
                "duration": bar.duration,
                "left": bar.left,
                "width": bar.width,
            }
            for bar in line.bars
        ],
        "ticks": line.ticks,
        "lines": [line_json(log_line) for log_line in page.lines] if page else [],
        "more": page is not None and not page.is_newest,
        "pager_html": pager_html,
        "state_html": state_html,
    }


def _when(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")
