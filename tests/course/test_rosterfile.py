"""Reading a registrar/LMS roster export: every row is taken or reported, never lost."""

from __future__ import annotations

import unicodedata

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from courseadmin.course.rosterfile import (
    RosterFileError,
    RosterRow,
    RowProblem,
    is_email_address,
    read_roster,
)
from tests.course.conftest import HEADER, student_row

SECTIONS = {"S01", "S02"}


def test_rows_are_read_with_their_line_numbers(write_roster):
    path = write_roster([student_row("ab1"), "", student_row("cd2", "S02", "")])

    export = read_roster(path, SECTIONS)

    assert export.rows == [
        RosterRow(2, "ab1", "Student AB1", "ab1@example.edu", "S01", "gh-ab1"),
        RosterRow(4, "cd2", "Student CD2", "cd2@example.edu", "S02", ""),
    ]
    assert export.problems == []
    assert export.mentioned_netids == {"ab1", "cd2"}


@pytest.mark.parametrize(("bom", "eol"), [(True, "\r\n"), (True, "\n"), (False, "\r\n")])
def test_a_byte_order_mark_and_crlf_line_ends_are_read_like_plain_utf8(write_roster, bom, eol):
    path = write_roster([student_row("ab1"), student_row("cd2")], bom=bom, eol=eol)

    export = read_roster(path, SECTIONS)

    assert [(row.line, row.netid, row.github) for row in export.rows] == [
        (2, "ab1", "gh-ab1"),
        (3, "cd2", "gh-cd2"),
    ]
    assert export.problems == []


def test_unicode_names_are_kept_and_normalized_to_nfc(write_roster):
    decomposed = unicodedata.normalize("NFD", "Zoë Ångström-Łukasiewicz")
    path = write_roster(
        [
            f"ab1,{decomposed},ab1@example.edu,S01,zoe",
            'cd2,"田中 さゆり",cd2@example.edu,S01,sayuri',
            'ef3,"O\'Brien, Siobhán  ",ef3@example.edu,S01,',
        ],
        bom=True,
        eol="\r\n",
    )

    names = [row.name for row in read_roster(path, SECTIONS).rows]

    assert names == ["Zoë Ångström-Łukasiewicz", "田中 さゆり", "O'Brien, Siobhán"]
    assert names[0] == unicodedata.normalize("NFC", names[0])


def test_header_names_are_matched_loosely_and_other_columns_are_ignored(write_roster):
    """Without a github column usernames are None (not ""): the import leaves them alone."""
    path = write_roster(
        ["UG,S01,Ab1 ,Ann Lee,ann@example.edu,3"],
        header="Level, Section ,net_id,NAME,E mail,Credits",
    )
    export = read_roster(path, SECTIONS)

    assert export.rows == [RosterRow(2, "ab1", "Ann Lee", "ann@example.edu", "S01", None)]


def test_every_malformed_row_is_reported_with_its_line_and_reason(write_roster):
    path = write_roster(
        [
            student_row("ok1"),
            "ab2,Ann,ab2@example.edu,S01",
            "ab3,Ann,ab3@example.edu,S01,gh,extra",
            ",No NetID,x@example.edu,S01,gh",
            "ab 5,Bad NetID,ab5@example.edu,S01,gh",
            "ab6,,ab6@example.edu,S01,gh",
            "ab7,Bad Mail,ab7(at)example.edu,S01,gh",
            "ab8,Lost,ab8@example.edu,S09,gh",
            "ab9,Long," + "x" * 250 + "@example.edu,S01," + "g" * 101,
            "ab10,Nul\x00Byte,ab10@example.edu,S01,gh\x07",
        ]
    )

    export = read_roster(path, SECTIONS)

    assert [row.netid for row in export.rows] == ["ok1"]
    assert [str(problem) for problem in export.problems] == [
        "line 3: expected 5 fields, found 4",
        "line 4: expected 5 fields, found 6",
        "line 5: the NetID is empty",
        "line 6: NetID 'ab 5' has characters other than letters, digits, '.', '_' and '-'",
        "line 7: the name is empty",
        "line 8: 'ab7(at)example.edu' is not an email address",
        "line 9: section 'S09' is not a section of the course (known: S01, S02)",
        "line 10: the email is longer than 254 characters; "
        "the github is longer than 100 characters",
        "line 11: the name has a control character; the github has a control character",
    ]
    assert export.mentioned_netids == {
        *("ok1", "ab2", "ab3", "ab 5", "ab6", "ab7", "ab8", "ab9", "ab10")
    }


