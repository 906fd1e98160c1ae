"""Unique constraints of model-backed records: stores that swap values, and clashes named.

A step may swap a unique value between two records (two students exchange
seats), or rotate it among several. The final state is valid, but the
database checks a unique constraint after every row it writes (SQLite always;
PostgreSQL too unless the constraint is ``DEFERRABLE``, which Django's
``unique=True``, ``unique_together`` and ``UniqueConstraint`` are not by
default), so writing the records one after the other clashes with a value
that is about to move away.

So, inside the store's transaction, :meth:`UniqueValues.park` first moves
the old value of every changed unique field out of the way — to NULL where
the field allows it and NULLs are distinct, else to a value of its type that
no row holds — and the upsert that follows writes the real values. Deferring
the constraints instead would work on PostgreSQL alone, and only for
constraints the host site declared deferrable; parking works on every
database and with any model. It costs one statement per changed unique field
(plus one query to find a free value for non-null ones), paid only by stores
that change a unique field.

When the database still refuses a store, the final state itself breaks a
constraint; :meth:`UniqueValues.clashes` says which records (and which rows
outside them) would share which value.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from django.db import connections, models
from django.db.models import Case, Max, Q, Value, When

if TYPE_CHECKING:
    from .layouts import Entry

Values = tuple[Any, ...]

# Unique fields whose values can be parked on a free value of their type; a changed
# field of another type (a date, a decimal) is written unparked.
_TEXT_TYPES = frozenset({"CharField", "TextField", "SlugField"})
_INTEGER_TYPES = frozenset(
    {
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
    }
)
# A parked text value is a random prefix no stored value starts with, then a number.
_PREFIX_LENGTH = 10
_PREFIX_TRIES = 3
# Parameters of one parking statement per row: the key in IN, and WHEN key THEN value.
_PARAMS_PER_ROW = 3


@dataclass(frozen=True, slots=True)
class UniqueSet:
    """Fields of a record that are unique together (one field for ``unique=True``)."""

    name: str
    """How messages name the constraint."""
    indexes: tuple[int, ...]
    """Positions of its fields in the layout's values."""
    nulls_distinct: bool = True

    def value_of(self, values: Values) -> Values | None:
        """Return the constrained part of a record's values; None if a NULL keeps it distinct."""
        value = tuple(values[i] for i in self.indexes)
        return None if self.nulls_distinct and None in value else value


def unique_sets(model: type[models.Model], fields: Sequence[Any]) -> tuple[UniqueSet, ...]:
    """Return the unique constraints over ``fields`` (a record's values), in their positions.

    A constraint that involves the key or the primary key is left out:
    ``set_records`` refuses two records with one key, so it cannot clash.
    Conditional and expression constraints are left to the database, which
    still refuses a store that breaks them.
    """
    opts = model._meta
    position = {field.name: i for i, field in enumerate(fields)}
    found = [UniqueSet(f"unique field '{f.name}'", (i,)) for i, f in enumerate(fields) if f.unique]
    found += [
        UniqueSet(
            f"unique_together ({', '.join(names)})", tuple(position.get(n, -1) for n in names)
        )
        for names in opts.unique_together
    ]
    found += [
        UniqueSet(
            f"unique constraint '{c.name}' ({', '.join(c.fields)})",
            tuple(position.get(n, -1) for n in c.fields),
            c.nulls_distinct is not False,
        )
        for c in opts.total_unique_constraints
    ]
    return tuple(unique for unique in found if -1 not in unique.indexes)


