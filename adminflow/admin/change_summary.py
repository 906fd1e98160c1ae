"""The run page's first answer: what the run changed, in counts that open the list of changes.

The counts come from the run itself (``FlowRun.change_summary``, written as
the store wrote its audit), so the summary costs no query however many
records changed. A run stored before summaries were kept shows the counts
it has (added, changed, removed), without re-enrolments or fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.admin import AdminSite
from django.utils.http import urlencode

from ..models import ChangeKind, FlowRun, RecordChange
from .display import admin_url


@dataclass(frozen=True)
class KindCount:
    kind: str
    label: str
    count: int | None
    """None where the run does not say (a run stored before kinds were counted)."""
    url: str | None
    """The changes list filtered to this run and kind, if the user may open it."""


@dataclass(frozen=True)
class FieldCount:
    name: str
    count: int
    url: str | None


@dataclass(frozen=True)
class ChangeSummary:
    kinds: list[KindCount]
    fields: list[FieldCount]
    total: int
    changes_url: str | None
    """Every change of the run, on the changes list."""
    export_url: str | None
    """The same, as CSV."""

    @property
    def stored(self) -> bool:
        """Return whether the run stored anything to count (its counts are known)."""
        return any(kind.count is not None for kind in self.kinds)


def change_summary(admin_site: AdminSite, run: FlowRun, *, may_view: bool) -> ChangeSummary:
    """Return what ``run`` changed, linked to the changes list when ``may_view`` it."""
    counts = dict(run.change_summary or {})
    if not counts and run.records_stored is not None:
        counts = {
            ChangeKind.ADDED: run.records_added,
            ChangeKind.REMOVED: run.records_removed,
            ChangeKind.CHANGED: run.records_changed,
        }
    changelist = admin_url(admin_site, RecordChange, "changelist") if may_view else None
    export = admin_url(admin_site, RecordChange, "export") if may_view else None

    def url(base: str | None, **filters: str) -> str | None:
        return None if base is None else f"{base}?{urlencode({'run': str(run.pk), **filters})}"

    kinds = [
        KindCount(kind, str(label), counts.get(kind), url(changelist, kind=kind))
        for kind, label in ChangeKind.choices
    ]
    fields = [
        FieldCount(name, count, url(changelist, kind=ChangeKind.CHANGED, field=name))
        for name, count in (counts.get("fields") or {}).items()
    ]
    total = sum(kind.count or 0 for kind in kinds)
    return ChangeSummary(kinds, fields, total, url(changelist), url(export))