def test_every_row_of_a_duplicated_netid_is_a_problem(write_roster):
    path = write_roster(
        [
            student_row("ab1"),
            student_row("dup"),
            student_row("cd2"),
            student_row("DUP", "S02"),
            "dup,Broken,dup@example.edu",
        ]
    )

    export = read_roster(path, SECTIONS)

    assert [row.netid for row in export.rows] == ["ab1", "cd2"]
    assert export.problems == [
        RowProblem(3, "NetID 'dup' appears on more than one line (3, 5, 6)"),
        RowProblem(5, "NetID 'dup' appears on more than one line (3, 5, 6)"),
        RowProblem(6, "expected 5 fields, found 3"),
    ]


def test_line_numbers_count_physical_lines_when_a_quoted_field_spans_lines(write_roster):
    path = write_roster(['ab1,"Ann\nLee",ab1@example.edu,S01,gh', "cd2,Cy,bad,S01,gh"])

    export = read_roster(path, SECTIONS)

    assert export.rows[0].name == "Ann Lee"
    assert export.problems == [RowProblem(4, "'bad' is not an email address")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty: expected a header row and students"),
        (b"\xef\xbb\xbf\r\n\r\n", "is empty: expected a header row and students"),
        (b"netid,name\r\n", r"the header lacks email, section \(found: netid, name;"),
        (b"netid,name,email,section,NetID\n", "the header names column 'netid' twice"),
        (
            HEADER.encode() + b"\nab1,Jos\xe9,ab1@example.edu,S01,gh\n",
            "is not UTF-8 text: line 2 has a byte that is not valid UTF-8",
        ),
    ],
)
def test_a_file_that_is_no_roster_at_all_raises_naming_the_file(tmp_path, content, message):
    path = tmp_path / "export.csv"
    path.write_bytes(content)

    with pytest.raises(RosterFileError, match=message) as raised:
        read_roster(path, SECTIONS)

    assert str(path) in str(raised.value)


def test_a_missing_file_raises_naming_it(tmp_path):
    with pytest.raises(RosterFileError, match=r"cannot read roster .*nope\.csv: No such file"):
        read_roster(tmp_path / "nope.csv", SECTIONS)


def test_a_header_only_roster_has_no_rows(write_roster):
    export = read_roster(write_roster([]), SECTIONS)

    assert (export.rows, export.problems, export.mentioned_netids) == ([], [], set())


# Addresses as rosters carry them and as they go wrong, near each of Django's rules (its
# verdict is the reference: a quoted part with a space, or a trailing dot, it refuses).
EMAIL_CORPUS = [
    "ab1@example.edu",
    "First.Last+tag@Students.Example.EDU",
    "o'brien@example.edu",
    "x@localhost",  # Django's allowlisted domain
    "user@[127.0.0.1]",
    "user@[IPv6:2001:db8::1]",
    "user@[2001:db8::1]",
    '"quoted name"@example.edu',
    '"a\\"b"@example.edu',
    "user@xn--bcher-kva.example",
    "user@bücher.example",
    "a@" + "d" * 63 + ".edu",
    "a" * 64 + "@example.edu",
    "user@example.edu.",
    "!#$%&'*+/=?^_`{}|~-@example.edu",
    "",
    "not-an-email",
    "@example.edu",
    "ab1@",
    "ab1@@example.edu",
    "a@b@example.edu",
    "ab 1@example.edu",
    "ab1@exa mple.edu",
    ".ab1@example.edu",
    "ab1.@example.edu",
    "a..b@example.edu",
    "ab1@example",
    "ab1@-example.edu",
    "ab1@example-.edu",
    "ab1@" + "d" * 64 + ".edu",
    "ab1@example.e",
    "ab1@example.123",
    "ab1@[999.1.1.1]",
    "ab1@[not-an-ip]",
    "ab1@localhost.",
    "a" * 310 + "@example.edu",  # over 320 characters
    "ab1@example.edu\n",
    "zoë@example.edu",
    '"unclosed@example.edu',
]


def test_the_email_check_accepts_exactly_what_djangos_validator_accepts():
    """The roster's cheaper check, held to Django's own on good and bad addresses."""

    def django_accepts(value: str) -> bool:
        try:
            validate_email(value)
        except ValidationError:
            return False
        return True

    verdicts = {value: is_email_address(value) for value in EMAIL_CORPUS}

    assert verdicts == {value: django_accepts(value) for value in EMAIL_CORPUS}
    assert 10 < sum(verdicts.values()) < len(EMAIL_CORPUS) - 10  # both kinds, many of each
