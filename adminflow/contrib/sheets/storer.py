"""SpreadsheetStorer: a flow's typed records in a Google Sheets worksheet, one row each.

Row 1 holds the record type's field names, in field order; each row below it
holds one record, identified by its key (``key``, by default the first
field). Empty rows are skipped. An empty worksheet is an empty collection:
the first store writes the header.

``get_records`` is one read. It refuses a worksheet whose header does not
match the record type, naming the missing, unexpected and reordered columns,
and a cell that its column's type cannot read, naming its row, column and
the type expected (see :mod:`.columns`). It remembers every record's cells.

``set_records`` compares the records with what was loaded and writes only
the cells that changed, the rows of added records and the deletion of the
rows of removed records, all in one ``spreadsheets.batchUpdate``, which the
API applies whole or not at all. A removed record's row is deleted, so the
sheet has no gaps and rows below it move up. First it reads the worksheet
again (one read): the store is refused, nothing written, if the header no
longer matches, if a row it would change or delete no longer holds its
record, or if an added record's key is now in the sheet. A row moved (by a
sort, say) is found by its key. A cell changed by hand while the flow ran
keeps its new value unless the flow changed that cell too: then the flow's
value is written. In debug mode it reads but writes nothing, and logs what it
would have written.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from adminflow import RecordStorer, RetryPolicy, Secret

from .client import SHEETS_API, SheetsConfigError, SheetsError, Worksheet, parse_key
from .columns import Cell, CellError, Column, RecordTypeError, columns_of
from .grid import (
    Grid,
    a1,
    append_request,
    cell_at,
    delete_requests,
    header_problems,
    parse_grid,
    update_requests,
)

T = TypeVar("T")
Logger = Callable[[str], None]

SHOWN = 20
"""How many problems or intended changes a message lists before saying how many more."""


class SheetRecordsError(SheetsError, ValueError):
    """Raise when the worksheet's rows cannot be the records, or the records cannot be stored."""


class HeaderMismatch(SheetRecordsError):
    """Raise when the worksheet's header row is not the record type's field names in order."""


@dataclass(frozen=True)
class SheetStoreCounts:
    """What one ``set_records`` call stored, or in debug mode would have stored."""

    added: int
    changed: int
    removed: int
    unchanged: int
    cells: int
    """Cells written: changed cells, and every cell of an added row."""
    debug: bool = False

    def run_fields(self) -> dict[str, int]:
        """Return the counts as ``FlowRun`` fields; the run service records them with the run."""
        stored = 0 if self.debug else self.added + self.changed + self.unchanged
        return {
            "records_added": self.added,
            "records_changed": self.changed,
            "records_removed": self.removed,
            "records_stored": stored,
        }


