"""CheckGitHubUsernames and AssignGroups, and the groups the storer creates from their codes."""

from __future__ import annotations

from collections import Counter

import pytest

from adminflow import FlowConfigError
from adminflow.models import RecordChange
from courseadmin.course.models import Group, Student
from tests.course.conftest import run, student_row, sync_config, table
from tests.factories import CourseStudentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def roster_rows(**sections: str) -> list[str]:
    """Return a roster line for every stored student, moving those named to new sections."""
    return [
        student_row(s.netid, sections.get(s.netid, s.section.code), s.github_username, s.name)
        for s in Student.objects.select_related("section")
        if s.status == "enrolled"
    ]


def test_validity_is_recorded_for_every_student_and_reported_for_the_enrolled(sections):
    for netid, username in [("ok", "octocat"), ("none", ""), ("bad", "octo--cat")]:
        CourseStudentFactory(netid=netid, github_username=username, github_username_valid=True)
    CourseStudentFactory(netid="gone", github_username="-x", status="dropped")

    flow_run = run("reminders", modes={"remind-missing-usernames": "exclude"})

    assert flow_run.status == "succeeded"
    assert table(("github_username_valid",)) == {
        "ok": (True,),
        "none": (False,),
        "bad": (False,),
        "gone": (False,),
    }
    assert flow_run.metadata["usernames_missing"] == ["none"]
    assert flow_run.metadata["usernames_invalid"] == ["bad"]
    assert sorted(RecordChange.objects.filter(run=flow_run).values_list("key", "after")) == [
        ("bad", {"github_username_valid": False}),
        ("gone", {"github_username_valid": False}),
        ("none", {"github_username_valid": False}),
    ]


def test_a_username_corrected_in_the_admin_becomes_valid_on_the_next_check(sections):
    student = CourseStudentFactory(github_username="octo cat", github_username_valid=False)
    Student.objects.filter(pk=student.pk).update(github_username="octocat")

    run("reminders", modes={"remind-missing-usernames": "exclude"})

    assert Student.objects.get(pk=student.pk).github_username_valid is True


def test_groups_form_within_each_section_and_the_storer_creates_their_rows(sections, write_roster):
    rows = [student_row(f"a{i}", "S01") for i in range(6)]
    rows += [student_row(f"b{i}", "S02") for i in range(3)]

    flow_run = run("roster-sync", sync_config(write_roster(rows), assign_groups={"group_size": 3}))

    assert flow_run.status == "succeeded"
    codes = dict(Student.objects.values_list("netid", "group_code"))
    assert Counter(codes.values()) == {"S01-G01": 3, "S01-G02": 3, "S02-G01": 3}
    assert all(codes[netid].startswith("S01-") for netid in codes if netid.startswith("a"))
    assert flow_run.metadata["groups_formed"] == ["S01-G01", "S01-G02", "S02-G01"]
    assert flow_run.metadata["students_grouped"] == dict(sorted(codes.items()))
    assert list(Group.objects.values_list("code", "section__code")) == [
        ("S01-G01", "S01"),
        ("S01-G02", "S01"),
        ("S02-G01", "S02"),
    ]
    assert sorted(s.netid for s in Group.objects.get(code="S02-G01").members) == ["b0", "b1", "b2"]


def test_the_same_seed_gives_the_same_groups_and_another_seed_other_groups(sections, write_roster):
    path = write_roster([student_row(f"n{i:02d}", "S01") for i in range(12)])

    def groups_with(seed: int) -> dict[str, str]:
        run("roster-sync", sync_config(path, assign_groups={"seed": seed}))
        codes = dict(Student.objects.values_list("netid", "group_code"))
        Student.objects.all().delete()
        Group.objects.all().delete()
        return codes

    first = groups_with(7)

    assert groups_with(7) == first
    assert groups_with(8) != first
    assert Counter(first.values()) == {"S01-G01": 4, "S01-G02": 4, "S01-G03": 4}


def test_grouped_students_keep_their_group_and_newcomers_fill_room_first(sections, write_roster):
    for netid, code in [("a1", "S01-G01"), ("a2", "S01-G01"), ("a3", "S01-G01")]:
        CourseStudentFactory(netid=netid, section=sections["S01"], group_code=code)
    for netid in ("b1", "b2", "b3", "b4"):
        CourseStudentFactory(netid=netid, section=sections["S01"], group_code="S01-G02")
    CourseStudentFactory(
        netid="gone", section=sections["S01"], group_code="S01-G05", status="dropped"
    )
    rows = roster_rows() + [student_row(n, "S01") for n in ("x1", "x2", "x3")]

    flow_run = run(
        "roster-sync", sync_config(write_roster(rows), import_roster={"max_drop_share": 0})
    )

    assert flow_run.status == "succeeded"
    codes = dict(Student.objects.values_list("netid", "group_code"))
    assert {n: codes[n] for n in ("a1", "a2", "a3", "b1", "b2", "b3", "b4", "gone")} == {
        **dict.fromkeys(("a1", "a2", "a3"), "S01-G01"),
        **dict.fromkeys(("b1", "b2", "b3", "b4"), "S01-G02"),
        "gone": "S01-G05",  # kept as history; dropped students are no members
    }
    # One newcomer fills G01's last seat; the other two form G06 (G05 is still carried).
    assert Counter(codes[n] for n in ("x1", "x2", "x3")) == {"S01-G01": 1, "S01-G06": 2}
    assert flow_run.metadata["groups_formed"] == ["S01-G06"]


def test_a_dropped_students_seat_goes_to_a_newcomer_and_a_section_change_regroups(
    sections, write_roster
):
    for netid in ("a1", "a2", "a3", "a4"):
        CourseStudentFactory(netid=netid, section=sections["S01"], group_code="S01-G01")
    for netid in ("b1", "b2"):
        CourseStudentFactory(netid=netid, section=sections["S02"], group_code="S02-G01")
    rows = [row for row in roster_rows(a2="S02") if not row.startswith("a1,")]
    rows.append(student_row("new", "S01"))

    flow_run = run(
        "roster-sync", sync_config(write_roster(rows), import_roster={"max_drop_share": 0.2})
    )

    assert flow_run.status == "succeeded"
    assert table(("status", "section__code", "group_code")) == {
        "a1": ("dropped", "S01", "S01-G01"),
        "a2": ("enrolled", "S02", "S02-G01"),
        "a3": ("enrolled", "S01", "S01-G01"),
        "a4": ("enrolled", "S01", "S01-G01"),
        "b1": ("enrolled", "S02", "S02-G01"),
        "b2": ("enrolled", "S02", "S02-G01"),
        "new": ("enrolled", "S01", "S01-G01"),
    }
    assert flow_run.metadata["groups_formed"] == []


def test_a_storer_in_debug_mode_creates_no_groups(sections, write_roster):
    path = write_roster([student_row("solo", "S02")])

    flow_run = run("roster-sync", sync_config(path), modes={"roster": "debug"})

    assert flow_run.status == "succeeded"
    assert (Student.objects.count(), Group.objects.count()) == (0, 0)
    assert flow_run.logs.filter(message="debug: would create groups S02-G01").exists()


def test_a_group_size_below_one_is_refused(sections):
    with pytest.raises(FlowConfigError, match="group_size must be at least 1, got 0"):
        run("roster-sync", sync_config("roster.csv", assign_groups={"group_size": 0}))
