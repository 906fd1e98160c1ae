"""Read a registrar/LMS roster export: one CSV file, one student per row.

The format, as registrars and LMSs export it:

- UTF-8, with or without a byte order mark; LF or CRLF line ends; fields
  quoted the usual CSV way (a name may contain commas or quotes).
- A header row naming the columns, in any order and any case; spaces and
  underscores in names are ignored (``NetID``, ``net_id`` and ``Net ID`` are
  one column). Required: ``netid``, ``name``, ``email``, ``section``.
  Optional: ``github`` (the student's GitHub username). Other columns, which
  exports carry plenty of, are ignored.
- Blank lines are ignored.

Every row that cannot be taken as is becomes a :class:`RowProblem` naming
its line and the reason; it is never left out silently. A file that cannot
be read as a roster at all raises :class:`RosterFileError`.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

from django.core.validators import EmailValidator

from .models import Student

REQUIRED_COLUMNS = ("netid", "name", "email", "section")
OPTIONAL_COLUMNS = ("github",)
NETID = re.compile(r"[a-z0-9][a-z0-9._-]*")
# Unicode's control characters (category Cc), a set the standard promises never to change;
# one search per field, where asking unicodedata about each character took a third of the
# time a 20,000-row export took to read.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


_DJANGO_EMAIL = EmailValidator()
# Django's own pattern for the part before the "@", compiled here once: Django keeps it
# behind a lazy object that every use goes through, a third of the check's time.
_EMAIL_USER = re.compile(_DJANGO_EMAIL.user_regex.pattern, _DJANGO_EMAIL.user_regex.flags)


@lru_cache(maxsize=1024)
def _valid_domain(domain: str) -> bool:
    return domain in _DJANGO_EMAIL.domain_allowlist or _DJANGO_EMAIL.validate_domain_part(domain)


def is_email_address(value: str) -> bool:
    """Return whether Django's ``validate_email`` accepts ``value``, by the same rules.

    Its checks in its order, with its own patterns, but each domain judged
    once (a roster has few domains and many rows) and no exception raised
    for each bad address: what made the check most of a 20,000-row import.
    """
    if not value or "@" not in value or len(value) > 320:
        return False
    user, domain = value.rsplit("@", 1)
    return _EMAIL_USER.match(user) is not None and _valid_domain(domain)


class RosterFileError(Exception):
    """Raise when a file cannot be read as a roster at all; the message names the file."""


@dataclass(frozen=True, slots=True)
class RosterRow:
    """One student as the export lists them, cleaned up."""

    line: int
    netid: str
    name: str
    email: str
    section: str
    github: str | None
    """None when the export has no ``github`` column: usernames are then left alone."""


@dataclass(frozen=True)
class RowProblem:
    """A row that was not taken, with the reason."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class RosterExport:
    """What was read from one export: good rows, problem rows, every NetID seen."""

    path: Path
    rows: list[RosterRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    mentioned_netids: set[str] = field(default_factory=set)
    """NetIDs named anywhere in the file, malformed rows included: none of them is a drop."""


def _column_key(header: str) -> str:
    return re.sub(r"[\s_]+", "", header).lower()


def _clean(value: str) -> str:
    """Return a field with surrounding and repeated whitespace removed, in Unicode NFC.

    NFC makes a name exported with combining accents equal to the same name
    typed with precomposed ones, so re-exports do not look like changes.
    """
    return unicodedata.normalize("NFC", " ".join(value.split()))


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RosterFileError(f"cannot read roster {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RosterFileError(
            f"roster {path} is not UTF-8 text: line {line} has a byte that is not "
            f"valid UTF-8 ({exc.reason}); export the roster as UTF-8 CSV"
        ) from None


def _records(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield each CSV record with the line it starts on; quoted fields may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    try:
        for record in reader:
            yield start, record
            start = reader.line_num + 1
    except csv.Error as exc:
        raise RosterFileError(f"roster {path} line {reader.line_num}: {exc}") from None


def _header(path: Path, header: list[str]) -> dict[str, int]:
    """Return the position of each known column; raise if a required one is missing."""
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        key = _column_key(name)
        if key in positions:
            raise RosterFileError(f"roster {path}: the header names column '{key}' twice")
        positions[key] = index
    missing = [column for column in REQUIRED_COLUMNS if column not in positions]
    if missing:
        raise RosterFileError(
            f"roster {path}: the header lacks {', '.join(missing)} "
            f"(found: {', '.join(_clean(h) for h in header) or 'nothing'}; "
            f"expected {', '.join(REQUIRED_COLUMNS)}, optionally {', '.join(OPTIONAL_COLUMNS)})"
        )
    return {k: v for k, v in positions.items() if k in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}


@cache
def _max_length(name: str) -> int:
    return Student._meta.get_field(name).max_length


def _row_problems(row: RosterRow, sections: Collection[str]) -> list[str]:
    reasons = []
    if not row.netid:
        reasons.append("the NetID is empty")
    elif not NETID.fullmatch(row.netid):
        reasons.append(
            f"NetID '{row.netid}' has characters other than letters, digits, '.', '_' and '-'"
        )
    if not row.name:
        reasons.append("the name is empty")
    if not is_email_address(row.email):
        reasons.append(f"'{row.email}' is not an email address")
    if row.section not in sections:
        known = ", ".join(sorted(sections)) or "none yet; create sections first"
        reasons.append(f"section '{row.section}' is not a section of the course (known: {known})")
    # One search over the row first: a control character is rare, so the common row
    # costs one search rather than one per column.
    controlled = CONTROL.search(f"{row.netid}{row.name}{row.email}{row.github or ''}")
    for column, model_field in [
        ("netid", "netid"),
        ("name", "name"),
        ("email", "email"),
        ("github", "github_username"),
    ]:
        value = getattr(row, column) or ""
        if len(value) > _max_length(model_field):
            reasons.append(f"the {column} is longer than {_max_length(model_field)} characters")
        if controlled and CONTROL.search(value):
            # A NUL or other control byte is an export glitch; PostgreSQL refuses NUL outright.
            reasons.append(f"the {column} has a control character")
    return reasons


def read_roster(path: str | Path, sections: Collection[str]) -> RosterExport:
    """Read the export at ``path``; ``sections`` are the section codes rows may name.

    Raise RosterFileError for a file that is unreadable, not UTF-8, empty or
    missing a required column. Duplicate NetIDs make every row carrying the
    NetID a problem, since nothing says which of them is right.
    """
    path = Path(path)
    records = _records(path, _decode(path))
    header = next(((line, r) for line, r in records if any(f.strip() for f in r)), None)
    if header is None:
        raise RosterFileError(f"roster {path} is empty: expected a header row and students")
    columns = _header(path, header[1])
    export = RosterExport(path)
    candidates: list[RosterRow] = []
    lines_by_netid: dict[str, list[int]] = defaultdict(list)
    for line, record in records:
        if not "".join(record).strip():  # blank: every field empty or spaces
            continue
        netid = _clean(record[columns["netid"]]).lower() if columns["netid"] < len(record) else ""
        if netid:
            export.mentioned_netids.add(netid)
            lines_by_netid[netid].append(line)
        if len(record) != len(header[1]):
            export.problems.append(
                RowProblem(line, f"expected {len(header[1])} fields, found {len(record)}")
            )
            continue
        row = RosterRow(
            line=line,
            netid=netid,
            name=_clean(record[columns["name"]]),
            email=_clean(record[columns["email"]]),
            section=_clean(record[columns["section"]]),
            github=_clean(record[columns["github"]]) if "github" in columns else None,
        )
        reasons = _row_problems(row, sections)
        if reasons:
            export.problems.append(RowProblem(line, "; ".join(reasons)))
        else:
            candidates.append(row)
    for row in candidates:
        lines = lines_by_netid[row.netid]
        if len(lines) > 1:
            shown = ", ".join(str(n) for n in lines)
            export.problems.append(
                RowProblem(row.line, f"NetID '{row.netid}' appears on more than one line ({shown})")
            )
        else:
            export.rows.append(row)
    export.problems.sort(key=lambda problem: problem.line)
    return export