class SpreadsheetStorer(RecordStorer[T]):
    """Keep records of a dataclass type in a worksheet, storing back only what changed.

    The record type is the subscription (``SpreadsheetStorer[Student]``, as
    courseflow flows write it, or a subclass of it), or the class's
    ``record_type``. ``retry`` is how quota answers are waited out.
    """

    description = "Records kept in a Google Sheets worksheet, one row each under a header row."
    config_types = [
        ("sheet_id", str, "the spreadsheet's id, from its address: /spreadsheets/d/<id>/edit"),
        ("tab", str, "the worksheet (tab) that holds the records"),
        (
            "credentials",
            Secret,
            "the service account's JSON key; share the spreadsheet with its client_email",
        ),
        ("key", str, "the field that identifies a record; empty for the first field", ""),
        ("api_url", str, "the Sheets API's address", SHEETS_API),
    ]

    record_type: ClassVar[type | None] = None
    """The records' dataclass, if the class is not subscripted with it."""
    retry: ClassVar[RetryPolicy] = RetryPolicy(max_attempts=6, backoff=2.0, max_backoff=64.0)
    """Waits of 2, 4, 8, 16 and 32 s: past the minute after which Sheets refills its quotas."""

    configs: Any

    def __init__(self, configs: Any) -> None:
        self._worksheet: Worksheet | None = None
        self._loaded: dict[Hashable, tuple[Cell, ...]] | None = None
        """What get_records() read: each record's cells, by key."""
        self.last_store_counts: SheetStoreCounts | None = None
        super().__init__(configs)

    def validate(self) -> None:
        configs = self.configs
        if not configs.sheet_id.strip():
            raise SheetsConfigError("sheet_id: no spreadsheet id given")
        if not configs.tab.strip():
            raise SheetsConfigError("tab: no worksheet name given")
        parse_key(configs.credentials.reveal())
        if not configs.api_url.startswith(("https://", "http://")):
            raise SheetsConfigError(
                f"api_url: expected an http(s) address, got {configs.api_url!r}"
            )
        # Built through a generic alias, the instance learns its record type only
        # after __init__; the flow validates after that, a bare call before it.
        if self._record_type(required=False) is not None:
            self._columns()

    # The record type and its columns

    def _record_type(self, required: bool = True) -> type | None:
        if self.record_type is not None:
            return self.record_type
        aliases = [getattr(self, "__orig_class__", None)]
        aliases += [
            base for cls in type(self).__mro__ for base in getattr(cls, "__orig_bases__", ())
        ]
        for alias in aliases:
            origin = typing.get_origin(alias)
            if isinstance(origin, type) and issubclass(origin, SpreadsheetStorer):
                (arg,) = typing.get_args(alias)
                if isinstance(arg, type):
                    return arg
        if required:
            raise RecordTypeError(
                f"{type(self).__name__} does not know its record type: write "
                f"{type(self).__name__}[YourRecord], or set record_type on a subclass"
            )
        return None

    def _columns(self) -> tuple[type, list[Column], int]:
        """Return the record type, its columns and the index of the key column."""
        record_type = self._record_type()
        assert record_type is not None
        columns = columns_of(record_type)
        names = [column.name for column in columns]
        key = self.configs.key or names[0]
        if key not in names:
            raise SheetsConfigError(
                f"key: {record_type.__name__} has no field {key!r} (fields: {', '.join(names)})"
            )
        return record_type, columns, names.index(key)

    def worksheet(self) -> Worksheet:
        """Return the worksheet client, made once per storer (one token request)."""
        if self._worksheet is None:
            configs = self.configs
            self._worksheet = Worksheet(
                parse_key(configs.credentials.reveal()),
                configs.sheet_id,
                configs.tab,
                configs.api_url,
                self.retry,
            )
        return self._worksheet

    # Loading

    def get_records(self, logger: Logger) -> list[T]:
        """Return the worksheet's records, typed; remember their cells to compare with later."""
        record_type, columns, key_column = self._columns()
        sheet = self.worksheet()
        self.last_store_counts = None
        grid = parse_grid(sheet.read())
        self._check_header(grid, record_type, columns, "")
        records: list[Any] = []
        rows: dict[Hashable, int] = {}
        loaded: dict[Hashable, tuple[Cell, ...]] = {}
        problems: list[str] = []
        for index, cells in grid.rows:
            values = {}
            for c, column in enumerate(columns):
                cell = cell_at(cells, c)
                try:
                    values[column.name] = column.from_cell(
                        cell.get("effectiveValue") or {}, cell.get("formattedValue")
                    )
                except CellError as exc:
                    problems.append(
                        f"{a1(index, c)} (row {index + 1}, column '{column.name}'): {exc}"
                    )
            if len(values) < len(columns):
                continue
            key = values[columns[key_column].name]
            where = f"row {index + 1}"
            if key in (None, ""):
                problems.append(f"{where} has no {columns[key_column].name}")
            elif key in rows:
                problems.append(f"{where} repeats the key {key!r} of row {rows[key] + 1}")
            else:
                records.append(record_type(**values))
                rows[key] = index
                loaded[key] = tuple(col.to_cell(values[col.name]) for col in columns)
        if problems:
            raise SheetRecordsError(
                f"{sheet.label}: its rows cannot be read as {record_type.__name__} records "
                f"({_listed(problems, 'problem')}): {'; '.join(problems[:SHOWN])}{_more(problems)}"
            )
        self._loaded = loaded
        logger(f"loaded {len(records)} records from {sheet.label}")
        return records

    def _check_header(
        self, grid: Grid, record_type: type, columns: Sequence[Column], when: str
    ) -> None:
        """Raise HeaderMismatch unless the worksheet is empty or its header is the field names."""
        if grid.empty:
            return
        expected = [column.name for column in columns]
        problems = header_problems(grid.header, expected)
        if problems:
            raise HeaderMismatch(
                f"{self.worksheet().label}: the header row {when}does not match the fields of "
                f"{record_type.__name__}: {'; '.join(problems)} (expected: {', '.join(expected)})"
            )

    # Storing

    def set_records(self, rec_list: list[T], logger: Logger, debug: bool = False) -> None:
        """Write what changed since ``get_records`` in one request; in debug mode only say what."""
        if self._loaded is None:
            raise SheetRecordsError(
                f"{type(self).__name__}: set_records() stores the difference from what "
                "get_records() loaded; call get_records() first"
            )
        record_type, columns, key_column = self._columns()
        loaded = self._loaded
        now = self._cells_by_key(rec_list, record_type, columns, key_column)
        added = [key for key in now if key not in loaded]
        removed = [key for key in loaded if key not in now]
        changed = {
            key: [c for c, cell in enumerate(cells) if cell != loaded[key][c]]
            for key, cells in now.items()
            if key in loaded and cells != loaded[key]
        }
        counts = SheetStoreCounts(
            len(added),
            len(changed),
            len(removed),
            len(now) - len(added) - len(changed),
            sum(map(len, changed.values())) + len(added) * len(columns),
            debug,
        )
        sheet = self.worksheet()
        if not (added or removed or changed):
            logger(f"nothing to store: {len(now)} records unchanged in {sheet.label}")
            self.last_store_counts = counts
            return
        grid = parse_grid(sheet.read())
        self._check_header(
            grid, record_type, columns, "was edited since the records were loaded: it "
        )
        rows = self._current_rows(
            grid, columns[key_column], key_column, [*changed, *removed], added
        )
        requests: list[dict[str, Any]] = []
        lines: list[str] = []
        for key, changed_columns in changed.items():
            requests += update_requests(grid.sheet_id, rows[key], changed_columns, now[key])
            lines += [
                f"change {key} {columns[c].name} ({a1(rows[key], c)}): "
                f"{_shown(loaded[key][c])} -> {_shown(now[key][c])}"
                for c in changed_columns
            ]
        requests += delete_requests(grid.sheet_id, [rows[key] for key in removed])
        lines += [f"delete row {rows[key] + 1} ({key})" for key in removed]
        appended = [now[key] for key in added]
        if grid.empty:
            appended.insert(0, tuple(("stringValue", column.name) for column in columns))
            lines.append("write the header row")
        if appended:
            requests.append(append_request(grid.sheet_id, appended))
            lines += [f"add a row for {key}" for key in added]
        summary = (
            f"{counts.added} added, {counts.changed} changed, {counts.removed} removed, "
            f"{counts.unchanged} unchanged records; {counts.cells} cells written"
        )
        if debug:
            logger(f"debug: would store in {sheet.label}: {summary}; nothing was written")
            for line in lines[:SHOWN]:
                logger(f"debug: would {line}")
            if len(lines) > SHOWN:
                logger(f"debug: and {len(lines) - SHOWN} more changes")
        else:
            sheet.write(requests)
            self._loaded = None
            logger(f"stored records in {sheet.label} in one write: {summary}")
        self.last_store_counts = counts

    def _cells_by_key(
        self, rec_list: Sequence[Any], record_type: type, columns: Sequence[Column], key_column: int
    ) -> dict[Hashable, tuple[Cell, ...]]:
        """Return each record's cells by key; raise SheetRecordsError for a record that cannot
        be a row (wrong type, a value its column cannot hold, no key, a key twice)."""
        now: dict[Hashable, tuple[Cell, ...]] = {}
        for index, record in enumerate(rec_list):
            if not isinstance(record, record_type):
                raise SheetRecordsError(
                    f"record {index} is a {type(record).__name__} ({record!r:.80}); "
                    f"expected {record_type.__name__}"
                )
            cells = []
            for column in columns:
                try:
                    cells.append(column.to_cell(getattr(record, column.name)))
                except CellError as exc:
                    raise SheetRecordsError(
                        f"record {index} ({record!r:.80}): field '{column.name}' is {exc}"
                    ) from None
            key = getattr(record, columns[key_column].name)
            if key in (None, ""):
                raise SheetRecordsError(
                    f"record {index} ({record!r:.80}) has no {columns[key_column].name}"
                )
            if key in now:
                raise SheetRecordsError(f"the key {key!r} is in the records more than once")
            now[key] = tuple(cells)
        return now

    def _current_rows(
        self,
        grid: Grid,
        key: Column,
        key_column: int,
        kept: list[Hashable],
        added: list[Hashable],
    ) -> dict[Hashable, int]:
        """Return the row each record to change or remove is in now; raise SheetRecordsError,
        naming the records, if one is gone or an added record's key is already there."""
        rows: dict[Hashable, int] = {}
        for index, cells in grid.rows:
            cell = cell_at(cells, key_column)
            try:
                value = key.from_cell(cell.get("effectiveValue") or {}, cell.get("formattedValue"))
            except CellError:
                continue  # not a record's row: nothing is written to it
            rows.setdefault(value, index)
        gone = [repr(key) for key in kept if key not in rows]
        there = [repr(key) for key in added if key in rows]
        problems = []
        if gone:
            problems.append(f"no row holds {', '.join(gone[:SHOWN])}{_more(gone)} any more")
        if there:
            problems.append(
                f"rows were added for {', '.join(there[:SHOWN])}{_more(there)}, "
                "which the run adds too"
            )
        if problems:
            raise SheetRecordsError(
                f"{self.worksheet().label} was edited since the records were loaded: "
                f"{'; '.join(problems)}; nothing was written (the next run loads it as it is)"
            )
        return rows


def _listed(items: Sequence[str], noun: str) -> str:
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''}"


def _more(items: Sequence[Any]) -> str:
    return f"; and {len(items) - SHOWN} more" if len(items) > SHOWN else ""


def _shown(cell: Cell) -> str:
    return "(empty)" if cell is None else repr(cell[1])
