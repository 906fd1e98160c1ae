"""DjangoRecordStorer: a flow's records kept in the database and stored by difference.

Records are of one of two kinds:

- model-backed: ``model = Student``; the records are the instances that
  ``get_queryset()`` returns, keyed by primary key or by ``key_field``;
- typed: ``record_type = SomeDataclass`` and ``key = "netid"``; the records are
  kept as JSON in adminflow's ``Record`` table under a collection.

``get_records`` is one query and remembers a snapshot of every record's values
by key. ``set_records`` compares the records with that snapshot and, in one
transaction, deletes what record steps dropped, upserts only the changed fields
of changed records, inserts new ones and writes one ``RecordChange`` per
difference, in bulk statements of at most ``ADMINFLOW["STORE_BATCH_SIZE"]`` rows.
A store that changes unique values first parks the old ones, so records may
swap or rotate them (see :mod:`adminflow.storage.unique_values`); one whose records
would break a constraint raises :class:`StoreConflict`, naming them.
In debug mode it writes nothing and logs what it would have written.

The run service calls :func:`bind_storer` before a run: it gives the storer its
flow and storer names (typed records default to the collection
``"<flow>.<storer>"``) and the ``FlowRun`` that audit rows belong to. After the
run it copies ``storer.last_store_counts.run_fields()`` onto the ``FlowRun``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from django.db import IntegrityError, models, transaction

from ..conf import adminflow_settings
from ..engine import Configs, ConfiguredFlow, RecordStorer
from ..engine.steps import Logger
from ..models import FlowRun, RecordChange
from ..reconnect import drop_if_lost
from . import plans
from .audit import kind_of_change, mark_returned, summarize
from .layouts import (
    Entry,
    ModelLayout,
    RecordError,
    StoreConflict,
    StorerDeclarationError,
    TypedLayout,
    collector_paused,
    frozen_copy,
)

__all__ = [
    "DjangoRecordStorer",
    "RecordError",
    "StoreConflict",
    "StoreCounts",
    "StorerDeclarationError",
    "audit_collection",
    "bind_storer",
]

T = TypeVar("T")

# How many keys a log line names before saying how many more there are.
SHOWN_KEYS = 5


@dataclass(frozen=True)
class StoreCounts:
    """What one ``set_records`` call stored, or in debug mode would have stored."""

    added: int
    changed: int
    removed: int
    unchanged: int
    debug: bool = False
    summary: dict[str, Any] = field(default_factory=dict, compare=False)
    """The audit's counts by kind and, for changed records, by field (see change_summary)."""

    @property
    def stored(self) -> int:
        """Return how many records were stored: all of them, or none in debug mode."""
        return 0 if self.debug else self.added + self.changed + self.unchanged

    def run_fields(self) -> dict[str, Any]:
        """Return the counts as ``FlowRun`` field values, for the run service to record with the run."""
        return {
            "records_added": self.added,
            "records_changed": self.changed,
            "records_removed": self.removed,
            "records_stored": self.stored,
            "change_summary": self.summary,
        }


@dataclass
class _Difference:
    added: list[Entry]
    changed: list[Entry]
    removed: list[Hashable]
    unchanged: int


