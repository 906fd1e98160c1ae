"""How the two kinds of stored records are read, compared and written.

A *layout* knows, for one kind of record, which attribute values make up a
record (compared between load and store), which one is its key, and the bulk
statements that load, delete, update and insert records of that kind:

- :class:`ModelLayout`: records are instances of a host-site model; the key is
  the primary key or a unique field.
- :class:`TypedLayout`: records are dataclass instances kept as JSON in
  adminflow's ``Record`` table under a collection; the key is a named field.

:class:`~adminflow.storage.DjangoRecordStorer` picks the layout, keeps what
was loaded and does the comparing; layouts keep no records.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import types
import typing
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from copy import deepcopy
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from operator import attrgetter, itemgetter
from typing import Any
from uuid import UUID

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, models, router
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.dateparse import parse_duration

from ..engine import AdminflowError
from ..models import Record
from .unique_values import UniqueValues, Values


class StorerDeclarationError(AdminflowError, ImproperlyConfigured):
    """Raise when a storer class does not say (correctly) what its records are or where they live."""


class RecordError(AdminflowError, ValueError):
    """Raise for records a storer cannot store or load: wrong type, duplicate or missing key."""


class StoreConflict(RecordError, IntegrityError):
    """Raise when the database refused a store, naming the records that break a constraint.

    Also an ``IntegrityError``, which is what the database said, so code that
    caught that from a store still does. Nothing was written.
    """


@dataclasses.dataclass(slots=True)
class Entry:
    """One record that differs from what was loaded: added, or changed in ``fields``."""

    key: Any
    record: Any
    values: Values
    before: Values | None = None
    fields: tuple[int, ...] = ()
    """Indexes (into the layout's ``names``) of the changed values."""


# Values and JSON

_IMMUTABLE = frozenset(
    {str, int, float, bool, type(None), date, datetime, time, timedelta, Decimal, UUID}
)
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
_ENCODER = DjangoJSONEncoder()
# raw_decode() skips decode()'s whitespace handling, which stored JSON never needs.
_DECODER = json.JSONDecoder()
_ABSENT = object()


def frozen_copy(value: Any) -> Any:
    """Return a copy of ``value`` that later in-place changes to ``value`` cannot reach."""
    cls = value.__class__
    if cls in _IMMUTABLE:
        return value
    if cls is list:
        copied = value.copy()
        for index, item in enumerate(copied):  # most items are scalars: no call for those
            if item.__class__ not in _IMMUTABLE:
                copied[index] = frozen_copy(item)
        return copied
    if cls is dict:
        copied = value.copy()
        for key, item in copied.items():
            if item.__class__ not in _IMMUTABLE:
                copied[key] = frozen_copy(item)
        return copied
    return deepcopy(value)


def to_json(value: Any) -> Any:
    """Return ``value`` as ``DjangoJSONEncoder`` would write it; raise TypeError if it cannot."""
    cls = value.__class__
    if cls in _JSON_SCALARS or isinstance(value, str | int | float):
        return value
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    return _ENCODER.default(value)


def _lenient_json(value: Any) -> Any:
    """Return ``value`` as JSON for the audit trail; a value JSON cannot hold becomes its str()."""
    try:
        return to_json(value)
    except TypeError:
        return str(value)


def _tuple_getter(
    make: Callable[..., Callable[[Any], Any]], names: Sequence[str]
) -> Callable[[Any], Values]:
    """Return a fast function reading ``names`` of an object as one tuple, even for one name."""
    getter = make(*names)
    if len(names) == 1:
        return lambda source: (getter(source),)
    return getter


def _snapshot_getter(
    values_of: Callable[[Any], Values], copy_indexes: Sequence[int]
) -> Callable[[Any], Values]:
    """Return a function reading a record's values with its containers copied."""
    if not copy_indexes:
        return values_of

    def snapshot_of(record: Any) -> Values:
        values = list(values_of(record))
        for index in copy_indexes:
            values[index] = frozen_copy(values[index])
        return tuple(values)

    return snapshot_of


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many short-lived, acyclic objects.

    Loading or comparing 100 000 records allocates several container objects
    per record, none of them in a cycle; the collector would otherwise walk
    the whole growing heap again and again, which costs more than the work.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Model-backed records

# Fields whose values are containers a step can change in place.
_CONTAINER_FIELD_TYPES = frozenset({"JSONField", "ArrayField", "HStoreField"})


class ModelLayout:
    """Records that are instances of ``model``, keyed by its primary key or a unique field."""

    def __init__(self, owner: str, model: Any, key_field: str | None) -> None:
        if not (isinstance(model, type) and issubclass(model, models.Model)):
            raise StorerDeclarationError(
                f"{owner}: model must be a Django model class, not {model!r}"
            )
        opts = model._meta
        key = self._key(owner, model, key_field)
        fields = [f for f in opts.concrete_fields if not f.primary_key and f is not key]
        self.owner = owner
        self.model = model
        self.record_class: type = model
        self.expected = f"a {opts.label} instance"
        self.label = opts.label
        self.key_name = key.name
        self.key_attname = key.attname
        self.new_without_key = key.primary_key
        """A new instance has no key yet only if the key is the primary key, set on insert."""
        self.key_nullable = key.null and not key.primary_key
        self.field_names = tuple(f.name for f in fields)
        self.names = tuple(f.attname for f in fields)
        self.db = router.db_for_write(model)
        self.uniques = UniqueValues(model, self.db, key, fields)
        self.values_of = _tuple_getter(attrgetter, self.names)
        self.snapshot_of = _snapshot_getter(
            self.values_of,
            [i for i, f in enumerate(fields) if f.get_internal_type() in _CONTAINER_FIELD_TYPES],
        )

    @staticmethod
    def _key(owner: str, model: Any, key_field: str | None) -> Any:
        if key_field is None:
            return model._meta.pk
        try:
            field = model._meta.get_field(key_field)
        except FieldDoesNotExist:
            field = None
        if field is None or not field.concrete or not field.unique:
            raise StorerDeclarationError(
                f"{owner}: key_field '{key_field}' must name a unique field of "
                f"{model._meta.label} (or be None for the primary key)"
            )
        return field

    def key_of(self, record: Any, values: Values) -> Hashable | None:
        return getattr(record, self.key_attname)

    def load(
        self, queryset: models.QuerySet[Any]
    ) -> tuple[list[Any], dict[Hashable, Values], list[Any]]:
        """Return the records of ``queryset`` (one query), their snapshots by key, and the
        rows left out because their key is NULL (only a nullable ``key_field`` can be)."""
        key_attname, snapshot_of = self.key_attname, self.snapshot_of
        with collector_paused():
            records = list(queryset)
            keyless = []
            if self.key_nullable:  # a NOT NULL key costs no pass over the rows
                keyless = [record for record in records if getattr(record, key_attname) is None]
                if keyless:
                    records = [r for r in records if getattr(r, key_attname) is not None]
            loaded = {getattr(record, key_attname): snapshot_of(record) for record in records}
        return records, loaded, keyless

    def before_values(self, snapshot: Values) -> Values:
        return snapshot

    def delete(self, keys: Sequence[Any], batch_size: int) -> None:
        manager = self.model._base_manager.using(self.db)
        for batch in _batches(keys, batch_size):
            manager.filter(**{f"{self.key_name}__in": batch}).delete()

    def update(self, changed: Sequence[Entry], batch_size: int) -> None:
        """Upsert the changed records, writing only the fields that changed.

        Records are grouped by which fields changed, so each statement's
        ``update_fields`` is exactly those: a column another writer changed
        meanwhile keeps that writer's value unless this run changed it too.
        """
        groups: dict[tuple[int, ...], list[Any]] = {}
        for entry in changed:
            groups.setdefault(entry.fields, []).append(entry.record)
        if self.uniques.touched(groups):  # a swap of unique values must not clash midway
            self.uniques.park(changed, batch_size)
        manager = self.model._base_manager.using(self.db)
        for fields, records in groups.items():
            manager.bulk_create(
                records,
                batch_size=batch_size,
                update_conflicts=True,
                unique_fields=[self.key_name],
                update_fields=[self.field_names[i] for i in fields],
            )

    def insert(self, added: Sequence[Entry], batch_size: int) -> None:
        records = [entry.record for entry in added]
        self.model._base_manager.using(self.db).bulk_create(records, batch_size=batch_size)

    def as_json(self, key: Any, values: Values) -> dict[str, Any]:
        return {
            self.key_attname: _lenient_json(key),
            **{name: _lenient_json(value) for name, value in zip(self.names, values, strict=True)},
        }

    def fields_json(self, values: Values, fields: Sequence[int]) -> dict[str, Any]:
        return {self.names[i]: _lenient_json(values[i]) for i in fields}


# Typed records

_DECODERS: dict[Any, Callable[[Any], Any]] = {
    date: date.fromisoformat,
    datetime: datetime.fromisoformat,
    time: time.fromisoformat,
    Decimal: Decimal,
    UUID: UUID,
    timedelta: parse_duration,
}


def _plain_type(hint: Any) -> Any:
    """Return ``X`` for ``X``, ``X | None`` and ``Optional[X]``; None for anything else."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return args[0] if len(args) == 1 else None
    return hint if isinstance(hint, type) else None


class TypedLayout:
    """Dataclass records kept as JSON in the ``Record`` table, one collection per storer.

    Values are written as ``DjangoJSONEncoder`` writes them; fields annotated
    as dates, times, datetimes, durations, decimals or UUIDs are read back as
    those types, everything else as the JSON value.
    """

    def __init__(self, owner: str, record_type: Any, key: str | None) -> None:
        if not (isinstance(record_type, type) and dataclasses.is_dataclass(record_type)):
            raise StorerDeclarationError(
                f"{owner}: record_type must be a dataclass, not {record_type!r}"
            )
        self.names = tuple(f.name for f in dataclasses.fields(record_type))
        if key not in self.names:
            raise StorerDeclarationError(
                f"{owner}: key must name a field of {record_type.__name__} "
                f"(one of: {', '.join(self.names)}), not {key!r}"
            )
        try:
            hints = typing.get_type_hints(record_type)
        except Exception:  # unresolvable annotations: read JSON values as they are
            hints = {}
        plain = {name: _plain_type(hints.get(name)) for name in self.names}
        self.owner = owner
        self.record_type = record_type
        self.record_class: type = record_type
        self.expected = f"a {record_type.__name__} instance"
        self.key_name = key
        self.key_index = self.names.index(key)
        self.new_without_key = False
        self.collection = ""
        self.db = router.db_for_write(Record)
        self.decoders = [(n, _DECODERS[t]) for n, t in plain.items() if t in _DECODERS]
        self.values_of = _tuple_getter(attrgetter, self.names)
        self.items_of = _tuple_getter(itemgetter, self.names)

    @property
    def label(self) -> str:
        return self.collection

    def key_of(self, record: Any, values: Values) -> Hashable | None:
        key = values[self.key_index]
        return None if key is None else str(key)

    def load(self) -> tuple[list[Any], dict[Hashable, str]]:
        """Return the collection's records (one query) and their stored JSON text by key.

        The JSON is read as text and decoded here, which is faster than
        Django's per-row conversion; the text itself is the snapshot: it is
        immutable, costs nothing to keep, and is decoded again only when the
        records are compared.
        """
        rows = (
            Record.objects.using(self.db)
            .filter(collection=self.collection)
            .values_list("key", Cast("data", models.TextField()))
        )
        build = self.record_type
        records = []
        loaded: dict[Hashable, str] = {}
        with collector_paused():
            for key, text in rows:
                try:
                    records.append(build(**self.decoded(text)))
                except (TypeError, ValueError) as exc:
                    raise RecordError(
                        f"{self.owner}: record '{key}' of collection '{self.collection}' "
                        f"does not fit {build.__name__}: {exc}"
                    ) from exc
                loaded[key] = text
        return records, loaded

    def decoded(self, text: str) -> dict[str, Any]:
        """Return stored JSON text as a dict, with dates, decimals and the like decoded."""
        data = _DECODER.raw_decode(text)[0]
        for name, decode in self.decoders:
            value = data.get(name)
            if value is not None:
                data[name] = decode(value)
        return data

    def before_values(self, snapshot: str) -> Values:
        data = self.decoded(snapshot)
        try:
            return self.items_of(data)
        except KeyError:  # a field added to the dataclass since: it differs, so it gets stored
            return tuple(data.get(name, _ABSENT) for name in self.names)

    def delete(self, keys: Sequence[Any], batch_size: int) -> None:
        rows = Record.objects.using(self.db).filter(collection=self.collection)
        for batch in _batches(keys, batch_size):
            rows.filter(key__in=batch).delete()

    def update(self, changed: Sequence[Entry], batch_size: int) -> None:
        Record.objects.using(self.db).bulk_create(
            self._rows(changed),
            batch_size=batch_size,
            update_conflicts=True,
            unique_fields=["collection", "key"],
            update_fields=["data", "updated_at"],
        )

    def insert(self, added: Sequence[Entry], batch_size: int) -> None:
        Record.objects.using(self.db).bulk_create(self._rows(added), batch_size=batch_size)

    def _rows(self, entries: Sequence[Entry]) -> list[Record]:
        now = timezone.now()
        return [
            Record(
                collection=self.collection,
                key=entry.key,
                data=self.as_json(entry.key, entry.values),
                created_at=now,
                updated_at=now,
            )
            for entry in entries
        ]

    def as_json(self, key: Any, values: Values) -> dict[str, Any]:
        data = {}
        for name, value in zip(self.names, values, strict=True):
            try:
                data[name] = None if value is _ABSENT else to_json(value)
            except TypeError as exc:
                raise RecordError(
                    f"{self.owner}: record '{key}': field '{name}' cannot be stored as JSON: {exc}"
                ) from exc
        return data

    def fields_json(self, values: Values, fields: Sequence[int]) -> dict[str, Any]:
        return {self.names[i]: None if values[i] is _ABSENT else to_json(values[i]) for i in fields}
