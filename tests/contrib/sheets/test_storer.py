"""The SpreadsheetStorer against the fake Sheets API: typed loads, stores by difference."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from adminflow.contrib.sheets import SheetRecordsError

from .conftest import HEADER, CourseSheet, QuickSheet, Status, StudentRecord, row_of, student


def loaded_storer(sheet: CourseSheet) -> tuple[QuickSheet[StudentRecord], list[StudentRecord]]:
    """Return a storer that has loaded the worksheet, and what it loaded; counts reset."""
    storer = QuickSheet[StudentRecord](sheet.config)
    records = storer.get_records(print)
    sheet.fake.reset_counts()
    return storer, records


def test_typed_records_round_trip_and_a_load_is_one_read(sheet: CourseSheet) -> None:
    records = [
        student(1, joined=date(2025, 9, 2), grade=91.5),
        student(2, enrolled=False, status=Status.DROPPED),
        student(3),
    ]
    sheet.fill(records)
    storer = QuickSheet[StudentRecord](sheet.config)

    loaded = storer.get_records(print)

    assert loaded == records
    fake = sheet.fake
    print(f"\nload: {fake.token_requests} token request, {fake.reads} read, {fake.writes} writes")
    assert (fake.token_requests, fake.reads, fake.writes) == (1, 1, 0)
    fake.reset_counts()
    storer.set_records(loaded, print)
    assert (fake.reads, fake.writes) == (0, 0)  # nothing changed: not even a read


def test_cells_typed_by_hand_are_read_as_their_fields_types(sheet: CourseSheet) -> None:
    sheet.fill([])
    # A date cell (serial 45902), numbers and booleans typed as text, an empty optional.
    sheet.fake.set_row(
        sheet.spreadsheet_id, "roster", 1, [123, "Ann", "2", "true", 45902, "active"]
    )

    (record,) = QuickSheet[StudentRecord](sheet.config).get_records(print)

    assert record == StudentRecord("123", "Ann", 2, True, date(2025, 9, 2), Status.ACTIVE, None)


def test_cells_that_cannot_be_read_are_named_by_row_column_and_type(sheet: CourseSheet) -> None:
    sheet.fill([student(1), student(2)])
    sheet.fake.set_row(sheet.spreadsheet_id, "roster", 2, ["s002", "Bo", "two", True, "", "gone"])

    with pytest.raises(SheetRecordsError) as refused:
        QuickSheet[StudentRecord](sheet.config).get_records(print)

    message = str(refused.value)
    assert "its rows cannot be read as StudentRecord records (2 problems): C3" in message
    assert "C3 (row 3, column 'section'): str 'two', expected int" in message
    assert "F3 (row 3, column 'status'): str 'gone', expected one of Status's values" in message


def test_rows_without_a_key_or_repeating_one_are_refused_naming_the_rows(
    sheet: CourseSheet,
) -> None:
    sheet.fill([student(1), student(2), student(1, name="Again")])
    sheet.fake.set_row(sheet.spreadsheet_id, "roster", 4, ["", "Nobody", 1])

    with pytest.raises(SheetRecordsError) as refused:
        QuickSheet[StudentRecord](sheet.config).get_records(print)

    assert "row 4 repeats the key 's001' of row 2; row 5 has no netid" in str(refused.value)


def test_a_store_that_changes_3_cells_is_one_write_of_those_cells(sheet: CourseSheet) -> None:
    sheet.fill([student(n) for n in range(1, 11)])
    storer, records = loaded_storer(sheet)
    records[2].grade = 75.0
    records[2].status = Status.DROPPED  # beside grade: one updateCells of two cells
    records[7].name = "Renamed"

    storer.set_records(records, print)

    fake = sheet.fake
    print(f"\nstore of 3 changed cells: {fake.reads} read, {fake.writes} write")
    assert (fake.reads, fake.writes) == (1, 1)
    (batch,) = fake.batches
    assert [list(request) for request in batch] == [["updateCells"], ["updateCells"]]
    rows = sheet.rows()
    assert rows[3][5:] == ["dropped", 75.0]
    assert rows[8][1] == "Renamed"
    assert storer.last_store_counts.cells == 3
    assert [row[:2] for row in rows[1:]] == [row_of(r)[:2] for r in records]


def test_added_and_removed_records_are_appended_and_deleted_in_the_same_write(
    sheet: CourseSheet,
) -> None:
    sheet.fill([student(n) for n in range(1, 7)])
    storer, records = loaded_storer(sheet)
    kept = [records[0], records[3], records[5]]  # rows 3, 4 and 6 go: two runs of rows
    kept[1].grade = 60.0
    new = [student(7, joined=date(2025, 10, 1)), student(8)]

    storer.set_records([*kept, *new], print)

    assert sheet.fake.writes == 1
    kinds = [next(iter(request)) for request in sheet.fake.batches[0]]
    assert kinds == ["updateCells", "deleteDimension", "deleteDimension", "appendCells"]
    assert sheet.rows() == [HEADER, *(row_of(r) for r in [*kept, *new])]
    counts = storer.last_store_counts
    assert (counts.added, counts.changed, counts.removed, counts.unchanged) == (2, 1, 3, 2)
    assert QuickSheet[StudentRecord](sheet.config).get_records(print) == [*kept, *new]


def test_an_empty_worksheet_is_no_records_and_the_first_store_writes_the_header(
    sheet: CourseSheet,
) -> None:
    storer, records = loaded_storer(sheet)
    assert records == []

    storer.set_records([student(1), student(2)], print)

    assert sheet.fake.writes == 1
    assert sheet.rows() == [HEADER, row_of(student(1)), row_of(student(2))]


def test_a_row_moved_by_hand_during_the_run_is_found_by_its_key(sheet: CourseSheet) -> None:
    sheet.fill([student(1), student(2), student(3)])
    storer, records = loaded_storer(sheet)
    sheet.fill([student(3), student(1), student(2)])  # a TA sorted the sheet
    records[0].grade = 88.0

    storer.set_records(records, print)

    assert sheet.rows()[2] == row_of(dataclasses.replace(student(1), grade=88.0))
    assert sheet.rows()[1] == row_of(student(3))


def test_a_row_deleted_by_hand_during_the_run_refuses_the_store(sheet: CourseSheet) -> None:
    sheet.fill([student(1), student(2)])
    storer, records = loaded_storer(sheet)
    sheet.fill([student(2)])
    sheet.fake.set_row(sheet.spreadsheet_id, "roster", 2, [])
    before = sheet.rows()
    records[0].grade = 70.0

    with pytest.raises(SheetRecordsError, match="no row holds 's001' any more"):
        storer.set_records(records, print)

    assert sheet.fake.writes == 0
    assert sheet.rows() == before


def test_a_row_added_by_hand_for_a_new_record_refuses_the_store(sheet: CourseSheet) -> None:
    sheet.fill([student(1)])
    storer, records = loaded_storer(sheet)
    sheet.fill([student(1), student(2, name="Typed by a TA")])

    with pytest.raises(
        SheetRecordsError, match="rows were added for 's002', which the run adds too"
    ):
        storer.set_records([*records, student(2)], print)

    assert sheet.fake.writes == 0
    assert sheet.rows()[2][1] == "Typed by a TA"


def test_records_that_cannot_be_rows_are_refused_before_any_request(sheet: CourseSheet) -> None:
    sheet.fill([student(1)])
    storer, records = loaded_storer(sheet)

    with pytest.raises(SheetRecordsError, match="'s001' is in the records more than once"):
        storer.set_records([*records, student(1)], print)
    with pytest.raises(SheetRecordsError, match=r"field 'section' is str '2', expected int"):
        storer.set_records([student(1, section="2")], print)

    assert (sheet.fake.reads, sheet.fake.writes) == (0, 0)
