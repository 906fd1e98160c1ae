"""Fixtures of the Google Sheets storer's tests: a fake Sheets API on 127.0.0.1, a service
account that may sign in at it, and a spreadsheet shared with that account.

gspread talks to the fake over real HTTP: the key's ``token_uri`` is the
fake's token endpoint and the storer's ``api_url`` is the fake's address.
Quota waits are short here (10 ms) so the suite stays quick; the code paths
are those of a real run.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import pytest

from adminflow import RetryPolicy
from adminflow.contrib.sheets import SpreadsheetStorer
from tests.fake_sheets import FakeSheets

ACCOUNT = "roster-bot@course-admin.iam.gserviceaccount.com"
TAB = "roster"
HEADER = ["netid", "name", "section", "enrolled", "joined", "status", "grade"]

R = TypeVar("R")


class Status(enum.Enum):
    ACTIVE = "active"
    DROPPED = "dropped"


@dataclass
class StudentRecord:
    """A course's student, as a flow keeps it in the roster worksheet."""

    netid: str
    name: str
    section: int
    enrolled: bool = True
    joined: date | None = None
    status: Status = Status.ACTIVE
    grade: float | None = None


def student(n: int, **changes: Any) -> StudentRecord:
    values = {"netid": f"s{n:03d}", "name": f"Student {n}", "section": 1 + n % 3}
    return StudentRecord(**{**values, **changes})


def row_of(record: StudentRecord) -> list[Any]:
    """Return the row a person would type for ``record`` (a date as text, None as empty),
    without trailing empty cells, as :meth:`FakeSheets.values` shows rows."""
    joined = record.joined.isoformat() if record.joined else None
    row = [
        record.netid,
        record.name,
        record.section,
        record.enrolled,
        joined,
        record.status.value,
        record.grade,
    ]
    while row[-1] is None:
        row.pop()
    return row


class QuickSheet(SpreadsheetStorer[R]):
    """The storer with quota waits of 10 ms, so that backoff tests take no time."""

    retry = RetryPolicy(max_attempts=3, backoff=0.01, max_backoff=0.01, jitter=False)


@dataclass
class CourseSheet:
    """The fake, a spreadsheet shared with ACCOUNT, and the storer config that reaches it."""

    fake: FakeSheets
    spreadsheet_id: str
    key: dict[str, str]

    @property
    def config(self) -> dict[str, Any]:
        return {
            "sheet_id": self.spreadsheet_id,
            "tab": TAB,
            "credentials": json.dumps(self.key),
            "api_url": self.fake.url,
        }

    def fill(self, records: list[StudentRecord]) -> None:
        """Write the header and ``records`` into the worksheet by hand."""
        for index, row in enumerate([HEADER, *map(row_of, records)]):
            self.fake.set_row(self.spreadsheet_id, TAB, index, row)

    def rows(self) -> list[list[Any]]:
        return self.fake.values(self.spreadsheet_id, TAB)


@pytest.fixture(scope="session")
def fake_sheets() -> Iterator[FakeSheets]:
    """One fake Sheets API for the session; each test gets a spreadsheet of its own."""
    fake = FakeSheets().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def account_key(fake_sheets: FakeSheets) -> dict[str, str]:
    return fake_sheets.add_account(ACCOUNT)


@pytest.fixture
def sheet(fake_sheets: FakeSheets, account_key: dict[str, str]) -> CourseSheet:
    """A spreadsheet with an empty TAB worksheet and a 'notes' one, shared with ACCOUNT."""
    spreadsheet = fake_sheets.add_spreadsheet("CS 101 records", [TAB, "notes"], [ACCOUNT])
    fake_sheets.reset_counts()
    return CourseSheet(fake_sheets, spreadsheet.spreadsheet_id, account_key)
