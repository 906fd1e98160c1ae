"""What a store's audit rows mean to staff: their kind, and the store's counts.

A ``RecordChange`` row says what the store did (added, changed, removed).
Staff read it differently: a student missing from the roster is *removed*
even if the site keeps the row and only marks it dropped, and one who comes
back is *re-enrolled*, whether the row was deleted meanwhile or marked. The
kind is worked out here, once, as the store writes its audit, so that the
run page's summary and the changes list's filter agree without either
reading the records again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..models import ChangeKind, RecordChange


def kind_of_change(
    enrolment_field: str | None, enrolled_value: Any, before: Any, after: Any
) -> str:
    """Return what a change of a record's fields means: a removal or a re-enrolment if it
    moves ``enrolment_field`` away from ``enrolled_value`` or back to it, else a change."""
    if enrolment_field is not None and isinstance(after, dict) and enrolment_field in after:
        was = before.get(enrolment_field) if isinstance(before, dict) else None
        if was == enrolled_value and after[enrolment_field] != enrolled_value:
            return ChangeKind.REMOVED
        if was != enrolled_value and after[enrolment_field] == enrolled_value:
            return ChangeKind.RETURNED
    return ChangeKind.CHANGED


def mark_returned(
    changes: Sequence[RecordChange], collection: str, using: str, batch_size: int
) -> None:
    """Mark the added records whose key an earlier run removed from ``collection`` as
    returned: one query per ``batch_size`` added records."""
    added = {c.key: c for c in changes if c.action == RecordChange.Action.ADDED}
    if not added:
        return
    keys = list(added)
    removed = (
        RecordChange.objects.using(using)
        .filter(collection=collection, action=RecordChange.Action.REMOVED)
        .order_by()
    )
    for start in range(0, len(keys), batch_size):
        batch = keys[start : start + batch_size]
        for key in removed.filter(key__in=batch).values_list("key", flat=True).distinct():
            added[key].kind = ChangeKind.RETURNED


def summarize(changes: Sequence[RecordChange]) -> dict[str, Any]:
    """Return a store's audit in counts: by kind, and by field for the changed records.

    Kept on the run (``FlowRun.change_summary``) so that its page shows the
    summary without counting its changes again, however many there are.
    """
    kinds = Counter(change.kind for change in changes)
    fields: Counter[str] = Counter()
    for change in changes:
        if change.kind == ChangeKind.CHANGED and isinstance(change.after, dict):
            fields.update(list(change.after))
    return {
        **{kind: kinds.get(kind, 0) for kind in ChangeKind.values},
        "fields": dict(sorted(fields.items(), key=lambda item: (-item[1], item[0]))),
    }
