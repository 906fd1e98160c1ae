"""What the SpreadsheetStorer refuses, and says: an edited header, bad config, quota answers."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from adminflow import AdminFlow, ConfigsError, FlowConfigError
from adminflow.contrib.sheets import (
    HeaderMismatch,
    RecordTypeError,
    SheetsAccessError,
    SheetsConfigError,
    SheetsQuotaExceeded,
    SheetsUnavailable,
    SpreadsheetStorer,
)

from .conftest import ACCOUNT, HEADER, CourseSheet, QuickSheet, StudentRecord, student

EDITS = {
    "missing": (HEADER[:-1], "missing columns: grade"),
    "renamed": (
        [*HEADER[:-1], "Grade", "notes"],
        "missing columns: grade; unexpected columns: Grade, notes",
    ),
    "reordered": (
        ["name", "netid", *HEADER[2:]],
        "columns out of order: name, netid, section, enrolled, joined, status, grade",
    ),
}


@pytest.mark.parametrize("edit", EDITS)
def test_a_header_edited_by_hand_refuses_the_load_naming_the_columns(
    sheet: CourseSheet, edit: str
) -> None:
    header, problem = EDITS[edit]
    sheet.fill([student(1)])
    sheet.fake.set_row(sheet.spreadsheet_id, "roster", 0, header)

    with pytest.raises(HeaderMismatch) as refused:
        QuickSheet[StudentRecord](sheet.config).get_records(print)

    assert f"does not match the fields of StudentRecord: {problem} (expected: netid," in str(
        refused.value
    )


def test_a_header_edited_during_the_run_refuses_the_store_and_nothing_is_written(
    sheet: CourseSheet,
) -> None:
    sheet.fill([student(1), student(2)])
    storer = QuickSheet[StudentRecord](sheet.config)
    records = storer.get_records(print)
    sheet.fake.set_row(sheet.spreadsheet_id, "roster", 0, [*HEADER[:-1], "final grade"])
    before = sheet.rows()
    sheet.fake.reset_counts()
    records[0].grade = 80.0

    with pytest.raises(HeaderMismatch) as refused:
        storer.set_records([*records, student(3)], print)

    assert "was edited since the records were loaded" in str(refused.value)
    assert "missing columns: grade; unexpected columns: final grade" in str(refused.value)
    assert (sheet.fake.reads, sheet.fake.writes) == (1, 0)
    assert sheet.rows() == before


@pytest.mark.parametrize(
    ("credentials", "problem"),
    [
        ({"type": "service_account", "token_uri": "x"}, "has no client_email, private_key"),
        ("not json", "is not JSON"),
        ({"type": "authorized_user"}, "has no client_email, private_key, token_uri"),
    ],
)
def test_a_credential_without_the_keys_it_needs_is_refused_naming_them(
    sheet: CourseSheet, credentials: object, problem: str
) -> None:
    text = credentials if isinstance(credentials, str) else json.dumps(credentials)

    with pytest.raises(ConfigsError) as refused:
        QuickSheet[StudentRecord]({**sheet.config, "credentials": text})

    assert "QuickSheet config: credentials: " in str(refused.value)
    assert problem in str(refused.value)
    assert "PRIVATE KEY" not in str(refused.value)


def test_missing_config_keys_and_an_unknown_key_field_are_named(sheet: CourseSheet) -> None:
    with pytest.raises(ConfigsError) as missing:
        QuickSheet[StudentRecord]({"sheet_id": sheet.spreadsheet_id})
    with pytest.raises(SheetsConfigError, match="key: StudentRecord has no field 'email'"):
        QuickSheet[StudentRecord]({**sheet.config, "key": "email"}).get_records(print)

    assert "QuickSheet.tab: missing" in str(missing.value)
    assert "QuickSheet.credentials: missing" in str(missing.value)


def test_an_unknown_worksheet_or_unshared_spreadsheet_is_refused_naming_what_to_fix(
    sheet: CourseSheet,
) -> None:
    with pytest.raises(
        SheetsAccessError,
        match=f"tab: spreadsheet {sheet.spreadsheet_id} has no worksheet 'Roster'",
    ):
        QuickSheet[StudentRecord]({**sheet.config, "tab": "Roster"}).get_records(print)

    unshared = sheet.fake.add_spreadsheet("private", ["roster"], editors=[])
    with pytest.raises(
        SheetsAccessError, match=f"share the spreadsheet with {ACCOUNT} as an editor"
    ):
        QuickSheet[StudentRecord](
            {**sheet.config, "sheet_id": unshared.spreadsheet_id}
        ).get_records(print)


def test_a_record_type_a_sheet_cannot_hold_is_refused_naming_the_field(sheet: CourseSheet) -> None:
    @dataclass
    class Tagged:
        netid: str
        tags: list[str]

    flow = AdminFlow("tags", "keeps tags in a sheet", SpreadsheetStorer[Tagged], "roster")
    with pytest.raises(FlowConfigError) as refused:
        flow.config({"roster": sheet.config})
    with pytest.raises(RecordTypeError, match="does not know its record type"):
        SpreadsheetStorer(sheet.config).get_records(print)

    assert "roster: Tagged.tags is list[str], which a cell " in str(refused.value)


def test_quota_answers_are_waited_out_for_reads_and_writes(sheet: CourseSheet) -> None:
    sheet.fill([student(1)])
    storer = QuickSheet[StudentRecord](sheet.config)
    sheet.fake.exceed_quota(2, "GET")

    records = storer.get_records(print)

    assert sheet.fake.reads == 3
    sheet.fake.reset_counts()
    sheet.fake.exceed_quota(2, "POST")
    records[0].grade = 50.0
    storer.set_records(records, print)
    assert (sheet.fake.reads, sheet.fake.writes) == (1, 3)
    assert [status for _, _, status in sheet.fake.requests] == [200, 429, 429, 200]
    assert sheet.rows()[1][-1] == 50.0


def test_quota_answers_past_the_last_attempt_fail_the_load(sheet: CourseSheet) -> None:
    sheet.fake.exceed_quota(3, "GET")

    with pytest.raises(SheetsQuotaExceeded) as refused:
        QuickSheet[StudentRecord](sheet.config).get_records(print)

    assert "quota exceeded on a read" in str(refused.value)
    assert "429 RESOURCE_EXHAUSTED" in str(refused.value)
    assert str(refused.value).endswith("(3 attempts)")


def test_a_server_error_is_retried_for_a_read_but_not_for_a_write(sheet: CourseSheet) -> None:
    sheet.fill([student(1)])
    storer = QuickSheet[StudentRecord](sheet.config)
    sheet.fake.fail_next(1, "GET")
    records = storer.get_records(print)
    sheet.fake.fail_next(1, "POST")
    records[0].grade = 50.0

    with pytest.raises(SheetsUnavailable, match="503 UNAVAILABLE"):
        storer.set_records(records, print)

    assert sheet.fake.writes == 1  # the write that failed, not sent again
