"""What the plan page shows, each part in a bounded number of queries, and its CSV exports.

A plan may hold thousands of intents: the page counts them by step and
action in one ``GROUP BY``, and lists one page of them (and one page of the
record diff) at a time, narrowed by a server-side search. The CSV exports
stream the same rows, all of them, in chunks.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import QueryDict, StreamingHttpResponse

from ..models import Plan, PlannedIntent, PlannedRecord
from ..states import IntentOutcome, PlanState

INTENTS_PAGE_SIZE = 100
RECORDS_PAGE_SIZE = 50
CSV_CHUNK = 2000
"""Rows read from the database at a time while a CSV export streams."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet takes a cell for a formula by: such text is exported with a leading '."""


@dataclass(frozen=True)
class PlanFilter:
    """Which intents and records the page (and its exports) show: a search, one group."""

    search: str = ""
    step: str = ""
    action: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> PlanFilter:
        return cls(
            query.get("q", "").strip()[:200],
            query.get("step", "")[:200],
            query.get("action", "")[:100],
        )

    def intents(self, plan: Plan) -> QuerySet[PlannedIntent]:
        """Return the plan's intents this filter shows, by step, action and planned order."""
        intents = plan.intents.all()
        if self.search:
            intents = intents.filter(Q(line__icontains=self.search) | Q(key__icontains=self.search))
        if self.step:
            intents = intents.filter(step=self.step)
        if self.action:
            intents = intents.filter(action=self.action)
        return intents.order_by("step", "action", "position")

    def records(self, plan: Plan) -> QuerySet[PlannedRecord]:
        """Return the plan's diff entries this filter shows (the search on their key)."""
        records = plan.records.all()
        if self.search:
            records = records.filter(key__icontains=self.search)
        return records.order_by("position")

    def as_query(self) -> dict[str, str]:
        query = {"q": self.search, "step": self.step, "action": self.action}
        return {name: value for name, value in query.items() if value}


@dataclass(frozen=True)
class IntentGroup:
    """The intents of one step and action: how many, how many selected, done and failed."""

    step: str
    action: str
    total: int
    selected: int
    done: int
    failed: int


def intent_groups(plan: Plan) -> list[IntentGroup]:
    """Return the plan's intents counted by step and action: one query, whatever their number."""
    rows = (
        plan.intents.order_by()
        .values("step", "action")
        .annotate(
            total=Count("pk"),
            selected=Count("pk", filter=Q(selected=True)),
            done=Count("pk", filter=Q(outcome=IntentOutcome.DONE)),
            failed=Count("pk", filter=Q(outcome=IntentOutcome.FAILED)),
        )
        .order_by("step", "action")
    )
    return [IntentGroup(**row) for row in rows]


@dataclass(frozen=True)
class RecordCount:
    action: str
    label: str
    total: int
    selected: int


def record_counts(plan: Plan) -> list[RecordCount]:
    """Return the plan's diff entries counted by action, in the order added, changed, removed."""
    rows = {
        row["action"]: row
        for row in plan.records.order_by()
        .values("action")
        .annotate(total=Count("pk"), selected=Count("pk", filter=Q(selected=True)))
    }
    return [
        RecordCount(action, str(label), rows[action]["total"], rows[action]["selected"])
        for action, label in PlannedRecord.Action.choices
        if action in rows
    ]


@dataclass(frozen=True)
class FieldChange:
    name: str
    before: str
    after: str


@dataclass(frozen=True)
class DiffRow:
    """One record of the diff, with the fields it adds, removes or changes, before → after.

    Never without a line: a record only intents are about (unchanged) has
    one, blank.
    """

    record: PlannedRecord
    fields: list[FieldChange]


def diff_row(record: PlannedRecord) -> DiffRow:
    """Return a diff entry for display: a changed record shows only the fields that change."""
    return DiffRow(record, list(field_changes(record)) or [FieldChange("", "", "")])


def field_changes(record: PlannedRecord) -> Iterator[FieldChange]:
    before = record.before if isinstance(record.before, dict) else {}
    after = record.after if isinstance(record.after, dict) else {}
    if record.action == PlannedRecord.Action.UNCHANGED:
        return
    for name in {**before, **after}:
        old, new = before.get(name), after.get(name)
        if record.action == PlannedRecord.Action.CHANGED and old == new:
            continue
        yield FieldChange(
            name,
            value_text(old) if name in before else "",
            value_text(new) if name in after else "",
        )


def value_text(value: Any) -> str:
    """Return a record field's value as the page and the CSV show it: text as it is, else JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class StateLine:
    """The plan's state as of now, with who moved it there and when."""

    state: str
    label: str
    who: Any = None
    when: datetime | None = None


def state_line(plan: Plan, now: datetime) -> StateLine:
    """Return what the page says of the plan's state (an open plan past due is expired)."""
    state = plan.state_at(now)
    label = str(PlanState(state).label)
    if state == PlanState.APPROVED:
        return StateLine(state, label, plan.approved_by, plan.approved_at)
    if state == PlanState.REJECTED:
        return StateLine(state, label, plan.rejected_by, plan.rejected_at)
    if state == PlanState.EXPIRED:
        return StateLine(state, label, None, plan.expires_at)
    if state == PlanState.APPLIED:
        return StateLine(state, label, plan.applied_by, None)
    return StateLine(state, label)


def selection(query: QueryDict, shown: str, kept: str) -> list[int]:
    """Return the ids shown on the page whose box was left unticked: those to deselect.

    ``shown`` lists every id the page showed with a box, ``kept`` the ticked
    ones; ids that are not numbers are ignored (the service refuses ids that
    are not the plan's).
    """

    def ids(name: str) -> set[int]:
        return {int(value) for value in query.getlist(name) if value.isdigit() and len(value) < 19}

    return sorted(ids(shown) - ids(kept))


# CSV exports


class _Echo:
    """A file whose writes return what was written: csv.writer rows as strings, to stream."""

    def write(self, value: str) -> str:
        return value


def csv_cell(value: Any) -> str:
    """Return a value as a CSV cell that no spreadsheet runs as a formula."""
    text = "" if value is None else value_text(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_response(
    filename: str, header: list[str], rows: Iterable[list[Any]]
) -> StreamingHttpResponse:
    """Return a streaming CSV download of ``rows`` under ``header``."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


INTENT_CSV_HEADER = [
    "step", "action", "key", "line", "params", "selected", "outcome", "error", "carried_out_at",
]  # fmt: skip


def intent_csv_rows(intents: QuerySet[PlannedIntent]) -> Iterator[list[Any]]:
    for intent in intents.iterator(chunk_size=CSV_CHUNK):
        yield [
            intent.step,
            intent.action,
            intent.key,
            intent.line,
            intent.params,
            "yes" if intent.selected else "no",
            intent.outcome,
            intent.error,
            intent.carried_out_at.isoformat() if intent.carried_out_at else "",
        ]


RECORD_CSV_HEADER = ["key", "action", "field", "before", "after", "selected"]


def record_csv_rows(records: QuerySet[PlannedRecord]) -> Iterator[list[Any]]:
    """Yield one row per field a record's entry adds, removes or changes (one for a record
    only intents are about)."""
    for record in records.iterator(chunk_size=CSV_CHUNK):
        selected = "yes" if record.selected else "no"
        for change in diff_row(record).fields:
            yield [record.key, record.action, change.name, change.before, change.after, selected]
