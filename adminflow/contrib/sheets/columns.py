"""The columns of a record type: one per dataclass field, and how a cell becomes a value.

A worksheet keeps one record per row under a header row of the record type's
field names, in field order. Each field's type says how its cells are read,
so a record comes back typed as it went out:

==================  ===========================================  ================================
field type          written as                                   read from
==================  ===========================================  ================================
``str``             text                                         text, or what a number shows
``int``, ``float``  a number                                     a number, or text of one
``bool``            a checkbox value (TRUE/FALSE)                a boolean, or TRUE/FALSE text
``date``            text ``YYYY-MM-DD``                          that text, or a date cell
``datetime``        text in ISO 8601                             that text
an ``Enum``         its member's value                           a value of one of its members
``X | None``        as ``X``; None as an empty cell              an empty cell reads as None
==================  ===========================================  ================================

Text is written as text (never parsed by Sheets, so ``00123`` stays
``00123`` and ``=SUM(...)`` is not a formula). An empty cell of a field that
is not optional reads as the field's default, so a row typed in by hand
needs only the cells without one; a ``str`` field without a default reads
it as ``""``, and any other field without one refuses it.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from adminflow import AdminflowError

Cell = tuple[str, Any] | None
"""A cell's value as the Sheets API types it: ``("stringValue", "ab1")``, ``("numberValue",
3)``, ``("boolValue", True)``, or None for an empty cell."""

SHEETS_EPOCH = date(1899, 12, 30)
"""Day zero of the serial numbers Sheets keeps dates as."""

_SCALARS = (str, int, float, bool, date, datetime)
_EXPECTED: dict[type, str] = {date: "a date (YYYY-MM-DD)", datetime: "an ISO 8601 datetime"}


class RecordTypeError(AdminflowError, TypeError):
    """Raise when a record type cannot be kept in a worksheet (not a dataclass, a field type
    with no cell form)."""


class CellError(AdminflowError, ValueError):
    """Raise when a cell cannot be read as its column's type; the message says why."""


@dataclasses.dataclass(frozen=True)
class Column:
    """One field of the record type: its name, its type, and whether it may be empty."""

    name: str
    kind: type
    optional: bool
    default: Any = dataclasses.MISSING
    """What an empty cell reads as, if the field has a default (not a default factory)."""

    @property
    def expected(self) -> str:
        """Return what a cell of this column must hold, as messages say it."""
        if issubclass(self.kind, enum.Enum):
            values = ", ".join(repr(member.value) for member in self.kind)
            text = f"one of {self.kind.__name__}'s values ({values})"
        else:
            text = _EXPECTED.get(self.kind, self.kind.__name__)
        return f"{text} or an empty cell" if self.optional else text

    def to_cell(self, value: Any) -> Cell:
        """Return the cell that holds ``value``; raise CellError for a value of another type."""
        if value is None:
            if self.optional:
                return None
            raise CellError(f"None, expected {self.expected}")
        if issubclass(self.kind, enum.Enum):
            if not isinstance(value, self.kind):
                raise CellError(f"{_shown(value)}, expected {self.expected}")
            return _scalar_cell(value.value, type(value.value))
        return _scalar_cell(value, self.kind)

    def from_cell(self, effective: Mapping[str, Any], shown: str | None) -> Any:
        """Return the value a cell holds: ``effective`` is its ``effectiveValue``, ``shown``
        its ``formattedValue``; raise CellError saying what was found instead."""
        if "errorValue" in effective:
            error = effective["errorValue"]
            raise CellError(f"the cell shows an error ({error.get('type', '?')})")
        (found,) = effective.values() if len(effective) == 1 else (None,)
        if found is None or found == "":
            if self.optional:
                return None
            if self.default is not dataclasses.MISSING:
                return self.default
            if self.kind is str:
                return ""
            raise CellError(f"an empty cell, expected {self.expected}")
        if issubclass(self.kind, enum.Enum):
            return self._member(found, shown)
        try:
            return _READERS[self.kind](found, shown)
        except (ValueError, OverflowError):
            raise CellError(f"{_shown(found)}, expected {self.expected}") from None

    def _member(self, found: Any, shown: str | None) -> enum.Enum:
        """Return the member whose value the cell holds, read as that value's type."""
        members: list[enum.Enum] = list(self.kind)  # type: ignore[call-overload]
        for member in members:
            try:
                if _READERS[type(member.value)](found, shown) == member.value:
                    return member
            except (ValueError, OverflowError):
                continue
        raise CellError(f"{_shown(found)}, expected {self.expected}")


