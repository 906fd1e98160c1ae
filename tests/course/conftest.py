"""Helpers for the example course's tests: sections, roster files and recorded runs."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from adminflow.models import FlowRun
from adminflow.registry import flow_registry
from adminflow.runs import execute_run, start_run
from adminflow.states import Trigger
from courseadmin.course.models import Section, Student
from tests.factories import SectionFactory

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "courseadmin" / "course" / "demo"
HEADER = "NetID,Name,Email,Section,GitHub"
STAFF = ["head-ta@example.edu", "instructor@example.edu"]


@pytest.fixture
def sections(db: None) -> dict[str, Section]:
    return {code: SectionFactory(code=code) for code in ("S01", "S02", "S03")}


@pytest.fixture
def staff_emails(settings: Any) -> list[str]:
    settings.COURSE_STAFF_EMAILS = STAFF
    return STAFF


@pytest.fixture
def write_roster(tmp_path: Path) -> Callable[..., Path]:
    """Return a function writing a roster CSV: ``write_roster(rows, header=..., bom=..., eol=...)``."""
    count = 0

    def write(
        rows: Sequence[str],
        *,
        header: str | None = HEADER,
        bom: bool = False,
        eol: str = "\n",
        name: str | None = None,
    ) -> Path:
        nonlocal count
        count += 1
        lines = ([header] if header is not None else []) + list(rows)
        text = "".join(line + eol for line in lines)
        path = tmp_path / (name or f"roster-{count}.csv")
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
        return path

    return write


def student_row(netid: str, section: str = "S01", github: str | None = None, name: str = "") -> str:
    """Return one roster line for ``netid``; the GitHub username defaults to a valid one."""
    name = name or f"Student {netid.upper()}"
    return f"{netid},{name},{netid}@example.edu,{section},{github if github is not None else 'gh-' + netid}"


def sync_config(path: Path | str, **sections: Mapping[str, Any]) -> dict[str, Any]:
    """Return roster-sync's default config reading ``path``, with ``sections`` merged in."""
    config = copy.deepcopy(flow_registry["roster-sync"].default_config)
    config["import-roster"]["path"] = str(path)
    for name, values in sections.items():
        name = name.replace("_", "-")
        if isinstance(values, Mapping):
            config[name] = {**config.get(name, {}), **values}
        else:
            config[name] = values
    return config


def run(flow: str, config: Mapping[str, Any] | None = None, **options: Any) -> FlowRun:
    """Run ``flow`` the way ``runflow`` does (queued, then executed here) and return the run."""
    return execute_run(start_run(flow, trigger=Trigger.COMMAND, config=config, **options))


def students() -> dict[str, Student]:
    """Return every stored student by NetID, read fresh from the database."""
    return {s.netid: s for s in Student.objects.select_related("section")}


def table(
    fields: Sequence[str] = ("status", "group_code", "github_username_valid"),
) -> dict[str, tuple[Any, ...]]:
    """Return the stored students as {netid: (field values...)}, for exact comparisons."""
    return {row[0]: tuple(row[1:]) for row in Student.objects.values_list("netid", *fields)}
