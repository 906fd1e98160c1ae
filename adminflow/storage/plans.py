"""A DjangoRecordStorer's side of plans: the record diff without writing, its check, its store.

A plan keeps, for each record it touches, the record's *fingerprint*: a hash
of its stored values when planned. An apply loads the records again and
refuses if any fingerprint differs (or a record the plan adds exists now),
so what it stores is exactly the diff that was reviewed: it sets the changed
fields to their planned values, removes the removed records and adds the
added ones, then stores by difference as any run does (audit rows included).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .layouts import ModelLayout, RecordError, TypedLayout

if TYPE_CHECKING:
    from .storer import DjangoRecordStorer, _Difference

ADDED, CHANGED, REMOVED, UNCHANGED = "added", "changed", "removed", "unchanged"


def fingerprint(layout: ModelLayout | TypedLayout, key: Hashable, snapshot: Any) -> str:
    """Return a hash of a loaded record's stored values: equal exactly when they are."""
    data = layout.as_json(key, layout.before_values(snapshot))
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def diff_entries(
    storer: DjangoRecordStorer[Any], difference: _Difference, touched: Sequence[str]
) -> list[dict[str, Any]]:
    """Return the record diff as JSON entries, plus an ``unchanged`` entry per touched key."""
    layout, loaded = storer.layout, storer._loaded
    assert loaded is not None
    by_text = {str(key): key for key in loaded}
    entries: list[dict[str, Any]] = [
        {
            "key": "" if entry.key is None else str(entry.key),
            "action": ADDED,
            "before": None,
            "after": layout.as_json(entry.key, entry.values),
            "fingerprint": "",
        }
        for entry in difference.added
    ]
    entries += [
        {
            "key": str(entry.key),
            "action": CHANGED,
            "before": layout.fields_json(entry.before or (), entry.fields),
            "after": layout.fields_json(entry.values, entry.fields),
            "fingerprint": fingerprint(layout, entry.key, loaded[entry.key]),
        }
        for entry in difference.changed
    ]
    entries += [
        {
            "key": str(key),
            "action": REMOVED,
            "before": layout.as_json(key, layout.before_values(loaded[key])),
            "after": None,
            "fingerprint": fingerprint(layout, key, loaded[key]),
        }
        for key in difference.removed
    ]
    listed = {entry["key"] for entry in entries}
    entries += [
        {
            "key": text,
            "action": UNCHANGED,
            "before": None,
            "after": None,
            "fingerprint": fingerprint(layout, by_text[text], loaded[by_text[text]]),
        }
        for text in touched
        if text not in listed and text in by_text
    ]
    for entry in entries:
        entry["collection"] = layout.label
    return entries


def stale_keys(storer: DjangoRecordStorer[Any], entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the keys of planned records that are not as they were when planned.

    Call after ``get_records``: a record changed or removed since, or one the
    plan adds that exists now.
    """
    layout, loaded = storer.layout, storer._loaded
    assert loaded is not None
    by_text = {str(key): key for key in loaded}
    stale = []
    for entry in entries:
        key = by_text.get(entry["key"])
        if entry["action"] == ADDED:
            if key is not None:
                stale.append(entry["key"])
        elif key is None or fingerprint(layout, key, loaded[key]) != entry["fingerprint"]:
            stale.append(entry["key"])
    return stale


def planned_records(
    storer: DjangoRecordStorer[Any],
    records: list[Any],
    entries: Iterable[Mapping[str, Any]],
    marks: Mapping[str, Mapping[str, Any]],
) -> list[Any]:
    """Return ``records`` (as loaded) with the entries' changes made and ``marks`` written.

    ``marks`` (key -> field values) are what carried-out intents wrote down.
    """
    layout = storer.layout
    by_text = {_key_text(layout, record): record for record in records}
    removed: set[str] = set()
    result = list(records)
    for entry in entries:
        key, action = entry["key"], entry["action"]
        if action == CHANGED:
            _set(layout, by_text[key], entry["after"])
        elif action == REMOVED:
            removed.add(key)
        elif action == ADDED:
            record = _build(layout, entry["after"])
            result.append(record)
            if key:
                by_text[key] = record
    for key, values in marks.items():
        if key in by_text and key not in removed:
            _set(layout, by_text[key], values)
    return [record for record in result if _key_text(layout, record) not in removed]


def _key_text(layout: ModelLayout | TypedLayout, record: Any) -> str:
    key = layout.key_of(record, layout.values_of(record))
    return "" if key is None else str(key)


def _python_values(layout: ModelLayout | TypedLayout, data: Mapping[str, Any]) -> dict[str, Any]:
    """Return JSON values as the record's attributes hold them (dates as dates, and so on)."""
    if isinstance(layout, ModelLayout):
        fields = {f.attname: f for f in layout.model._meta.concrete_fields}
        fields.update({f.name: f for f in layout.model._meta.concrete_fields})
        values = {}
        for name, value in data.items():
            field = fields.get(name)
            if field is None:
                raise RecordError(f"{layout.owner}: {layout.label} has no field '{name}'")
            values[field.attname] = value if value is None else field.to_python(value)
        return values
    decoders = dict(layout.decoders)
    return {
        name: decoders[name](value) if name in decoders and value is not None else value
        for name, value in data.items()
    }


def _set(layout: ModelLayout | TypedLayout, record: Any, data: Mapping[str, Any]) -> None:
    for name, value in _python_values(layout, data).items():
        setattr(record, name, value)


def _build(layout: ModelLayout | TypedLayout, data: Mapping[str, Any]) -> Any:
    values = _python_values(layout, data)
    if isinstance(layout, ModelLayout) and layout.new_without_key:
        values.pop(layout.key_attname, None)  # the primary key is set on insert
    return layout.record_class(**values)