class DjangoRecordStorer(RecordStorer[T]):
    """Load a flow's records from the database and store back only what changed.

    Subclass it and set either ``model`` (and optionally ``key_field``, and
    override ``get_queryset()`` to narrow the rows) or ``record_type`` and
    ``key`` (and optionally ``collection``). One instance serves one run at a
    time: ``set_records`` compares with what the last ``get_records`` loaded.
    """

    description = "Records kept in the database."

    model: ClassVar[type[models.Model] | None] = None
    """Model-backed: the model whose instances are the records."""
    key_field: ClassVar[str | None] = None
    """Model-backed: the unique field that identifies a record; None for the primary key."""
    record_type: ClassVar[type | None] = None
    """Typed: the dataclass of the records."""
    key: ClassVar[str | None] = None
    """Typed: the name of the dataclass field that identifies a record."""
    collection: ClassVar[str | None] = None
    """Typed: the ``Record`` collection; None for ``"<flow>.<storer>"``."""
    enrolment_field: ClassVar[str | None] = None
    """A field that says whether a record is still in (a student's status): a change of it
    away from ``enrolled_value`` counts as a removal, back to it as a re-enrolment."""
    enrolled_value: ClassVar[Any] = None
    """The ``enrolment_field`` value of a record that is in, as stored JSON has it."""

    def __init__(self, configs: Configs) -> None:
        super().__init__(configs)
        self.flow_name: str | None = None
        self.storer_name: str | None = None
        self.run: FlowRun | None = None
        """The run that ``RecordChange`` rows are written for; None writes none."""
        self.last_store_counts: StoreCounts | None = None
        self._loaded: dict[Hashable, Any] | None = None
        """What get_records() loaded, by key: each layout's snapshot of the record."""
        self.layout = self._make_layout()

    @property
    def label(self) -> str:
        """Return how messages name this storer."""
        name = type(self).__name__
        if self.storer_name is None:
            return f"storer {name}"
        return f"storer '{self.storer_name}' ({name}) of flow '{self.flow_name}'"

    def _make_layout(self) -> ModelLayout | TypedLayout:
        if (self.model is None) == (self.record_type is None):
            raise StorerDeclarationError(
                f"{self.label}: set either `model` (records are model instances) or "
                "`record_type` and `key` (typed records kept in adminflow's Record table)"
                + (", not both" if self.model is not None else "")
            )
        if self.model is not None:
            return ModelLayout(self.label, self.model, self.key_field)
        return TypedLayout(self.label, self.record_type, self.key)

    def bind(self, flow_name: str, storer_name: str, run: FlowRun | None = None) -> None:
        """Tell the storer which flow it serves, under which name, and for which run.

        The names give typed records their default collection and messages
        their subject; ``run`` is what ``RecordChange`` rows belong to.
        """
        self.flow_name = flow_name
        self.storer_name = storer_name
        self.run = run
        self.layout.owner = self.label

    # What a traced run names records by (adminflow.engine.tracing.RecordKeys)

    @property
    def record_field_names(self) -> Sequence[str]:
        """Return the names of the values a record is compared by, as its audit names them."""
        return self.layout.names

    def record_values(self, record: Any) -> tuple[Any, ...]:
        """Return ``record``'s values, copied where later in-place changes could reach them."""
        layout = self.layout
        if isinstance(layout, ModelLayout):
            return layout.snapshot_of(record)
        return tuple(frozen_copy(value) for value in layout.values_of(record))

    def audit_collection(self) -> str:
        """Return the collection its ``RecordChange`` rows name: the model's label, or the
        ``Record`` collection of typed records."""
        if isinstance(self.layout, ModelLayout):
            return self.layout.label
        return self.get_collection()

    def get_queryset(self) -> models.QuerySet[Any]:
        """Return the rows that are this storer's records; override to narrow them."""
        if self.model is None:
            raise StorerDeclarationError(f"{self.label}: get_queryset() needs `model` to be set")
        return self.model._default_manager.all()

    def get_collection(self) -> str:
        """Return the ``Record`` collection of typed records.

        ``collection`` if the class sets it, else ``"<flow>.<storer>"`` once
        :meth:`bind` has named the flow and storer. Override to compute it.
        """
        if self.collection:
            return self.collection
        if self.flow_name and self.storer_name:
            return f"{self.flow_name}.{self.storer_name}"
        raise StorerDeclarationError(
            f"{self.label}: no collection for its records: set `collection` on the class, "
            "or run the flow through adminflow.runs (or call bind_storer()) so that it "
            "defaults to '<flow>.<storer>'"
        )

    def get_records(self, logger: Logger) -> list[T]:
        """Return the stored records, remembering their values to compare with later.

        A row whose nullable ``key_field`` is NULL is left out, and the log
        names it. Records are matched by key between loading and storing, so
        a row without one cannot be a record: loaded, it would look removed
        and re-added on every store. Refusing the whole load instead would
        make every run of the flow fail over one row the site may have written
        on purpose (a badge not issued yet); left out, it is never changed or
        deleted, and becomes a record once it has a key.
        """
        layout = self.layout
        self.last_store_counts = None
        if isinstance(layout, ModelLayout):
            queryset = self.get_queryset()
            if queryset.model is not layout.model:
                raise StorerDeclarationError(
                    f"{self.label}: get_queryset() returned {queryset.model._meta.label} rows; "
                    f"expected {layout.label} rows"
                )
            records, self._loaded, keyless = layout.load(queryset)
            if keyless:
                pks = [f"pk {row.pk}" for row in keyless]
                logger(
                    f"left out {_listed(pks)} of {layout.label}: their {layout.key_name} "
                    "is NULL, and a row without a key cannot be a record"
                )
        else:
            layout.collection = self.get_collection()
            records, self._loaded = layout.load()
        logger(f"loaded {len(records)} records from {layout.label}")
        return records

    def set_records(self, rec_list: list[T], logger: Logger, debug: bool = False) -> None:
        """Store what changed since ``get_records``, all or nothing; in debug mode only say what."""
        if self._loaded is None:
            raise RecordError(
                f"{self.label}: set_records() stores the difference from what get_records() "
                "loaded; call get_records() first"
            )
        with collector_paused():
            difference = self._compare(rec_list)
            summary = {} if debug else self._write(difference)
        counts = StoreCounts(
            len(difference.added),
            len(difference.changed),
            len(difference.removed),
            difference.unchanged,
            debug,
            summary,
        )
        if debug:
            logger(f"debug: would {self._summary(difference)}; nothing was written")
        else:
            self._loaded = None
            logger(
                f"stored {counts.stored} records in {self.layout.label}: {counts.added} added, "
                f"{counts.changed} changed, {counts.removed} removed, "
                f"{counts.unchanged} unchanged"
            )
        self.last_store_counts = counts

    # Plans (see adminflow.storage.plans)

    def record_key(self, record: T) -> str | None:
        """Return the key that names ``record`` (in a plan, its changes, its timeline), or
        None for a new one without a key yet (a model instance keyed by its primary key)."""
        layout = self.layout
        key = layout.key_of(record, layout.values_of(record))
        return None if key is None else str(key)

    def plan_store(
        self, rec_list: list[T], logger: Logger, touched: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Return the record diff storing ``rec_list`` would make, writing nothing."""
        if self._loaded is None:
            raise RecordError(f"{self.label}: plan_store() needs get_records() first")
        with collector_paused():
            difference = self._compare(rec_list)
            entries = plans.diff_entries(self, difference, touched)
        logger(f"plan: would {self._summary(difference)}; nothing was written")
        return entries

    def stale_keys(self, entries: Sequence[Mapping[str, Any]]) -> list[str]:
        """Return the keys of planned records changed since they were planned (after get_records)."""
        return plans.stale_keys(self, entries)

    def store_planned(
        self,
        records: list[T],
        entries: Sequence[dict[str, Any]],
        marks: dict[str, dict[str, Any]],
        logger: Logger,
    ) -> None:
        """Store ``records`` (as ``get_records`` loaded them) with a plan's diff and marks made."""
        self.set_records(plans.planned_records(self, records, entries, marks), logger)

    def _compare(self, rec_list: Sequence[Any]) -> _Difference:
        """Sort the records into added, changed and unchanged ones; find the removed keys."""
        assert self._loaded is not None
        layout, loaded = self.layout, self._loaded
        record_class, values_of, key_of = layout.record_class, layout.values_of, layout.key_of
        before_values = layout.before_values
        added: list[Entry] = []
        changed: list[Entry] = []
        seen: set[Hashable] = set()
        for index, record in enumerate(rec_list):
            if not isinstance(record, record_class):
                raise RecordError(
                    f"{self.label}: record {index} is a {type(record).__name__} "
                    f"({record!r:.80}); expected {layout.expected}"
                )
            values = values_of(record)
            key = key_of(record, values)
            if key is None:
                if not layout.new_without_key:
                    raise self._keyless(index, record)
                added.append(Entry(key, record, values))  # a new instance, without a pk yet
                continue
            if key in seen:
                raise RecordError(f"{self.label}: key {key!r} is in the records more than once")
            seen.add(key)
            snapshot = loaded.get(key)
            if snapshot is None:
                added.append(Entry(key, record, values))
                continue
            before = before_values(snapshot)
            if values != before:
                fields = tuple(
                    i
                    for i, (now, then) in enumerate(zip(values, before, strict=True))
                    if now != then
                )
                changed.append(Entry(key, record, values, before, fields))
        removed = [key for key in loaded if key not in seen]
        return _Difference(added, changed, removed, len(rec_list) - len(added) - len(changed))

    def _keyless(self, index: int, record: Any) -> RecordError:
        """Return the error for record ``index`` of the list, which has no key."""
        layout = self.layout
        message = f"{self.label}: record {index} has no key ({layout.key_name} is None)"
        if isinstance(layout, ModelLayout):
            message += f": {record!r:.80} (pk {record.pk})"
        return RecordError(message)

    def _write(self, difference: _Difference) -> dict[str, Any]:
        """Write the difference in one transaction and return the audit's summary; raise
        StoreConflict if the database refuses."""
        if not (difference.added or difference.changed or difference.removed):
            return summarize([])
        # The run's steps may have taken long enough for the server to close the
        # connection: begin over a new one rather than fail a run that did its work.
        drop_if_lost(self.layout.db)
        try:
            return self._write_all(difference)
        except IntegrityError as exc:
            raise self._conflict(difference, exc) from exc

    def _write_all(self, difference: _Difference) -> dict[str, Any]:
        layout = self.layout
        batch_size = adminflow_settings.STORE_BATCH_SIZE
        with transaction.atomic(using=layout.db):
            # Deleting first lets a record step replace a record by one with the same key.
            if difference.removed:
                layout.delete(difference.removed, batch_size)
            if difference.changed:
                layout.update(difference.changed, batch_size)
            if difference.added:
                layout.insert(difference.added, batch_size)
                for entry in difference.added:  # inserting may have set a pk or defaults
                    entry.values = layout.values_of(entry.record)
                    entry.key = layout.key_of(entry.record, entry.values)
            changes = self._audit(difference)
            if self.run is not None:
                mark_returned(changes, layout.label, layout.db, batch_size)
                RecordChange.objects.using(layout.db).bulk_create(changes, batch_size=batch_size)
        return summarize(changes)

    def _conflict(self, difference: _Difference, exc: IntegrityError) -> StoreConflict:
        """Return the error for a store the database refused (and rolled back).

        Model-backed records name the unique values that two records, or a
        record and a row outside the storer's records, would share: a store is
        refused only when the state it would leave breaks a constraint, since
        changed unique values are parked first (see adminflow.storage.unique_values).
        """
        assert self._loaded is not None
        layout = self.layout
        clashes = []
        if isinstance(layout, ModelLayout):
            final, written = self._final_state(difference)
            clashes = layout.uniques.clashes(final, written, self._loaded)
        if not clashes:
            return StoreConflict(
                f"{self.label}: the database refused to store the records in {layout.label}, "
                f"so nothing was stored: {exc}"
            )
        more = len(clashes) - SHOWN_KEYS
        return StoreConflict(
            f"{self.label}: the records break a unique constraint of {layout.label}, so nothing "
            f"was stored: {'; '.join(clashes[:SHOWN_KEYS])}"
            + (f"; and {more} more" if more > 0 else "")
        )

    def _final_state(self, difference: _Difference) -> tuple[list[tuple[str, Any]], list[Any]]:
        """Return every record's values as the store would leave them, named, and those it
        writes (changed and added ones)."""
        assert self._loaded is not None
        before_values = self.layout.before_values
        held = {key: before_values(snapshot) for key, snapshot in self._loaded.items()}
        for key in difference.removed:
            del held[key]
        for entry in difference.changed:
            held[entry.key] = entry.values
        final = [(f"record {key!r}", values) for key, values in held.items()]
        final += [
            (
                f"new record {entry.record!r:.60}"
                if entry.key is None
                else f"record {entry.key!r}",
                entry.values,
            )
            for entry in difference.added
        ]
        written = [entry.values for entry in (*difference.changed, *difference.added)]
        return final, written

    def _audit(self, difference: _Difference) -> list[RecordChange]:
        """Return one ``RecordChange`` per added, changed and removed record."""
        assert self._loaded is not None
        layout, run, Action = self.layout, self.run, RecordChange.Action
        label = layout.label

        def change(key: Any, action: str, before: Any, after: Any) -> RecordChange:
            kind = action
            if action == Action.CHANGED:
                kind = kind_of_change(self.enrolment_field, self.enrolled_value, before, after)
            return RecordChange(
                run=run,
                collection=label,
                key=str(key),
                action=action,
                kind=kind,
                before=before,
                after=after,
            )

        changes = [
            change(entry.key, Action.ADDED, None, layout.as_json(entry.key, entry.values))
            for entry in difference.added
        ]
        changes += [
            change(
                entry.key,
                Action.CHANGED,
                layout.fields_json(entry.before or (), entry.fields),
                layout.fields_json(entry.values, entry.fields),
            )
            for entry in difference.changed
        ]
        changes += [
            change(
                key,
                Action.REMOVED,
                layout.as_json(key, layout.before_values(self._loaded[key])),
                None,
            )
            for key in difference.removed
        ]
        return changes

    def _summary(self, difference: _Difference) -> str:
        """Return what a store does, e.g. "add 2 (a, b), change 1 (c: name), remove 0"."""
        names = self.layout.names
        added = [("(new)" if e.key is None else str(e.key)) for e in difference.added]
        changed = [f"{e.key}: {', '.join(names[i] for i in e.fields)}" for e in difference.changed]
        removed = [str(key) for key in difference.removed]
        return (
            f"add {_listed(added)}, change {_listed(changed, '; ')}, remove {_listed(removed)} "
            f"in {self.layout.label} ({difference.unchanged} unchanged)"
        )


def _listed(items: Sequence[str], separator: str = ", ") -> str:
    """Return "3 (a, b, c)", naming at most SHOWN_KEYS items."""
    if not items:
        return "0"
    shown = separator.join(items[:SHOWN_KEYS])
    more = f" and {len(items) - SHOWN_KEYS} more" if len(items) > SHOWN_KEYS else ""
    return f"{len(items)} ({shown}{more})"


def bind_storer(configured: ConfiguredFlow, run: FlowRun | None = None) -> None:
    """Bind a configured flow's storer to its flow and ``run``, if it is a DjangoRecordStorer.

    The run service calls this before ``configured.run()``; other storers are
    left alone, so the caller need not know which kind of storer a flow has.
    """
    storer = configured.storer
    if isinstance(storer, DjangoRecordStorer):
        storer.bind(configured.name, configured.storer_name, run)


def audit_collection(configured: ConfiguredFlow) -> str:
    """Return the collection a configured flow's records are audited under; "" if its storer
    is no DjangoRecordStorer. Call after :func:`bind_storer`."""
    storer = configured.storer
    if isinstance(storer, DjangoRecordStorer):
        return storer.audit_collection()
    return ""
