"""A worksheet as the Sheets API shows it and changes it: the grid a read returns, its
header, and the ``spreadsheets.batchUpdate`` requests a store sends.

A read (``spreadsheets.get`` with grid data) gives rows of cells, each with
its ``effectiveValue`` (typed: ``stringValue``, ``numberValue``,
``boolValue`` or ``errorValue``) and ``formattedValue`` (what it shows);
empty cells are ``{}`` and empty rows have no ``values``. Row and column
indexes here are 0-based, as the API's ``GridRange`` counts them; messages
use the sheet's own numbers (row 1 is the header) and A1 column letters.

A store's requests, in the order the API applies them:

1. ``updateCells`` for each run of changed cells in a row, at its row as read;
2. ``deleteDimension`` for each run of removed rows, bottom-up, so a deletion
   never moves a row still to be deleted;
3. one ``appendCells`` with the added rows (and the header, on an empty
   worksheet), after the last row with data, which grows the grid as needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gspread.utils import rowcol_to_a1

from .columns import Cell

VALUE_FIELDS = "userEnteredValue"
"""What the storer's writes change in a cell: its value, never its format or notes."""


@dataclass
class Grid:
    """What one read of a worksheet found."""

    sheet_id: int
    """The worksheet's id (``gid``), which every write request names."""
    header: list[str]
    """Row 1 as text, without trailing empty cells; empty for an empty worksheet."""
    rows: list[tuple[int, list[dict[str, Any]]]]
    """Each row below the header with any value: its index and its cells."""

    @property
    def empty(self) -> bool:
        return not self.header and not self.rows


def parse_grid(sheet: dict[str, Any]) -> Grid:
    """Return the grid of one sheet of a ``spreadsheets.get`` answer."""
    data = sheet.get("data") or [{}]
    rows = [row.get("values") or [] for row in data[0].get("rowData") or []]
    header = [text_of(cell) for cell in rows[0]] if rows else []
    while header and not header[-1]:
        header.pop()
    body = [(index, cells) for index, cells in enumerate(rows[1:], 1) if any(map(has_value, cells))]
    return Grid(int(sheet["properties"]["sheetId"]), header, body)


def has_value(cell: dict[str, Any]) -> bool:
    value = cell.get("effectiveValue") or {}
    return bool(value) and value.get("stringValue") != ""


def text_of(cell: dict[str, Any]) -> str:
    """Return what a cell shows, as text (a header cell's name)."""
    value = cell.get("effectiveValue") or {}
    if "stringValue" in value:
        return str(value["stringValue"]).strip()
    return str(cell.get("formattedValue", "")).strip()


def cell_at(cells: Sequence[dict[str, Any]], column: int) -> dict[str, Any]:
    """Return the cell in ``column`` of a row; a row's trailing empty cells are not sent."""
    return cells[column] if column < len(cells) else {}


def a1(row: int, column: int) -> str:
    """Return the A1 name of the cell at 0-based ``row`` and ``column``."""
    return rowcol_to_a1(row + 1, column + 1)


def column_letter(column: int) -> str:
    return a1(0, column)[:-1]


def header_problems(found: Sequence[str], expected: Sequence[str]) -> list[str]:
    """Return what is wrong with a header row: missing, unexpected and reordered columns."""
    if list(found) == list(expected):
        return []
    problems = []
    missing = [name for name in expected if name not in found]
    unexpected = [
        name or f"(no name, column {column_letter(i)})"
        for i, name in enumerate(found)
        if name not in expected or found.index(name) != i
    ]
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected columns: {', '.join(unexpected)}")
    common = [name for name in found if name in expected]
    if not problems or common != [name for name in expected if name in common]:
        problems.append(f"columns out of order: {', '.join(common)}")
    return problems


def cell_data(cell: Cell) -> dict[str, Any]:
    """Return the ``CellData`` that writes ``cell``; ``{}`` (with the value field masked)
    empties it."""
    return {} if cell is None else {"userEnteredValue": {cell[0]: cell[1]}}


def update_requests(
    sheet_id: int, row: int, columns: Iterable[int], cells: Sequence[Cell]
) -> Iterator[dict[str, Any]]:
    """Yield ``updateCells`` requests writing ``cells[c]`` for each changed column ``c`` of
    ``row``, one request per run of adjacent columns."""
    for start, stop in _runs(sorted(columns)):
        yield {
            "updateCells": {
                "rows": [{"values": [cell_data(cells[c]) for c in range(start, stop)]}],
                "fields": VALUE_FIELDS,
                "start": {"sheetId": sheet_id, "rowIndex": row, "columnIndex": start},
            }
        }


def delete_requests(sheet_id: int, rows: Iterable[int]) -> list[dict[str, Any]]:
    """Return ``deleteDimension`` requests for ``rows``, bottom-up, one per run of rows."""
    runs = sorted(_runs(sorted(rows)), reverse=True)
    return [
        {
            "deleteDimension": {
                "range": {
                    "sheetId": sheet_id,
                    "dimension": "ROWS",
                    "startIndex": start,
                    "endIndex": stop,
                }
            }
        }
        for start, stop in runs
    ]


def append_request(sheet_id: int, rows: Sequence[Sequence[Cell]]) -> dict[str, Any]:
    """Return the ``appendCells`` request adding ``rows`` after the last row with data."""
    return {
        "appendCells": {
            "sheetId": sheet_id,
            "rows": [{"values": [cell_data(cell) for cell in row]} for row in rows],
            "fields": VALUE_FIELDS,
        }
    }


def _runs(indexes: Sequence[int]) -> list[tuple[int, int]]:
    """Return sorted ``indexes`` as ``[start, stop)`` runs of consecutive numbers."""
    runs: list[tuple[int, int]] = []
    for index in indexes:
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0], index + 1)
        else:
            runs.append((index, index + 1))
    return runs
