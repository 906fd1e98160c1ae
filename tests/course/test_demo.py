"""The demo course: its sections, its bundled rosters and its registered flows."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from django.core.management import call_command

from adminflow.checks import check_registered_flows
from adminflow.registry import flow_registry, step_registry
from courseadmin.course.github import is_valid_username
from courseadmin.course.models import Section
from courseadmin.course.rosterfile import read_roster
from tests.course.conftest import DEMO

pytestmark = pytest.mark.django_db

DEMO_SECTIONS = {"S01", "S02", "S03"}


def test_load_demo_creates_the_sections_and_can_run_again():
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    Section.objects.filter(code="S02").update(title="changed")
    call_command("load_demo", stdout=io.StringIO())

    assert list(Section.objects.values_list("code", "title")) == [
        ("S01", "Mon/Wed 09:00, Gates 104"),
        ("S02", "Tue/Thu 13:00, Gates 220"),
        ("S03", "Fri 10:00, online"),
    ]
    assert "python manage.py runflow roster-sync\n" in out.getvalue()


def test_the_week1_roster_has_sixty_students_some_without_a_valid_username():
    export = read_roster(DEMO / "roster-week1.csv", DEMO_SECTIONS)

    assert export.problems == []
    assert Counter(row.section for row in export.rows) == {"S01": 20, "S02": 22, "S03": 18}
    assert sum(1 for row in export.rows if not row.github) == 9
    assert sum(1 for row in export.rows if row.github and not is_valid_username(row.github)) == 5
    assert any(not row.name.isascii() for row in export.rows)
    assert (DEMO / "roster-week1.csv").read_bytes().startswith(b"\xef\xbb\xbfNetID,")


def test_the_week2_roster_adds_drops_fixes_and_has_one_malformed_line():
    week1 = {row.netid: row for row in read_roster(DEMO / "roster-week1.csv", DEMO_SECTIONS).rows}
    week2 = read_roster(DEMO / "roster-week2.csv", DEMO_SECTIONS)
    rows = {row.netid: row for row in week2.rows}

    assert [str(problem) for problem in week2.problems] == ["line 13: expected 6 fields, found 5"]
    assert len(set(rows) - set(week1)) == 5
    assert len(set(week1) - week2.mentioned_netids) == 3
    fixed = [
        netid
        for netid, row in rows.items()
        if netid in week1
        and not is_valid_username(week1[netid].github or "")
        and is_valid_username(row.github or "")
    ]
    assert len(fixed) == 4


def test_the_course_flows_and_steps_are_registered_with_valid_default_configs():
    assert {"roster-sync", "reminders"} <= set(flow_registry)
    assert {
        "ImportRoster",
        "CheckGitHubUsernames",
        "AssignGroups",
        "RemindMissingUsernames",
        "StaffSummary",
    } <= set(step_registry)
    assert list(flow_registry["roster-sync"].steps) == [
        "import-roster",
        "check-usernames",
        "assign-groups",
        "remind-missing-usernames",
        "staff-summary",
    ]
    assert list(flow_registry["reminders"].steps) == [
        "check-usernames",
        "remind-missing-usernames",
    ]
    assert check_registered_flows() == []
