"""Which record each step touched: per-step record effects, and the record a log line names.

A run's store says what the run as a whole did to each record (added,
changed, removed). Staff also ask *which step* did it, and what a step said
about one student. This module works that out while the run executes, at a
cost kept small, because a run of 20,000 records must not slow down for it:

- **Always**, when the storer can name and copy records (``record_key`` and
  ``record_values``):
  each record step's additions and removals, by comparing the keys of the
  list it was given with the list it returned (one pass over the records,
  no copy of any value); and each log line that names exactly one record's
  key, or is logged while its step holds that record's lock, is linked to
  that record (a set lookup per word of the line).
- **Only when the flow asks** (``AdminFlow(..., trace_records=True)``): the
  fields each step changed. Record steps are diffed against a snapshot of
  every record taken before them. Update and propagate steps share one list
  and run side by side, so a snapshot per step could not tell whose change
  it sees; instead each record's lock records the record's values when a
  step takes it and compares them when the step lets go, and the thread that
  let go says which step it was. That is exact as long as steps touch a
  record only while holding its lock, which the step contract asks of them
  anyway; an exception raised while a step holds a record's lock is kept as
  that record's error. It costs one snapshot and one comparison per lock
  taken (a few microseconds: ``bench/record_tracing.py`` measures it), which
  for steps that do little per record is several times their own time, so
  it is off by default. A run's recording (``bench/recorded_run.py``) pays
  nothing for it when the storer cannot name records, and otherwise only
  for the lines and the effects it writes.

A step that starts threads of its own is not followed into them: what those
threads change is not attributed to a step. The engine imports no Django;
the Django layer reads the effects through
:meth:`~adminflow.engine.events.FlowObserver.step_records` and the record a
log line names through :func:`logged_record`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, TypeAlias

_current = threading.local()
"""Per thread: ``step`` (the step it runs) and ``held`` (the traced lock it holds)."""

_line_record: ContextVar[str | None] = ContextVar("adminflow_line_record", default=None)

# What separates a key from the words around it in a log line ("added ana1 (Ana, S01)").
_WORD = re.compile(r"[^\s,;()\[\]{}<>'\"`]+")
_TRAILING = ".:!?"


def logged_record() -> str | None:
    """Return the key of the record the log line being reported names, during a
    :meth:`FlowObserver.log` call of a traced run; None otherwise."""
    return _line_record.get()


class RecordKeys(Protocol):
    """What a storer offers for its records to be traced (``DjangoRecordStorer`` does)."""

    record_field_names: Sequence[str]

    def record_key(self, record: Any) -> str | None:
        """Return the key that names ``record`` (as its store's audit does), or None."""

    def record_values(self, record: Any) -> tuple[Any, ...]:
        """Return ``record``'s values, one per field name, safe from later in-place changes."""


@dataclass(slots=True)
class RecordEffect:
    """What one step did to one record: its action, the fields it changed, its error."""

    key: str
    action: str = ""
    """"added" or "removed" (by a record step), "changed", or "" (only logged about)."""
    fields: list[str] = field(default_factory=list)
    error: str = ""
    """The step's exception, if it raised while holding this record's lock."""
    lines: int = 0
    """Log lines the step wrote about this record."""

    @property
    def is_empty(self) -> bool:
        return not (self.action or self.fields or self.error or self.lines)


class RecordTrace:
    """Follow one run's records through its steps; built by the run, used once."""

    def __init__(
        self, storer: RecordKeys, *, diff_fields: bool, redact: Callable[[str], str]
    ) -> None:
        self.key_of = storer.record_key
        self.values_of = storer.record_values
        self.names = tuple(storer.record_field_names)
        self.diff_fields = diff_fields
        self.redact = redact
        self.keys: set[str] = set()
        self._cells: dict[str, dict[str, RecordEffect]] = {}

    @classmethod
    def of(
        cls, storer: Any, *, diff_fields: bool, redact: Callable[[str], str]
    ) -> RecordTrace | None:
        """Return a trace for the records of ``storer``, or None if it cannot name them."""
        # Every storer has record_key (for plans); only one that can also copy a record's
        # values, field by field, can be traced.
        if not callable(getattr(storer, "record_values", None)):
            return None
        return cls(storer, diff_fields=diff_fields, redact=redact)

    def loaded(self, records: Sequence[Any]) -> None:
        """Remember the keys of the records loaded, for log lines to be matched against."""
        self.keys = {key for key in map(self.key_of, records) if key is not None}
        """The keys of the records as they are now: loaded, then after each record step."""

    # Steps

    def step_started(self, name: str) -> None:
        """Note that this thread now runs step ``name``."""
        self._cells[name] = {}
        _current.step = name

    def step_ended(self, name: str) -> list[RecordEffect]:
        """Return what step ``name`` did to each record it touched; this thread is free."""
        _current.step = None
        return [cell for cell in self._cells.pop(name, {}).values() if not cell.is_empty]

    def _cell(self, key: str) -> RecordEffect | None:
        step = getattr(_current, "step", None)
        cells = self._cells.get(step) if step is not None else None
        if cells is None:
            return None
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = RecordEffect(key)
        return cell

    def before_record_step(self, records: Sequence[Any]) -> tuple[set[Any], Any]:
        """Return what a record step's additions, removals and changes are found from: the
        keys of ``records`` (known since the load or the last record step, no pass over
        them) and, when fields are traced, a snapshot of each record's values."""
        if not self.diff_fields:
            return set(self.keys), None
        key_of, values_of = self.key_of, self.values_of
        snapshot = {key_of(record): values_of(record) for record in records}
        return set(snapshot), snapshot

    def after_record_step(self, before: tuple[set[Any], Any], records: Sequence[Any]) -> None:
        """Attribute to the running record step what it added, removed and changed."""
        was, snapshot = before
        # A new record without its key yet cannot be named.
        now = {key for key in map(self.key_of, records) if key is not None}
        for key in now - was:
            self._set_action(key, "added")
        for key in was - now:
            if key is not None:
                self._set_action(key, "removed")
        if snapshot is not None:
            key_of, values_of = self.key_of, self.values_of
            for record in records:
                named = key_of(record)
                then = None if named is None else snapshot.get(named)
                if named is not None and then is not None:
                    self._note_fields(named, then, values_of(record))
        self.keys = now

    def _set_action(self, key: Any, action: str) -> None:
        cell = self._cell(str(key))
        if cell is not None:
            cell.action = action

    def _note_fields(self, key: Any, then: tuple[Any, ...], now: tuple[Any, ...]) -> None:
        if then == now:
            return
        changed = [name for name, a, b in zip(self.names, then, now, strict=True) if a != b]
        cell = self._cell(str(key))
        if cell is None:
            return
        if not cell.action:
            cell.action = "changed"
        cell.fields.extend(name for name in changed if name not in cell.fields)

    # Update and propagate steps: the records' locks

    def locked(self, records: Sequence[Any]) -> list[tuple[Any, RecordLock]]:
        """Return the records, each with a lock that notes what its holder changes."""
        return [(record, TracedLock(self, record)) for record in records]

    def released(self, lock: TracedLock, error: BaseException | None) -> None:
        before = lock.before
        now = None if before is None else self.values_of(lock.record)
        changed = before is not None and before != now
        if not (changed or error is not None):
            return  # the common case: a step looked and changed nothing
        key = self.key_of(lock.record)
        if key is None:
            return
        if before is not None and now is not None and changed:
            self._note_fields(key, before, now)
        if error is not None:
            cell = self._cell(str(key))
            if cell is not None:
                cell.error = self.redact(f"{type(error).__name__}: {error}")

    # Log lines

    def line_record(self, source: str | None, message: str) -> str | None:
        """Return the key of the record ``message`` is about, counting the line for its step.

        The record whose lock the logging thread holds, else the one record
        whose key the line names as a word; None if it names none or several
        (a summary line is about no one record).
        """
        held = getattr(_current, "held", None)
        found: str | None = None
        if held is not None:
            key = self.key_of(held.record)
            found = None if key is None else str(key)
        elif self.keys:
            keys = self.keys
            for word in _WORD.findall(message):
                word = word.rstrip(_TRAILING)
                if word in keys:
                    if found is not None and found != word:
                        return None
                    found = word
        if found is not None and source is not None:
            cell = self._cell(found)
            if cell is not None:
                cell.lines += 1
        return found

    def reporting(self, key: str | None) -> Any:
        """Return a token while observers hear a line about record ``key``; pass it to
        :meth:`reported` after."""
        return _line_record.set(key)

    @staticmethod
    def reported(token: Any) -> None:
        _line_record.reset(token)


class TracedLock:
    """A record's lock that notes what the step holding it changed in the record."""

    __slots__ = ("_lock", "_outer", "_trace", "before", "record")

    def __init__(self, trace: RecordTrace, record: Any) -> None:
        self._lock = threading.Lock()
        self._trace = trace
        self._outer: TracedLock | None = None
        self.record = record
        self.before: tuple[Any, ...] | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._lock.acquire(blocking, timeout):
            return False
        self.before = self._trace.values_of(self.record) if self._trace.diff_fields else None
        self._outer = getattr(_current, "held", None)
        _current.held = self
        return True

    def release(self, error: BaseException | None = None) -> None:
        try:
            self._trace.released(self, error)
        finally:
            _current.held, self._outer, self.before = self._outer, None, None
            self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release(exc)


RecordLock: TypeAlias = "threading.Lock | TracedLock"
"""The lock a step gets with each record: a plain one, or one that traces its holder."""