class UniqueValues:
    """The unique constraints of one model's records: parking changed values, naming clashes."""

    def __init__(self, model: type[models.Model], db: str, key: Any, fields: Sequence[Any]) -> None:
        self.model = model
        self.db = db
        self.key = key
        self.fields = fields
        self.sets = unique_sets(model, fields)
        self.indexes = frozenset(i for unique in self.sets for i in unique.indexes)
        # NULL is a free value only where every constraint on the field counts NULLs distinct.
        self.nullable = frozenset(
            i
            for i in self.indexes
            if fields[i].null and all(u.nulls_distinct for u in self.sets if i in u.indexes)
        )

    def touched(self, changed_fields: Iterable[tuple[int, ...]]) -> bool:
        """Return whether any of these sets of changed positions holds a unique field."""
        indexes = self.indexes
        return bool(indexes) and any(not indexes.isdisjoint(f) for f in changed_fields)

    def park(self, changed: Sequence[Entry], batch_size: int) -> None:
        """Move the stored values of the changed unique fields of ``changed`` out of the way.

        The caller writes the real values next, in the same transaction.
        """
        keys_by_field: dict[int, list[Hashable]] = {}
        for entry in changed:
            for i in entry.fields:
                if i in self.indexes:
                    keys_by_field.setdefault(i, []).append(entry.key)
        for i, keys in keys_by_field.items():
            if i in self.nullable:
                self._write(self.fields[i], keys, None, batch_size)
            elif (free := self._free_values(i, len(keys))) is not None:
                self._write(self.fields[i], keys, free, batch_size)

    def _rows(self) -> models.QuerySet[Any]:
        return self.model._base_manager.using(self.db)

    def _free_values(self, index: int, count: int) -> list[Any] | None:
        """Return ``count`` distinct values of field ``index`` that no row holds; None if unknown."""
        field = self.fields[index]
        kind = field.get_internal_type()
        if kind in _TEXT_TYPES:
            prefix = self._free_prefix(field, len(str(count)))
            return None if prefix is None else [f"{prefix}{n}" for n in range(count)]
        if kind in _INTEGER_TYPES:
            # Above the largest stored value: free, and still positive for positive fields.
            top = self._rows().aggregate(top=Max(field.name))["top"]
            start = 0 if top is None else top + 1
            return list(range(start, start + count))
        if kind == "UUIDField":
            return [uuid4() for _ in range(count)]
        return None

    def _free_prefix(self, field: Any, digits: int) -> str | None:
        """Return a random prefix no value of ``field`` starts with, leaving room for ``digits``."""
        length = min(_PREFIX_LENGTH, (field.max_length or _PREFIX_LENGTH + digits) - digits)
        if length < 1:
            return None
        for _ in range(_PREFIX_TRIES):
            prefix = "".join(secrets.choice(string.ascii_letters) for _ in range(length))
            if not self._rows().filter(**{f"{field.name}__startswith": prefix}).exists():
                return prefix
        return None

    def _write(
        self, field: Any, keys: list[Hashable], values: list[Any] | None, batch_size: int
    ) -> None:
        """Set ``field`` of the rows with ``keys`` to ``values`` (NULL if None): one UPDATE
        per batch."""
        key_name = self.key.name
        ops = connections[self.db].ops
        size = min(batch_size, ops.bulk_batch_size([field] * _PARAMS_PER_ROW, keys))
        for start in range(0, len(keys), size):
            batch = keys[start : start + size]
            value = None
            if values is not None:
                whens = [
                    When(**{key_name: key}, then=Value(free, output_field=field))
                    for key, free in zip(batch, values[start : start + size], strict=True)
                ]
                value = Case(*whens, output_field=field)
            self._rows().filter(**{f"{key_name}__in": batch}).update(**{field.name: value})

    def clashes(
        self,
        final: Sequence[tuple[str, Values]],
        written: Sequence[Values],
        inside: Collection[Hashable],
    ) -> list[str]:
        """Return one line per unique value that two holders would share after a store.

        ``final`` is every record as the store would leave it, named; a row of
        the table whose key is not in ``inside`` (what the storer loaded) is
        kept as it is, so it can clash with a value the store ``written``.
        """
        lines = []
        for unique in self.sets:
            holders: dict[Values, list[str]] = {}
            for name, values in final:
                value = unique.value_of(values)
                if value is not None:
                    holders.setdefault(value, []).append(name)
            wanted = {v for v in map(unique.value_of, written) if v is not None}
            for key, value in self._rows_holding(unique, wanted, inside):
                holders.setdefault(value, []).append(f"row {key!r}, which is not one of them")
            lines += [
                f"{unique.name}: {self._shown(unique, value)} would be held by {' and '.join(names)}"
                for value, names in holders.items()
                if len(names) > 1
            ]
        return lines

    def _rows_holding(
        self, unique: UniqueSet, values: Collection[Values], inside: Collection[Hashable]
    ) -> list[tuple[Hashable, Values]]:
        """Return (key, value) of the rows outside ``inside`` that hold one of ``values``."""
        names = [self.fields[i].attname for i in unique.indexes]
        fields = [self.fields[i] for i in unique.indexes]
        wanted = list(values)
        size = max(1, connections[self.db].ops.bulk_batch_size(fields, wanted))
        found = []
        for start in range(0, len(wanted), size):
            condition = Q()
            for value in wanted[start : start + size]:
                condition |= Q(**dict(zip(names, value, strict=True)))
            rows = self._rows().filter(condition).values_list(self.key.attname, *names)
            found += [(row[0], row[1:]) for row in rows if row[0] not in inside]
        return found

    def _shown(self, unique: UniqueSet, value: Values) -> str:
        """Return "code='A'" or "room='R1', desk=2": a constrained value, named."""
        names = (self.fields[i].name for i in unique.indexes)
        return ", ".join(f"{name}={item!r}" for name, item in zip(names, value, strict=True))