def columns_of(record_type: Any) -> list[Column]:
    """Return the columns of a dataclass record type, in field order.

    Raise RecordTypeError naming the record type and the field that no cell
    can hold, and the field types that can be.
    """
    if not (isinstance(record_type, type) and dataclasses.is_dataclass(record_type)):
        raise RecordTypeError(f"{record_type!r} is not a dataclass; records must be dataclasses")
    try:
        hints = typing.get_type_hints(record_type)
    except Exception as exc:
        raise RecordTypeError(
            f"the field types of {record_type.__name__} cannot be read: {exc}"
        ) from exc
    columns = []
    for field in dataclasses.fields(record_type):
        kind, optional = _unwrap(hints[field.name])
        if not (kind in _SCALARS or _is_plain_enum(kind)):
            raise RecordTypeError(
                f"{record_type.__name__}.{field.name} is {_type_name(hints[field.name])}, which "
                "a cell cannot hold; a field must be str, int, float, bool, date, datetime or "
                "an Enum of str, int, float or bool values, or one of these | None"
            )
        columns.append(Column(field.name, kind, optional, field.default))
    if not columns:
        raise RecordTypeError(f"{record_type.__name__} has no fields, so no columns")
    return columns


def _is_plain_enum(kind: Any) -> bool:
    """Return whether ``kind`` is an Enum whose members' values a cell can hold."""
    return (
        isinstance(kind, type)
        and issubclass(kind, enum.Enum)
        and all(type(member.value) in (str, int, float, bool) for member in kind)
    )


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """Return ``(X, True)`` for ``X | None`` (or Optional[X]), else ``(hint, False)``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0], True
    return hint, False


def _type_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint)


def _scalar_cell(value: Any, kind: type) -> Cell:
    """Return the cell of ``value``, which must be of the column's type ``kind``."""
    if kind is bool and isinstance(value, bool):
        return ("boolValue", value)
    number = isinstance(value, int) if kind is int else isinstance(value, int | float)
    if kind in (int, float) and number and not isinstance(value, bool):
        if not math.isfinite(value):
            raise CellError(f"{value!r}: a cell holds finite numbers only")
        return ("numberValue", value)
    if kind is str and isinstance(value, str):
        return ("stringValue", value)
    if kind is datetime and isinstance(value, datetime):
        return ("stringValue", value.isoformat())
    if kind is date and isinstance(value, date) and not isinstance(value, datetime):
        return ("stringValue", value.isoformat())
    raise CellError(f"{_shown(value)}, expected {kind.__name__}")


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _read_str(found: Any, shown: str | None) -> str:
    if isinstance(found, str):
        return found
    return shown if shown is not None else str(found)


def _read_int(found: Any, shown: str | None) -> int:
    if isinstance(found, float) and found.is_integer():
        return int(found)
    if isinstance(found, int) and not isinstance(found, bool):
        return found
    if isinstance(found, str):
        return int(found.strip())
    raise ValueError


def _read_float(found: Any, shown: str | None) -> float:
    if isinstance(found, int | float) and not isinstance(found, bool):
        return float(found)
    if isinstance(found, str):
        return float(found.strip())
    raise ValueError


def _read_bool(found: Any, shown: str | None) -> bool:
    if isinstance(found, bool):
        return found
    if isinstance(found, str) and found.strip().upper() in ("TRUE", "FALSE"):
        return found.strip().upper() == "TRUE"
    raise ValueError


def _read_date(found: Any, shown: str | None) -> date:
    if isinstance(found, str):
        return date.fromisoformat(found.strip())
    if isinstance(found, int | float) and not isinstance(found, bool) and found == int(found):
        return SHEETS_EPOCH + timedelta(days=int(found))  # a cell someone typed a date in
    raise ValueError


def _read_datetime(found: Any, shown: str | None) -> datetime:
    if isinstance(found, str):
        return datetime.fromisoformat(found.strip())
    raise ValueError


_READERS = {
    str: _read_str,
    int: _read_int,
    float: _read_float,
    bool: _read_bool,
    date: _read_date,
    datetime: _read_datetime,
}
