"""ImportRoster inside a recorded roster-sync run: adds, drops, returns, and every refusal."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from adminflow import FlowConfigError
from adminflow.models import FlowRun, RecordChange, RunLog, StepRun
from courseadmin.course.models import Group, Student
from tests.course.conftest import run, student_row, students, sync_config, table
from tests.factories import CourseStudentFactory

pytestmark = pytest.mark.django_db(transaction=True)


def database_state() -> dict[str, Any]:
    """Return everything a roster run could write to, for "nothing changed" assertions."""
    return {
        "students": sorted(Student.objects.values_list()),
        "groups": sorted(Group.objects.values_list()),
        "changes": RecordChange.objects.count(),
    }


def step_error(flow_run: FlowRun, step: str = "import-roster") -> str:
    return StepRun.objects.get(run=flow_run, name=step).error


def error_lines(flow_run: FlowRun) -> list[str]:
    return list(
        RunLog.objects.filter(run=flow_run, level=logging.ERROR).values_list("message", flat=True)
    )


def enrolled(count: int, section: Any) -> list[Student]:
    return CourseStudentFactory.create_batch(count, section=section, group_code="")


def test_a_first_import_adds_every_student_and_audits_each(sections, write_roster, mailoutbox):
    path = write_roster(
        [student_row("ab1"), student_row("cd2", "S02", ""), student_row("ef3", "S02", "-x")]
    )

    flow_run = run("roster-sync", sync_config(path))

    assert flow_run.status == "succeeded"
    assert flow_run.metadata["roster_added"] == ["ab1", "cd2", "ef3"]
    assert table(("section__code", "status", "github_username", "github_username_valid")) == {
        "ab1": ("S01", "enrolled", "gh-ab1", True),
        "cd2": ("S02", "enrolled", "", False),
        "ef3": ("S02", "enrolled", "-x", False),
    }
    changes = RecordChange.objects.filter(run=flow_run)
    assert sorted(changes.values_list("collection", "key", "action")) == [
        ("course.Student", "ab1", "added"),
        ("course.Student", "cd2", "added"),
        ("course.Student", "ef3", "added"),
    ]
    assert sorted(message.to[0] for message in mailoutbox) == ["cd2@example.edu", "ef3@example.edu"]


def test_missing_students_are_dropped_not_deleted_and_come_back_when_listed_again(
    sections, write_roster
):
    enrolled(9, sections["S01"])
    on_roster = [
        student_row(s.netid, "S01", s.github_username, s.name) for s in Student.objects.all()
    ]
    leaver = Student.objects.first()

    first = run("roster-sync", sync_config(write_roster(on_roster[1:])))

    assert first.status == "succeeded"
    assert first.metadata["roster_dropped"] == [leaver.netid]
    assert students()[leaver.netid].status == "dropped"
    assert Student.objects.count() == 9

    second = run("roster-sync", sync_config(write_roster(on_roster)))

    assert second.status == "succeeded"
    assert second.metadata["roster_returned"] == [leaver.netid]
    assert second.metadata["roster_dropped"] == []
    assert students()[leaver.netid].status == "enrolled"
    # Back after the others formed two full groups, the returning student starts a third.
    assert list(
        RecordChange.objects.filter(run=second, key=leaver.netid).values_list("before", "after")
    ) == [
        (
            {"status": "dropped", "group_code": ""},
            {"status": "enrolled", "group_code": "S01-G03"},
        )
    ]


def test_changed_details_are_copied_and_a_roster_without_github_leaves_usernames(
    sections, write_roster
):
    ann = CourseStudentFactory(netid="ab1", name="Ann", section=sections["S01"])
    path = write_roster(["ab1,Ann Lee,ann.lee@example.edu,S02"], header="NetID,Name,Email,Section")

    flow_run = run("roster-sync", sync_config(path))

    assert flow_run.status == "succeeded"
    assert flow_run.metadata["roster_updated"] == ["ab1"]
    stored = students()["ab1"]
    assert (stored.name, stored.email, stored.section.code, stored.github_username) == (
        "Ann Lee",
        "ann.lee@example.edu",
        "S02",
        ann.github_username,
    )


def test_bom_crlf_and_unicode_names_are_stored_as_written(sections, write_roster):
    path = write_roster(
        [
            'ab1,"Ngô, Thị Hằng",ab1@example.edu,S01,hang',
            "cd2,田中 さゆり,cd2@example.edu,S01,sayuri",
        ],
        bom=True,
        eol="\r\n",
    )

    flow_run = run("roster-sync", sync_config(path))

    assert flow_run.status == "succeeded"
    assert table(("name",)) == {"ab1": ("Ngô, Thị Hằng",), "cd2": ("田中 さゆり",)}


def test_a_section_with_one_student_is_imported_and_grouped_alone(sections, write_roster):
    flow_run = run("roster-sync", sync_config(write_roster([student_row("solo", "S03")])))

    assert flow_run.status == "succeeded"
    assert table(("group_code",)) == {"solo": ("S03-G01",)}
    assert list(Group.objects.values_list("code", "section__code")) == [("S03-G01", "S03")]


def test_malformed_rows_fail_the_run_listing_every_line_and_nothing_is_stored(
    sections, write_roster, mailoutbox
):
    """The step's default; roster-sync's stored config skips them instead (next tests)."""
    enrolled(3, sections["S01"])
    before = database_state()
    path = write_roster(
        [
            student_row("new1"),
            "new2,Ann,not-an-email,S01,gh",
            "new3,Cy,cy@example.edu,S07,gh",
            "new4,Short,short@example.edu",
        ]
    )

    flow_run = run(
        "roster-sync",
        sync_config(path, import_roster={"max_drop_share": 1.0, "skip_malformed_rows": False}),
    )

    assert flow_run.status == "failed"
    assert step_error(flow_run) == (
        f"RosterError: {path} has 3 malformed row(s); nothing was imported (fix the export, "
        "or set skip_malformed_rows to import the rest):\n"
        "  line 3: 'not-an-email' is not an email address\n"
        "  line 4: section 'S07' is not a section of the course (known: S01, S02, S03)\n"
        "  line 5: expected 5 fields, found 3"
    )
    took = StepRun.objects.get(run=flow_run, name="import-roster").duration
    assert error_lines(flow_run) == [
        f"{path} line 3: 'not-an-email' is not an email address",
        f"{path} line 4: section 'S07' is not a section of the course (known: S01, S02, S03)",
        f"{path} line 5: expected 5 fields, found 3",
        # The step's failure, its error on one line.
        f"import-roster: failed in {took:.2f}s: "
        + " / ".join(line.strip() for line in step_error(flow_run).splitlines()),
    ]
    assert database_state() == before
    assert mailoutbox == []


def test_duplicate_netids_fail_the_run_and_nothing_is_stored(sections, write_roster, mailoutbox):
    before = database_state()
    path = write_roster([student_row("ab1"), student_row("cd2"), student_row("ab1", "S02")])

    flow_run = run("roster-sync", sync_config(path, import_roster={"skip_malformed_rows": False}))

    assert flow_run.status == "failed"
    assert step_error(flow_run).endswith(
        "  line 2: NetID 'ab1' appears on more than one line (2, 4)\n"
        "  line 4: NetID 'ab1' appears on more than one line (2, 4)"
    )
    assert database_state() == before
    assert mailoutbox == []


def test_skipping_malformed_rows_imports_the_rest_and_never_drops_a_student_on_a_bad_row(
    sections, write_roster, staff_emails, mailoutbox
):
    ann = CourseStudentFactory(netid="ab1", section=sections["S01"])
    twice = CourseStudentFactory(netid="dup", name="Dee", section=sections["S01"])
    path = write_roster(
        [
            "ab1,Ann,broken-email,S01,gh-ab1",
            student_row("cd2"),
            student_row("dup", "S02", name="Dee Two"),
            student_row("dup", "S03", name="Dee Three"),
        ]
    )

    flow_run = run("roster-sync", sync_config(path, import_roster={"skip_malformed_rows": True}))

    assert flow_run.status == "succeeded"
    problems = [
        "line 2: 'broken-email' is not an email address",
        "line 4: NetID 'dup' appears on more than one line (4, 5)",
        "line 5: NetID 'dup' appears on more than one line (4, 5)",
    ]
    assert flow_run.metadata["roster_malformed"] == problems
    assert flow_run.metadata["roster_added"] == ["cd2"]
    assert flow_run.metadata["roster_dropped"] == []
    assert table(("status", "section__code", "name")) == {
        "ab1": ("enrolled", "S01", ann.name),
        "cd2": ("enrolled", "S01", "Student CD2"),
        "dup": ("enrolled", "S01", twice.name),
    }
    assert error_lines(flow_run) == [f"{path} {problem}" for problem in problems]
    (summary,) = mailoutbox
    assert (
        "Roster rows NOT imported (3); fix them at the source:\n"
        + "".join(f"  - {problem}\n" for problem in problems)
    ) in summary.body


def test_an_empty_file_fails_naming_it_and_nothing_is_stored(sections, write_roster):
    enrolled(2, sections["S01"])
    before = database_state()
    path = write_roster([], header=None)

    flow_run = run("roster-sync", sync_config(path))

    assert flow_run.status == "failed"
    assert step_error(flow_run) == (
        f"RosterFileError: roster {path} is empty: expected a header row and students"
    )
    assert database_state() == before


@pytest.mark.parametrize(("max_share", "status"), [(0.2, "failed"), (0.3, "succeeded")])
def test_the_drop_guard_stops_a_roster_that_would_drop_too_many(
    sections, write_roster, mailoutbox, max_share, status
):
    """Dropping 3 of 10 (30%) is refused at the default 20% and allowed at 30%."""
    enrolled(10, sections["S01"])
    leaving = sorted(Student.objects.values_list("netid", flat=True))[:3]
    kept = Student.objects.exclude(netid__in=leaving)
    before = database_state()
    path = write_roster([student_row(s.netid, "S01", s.github_username, s.name) for s in kept])

    flow_run = run("roster-sync", sync_config(path, import_roster={"max_drop_share": max_share}))

    assert flow_run.status == status
    if status == "failed":
        assert step_error(flow_run) == (
            f"RosterError: {path} would drop 3 of 10 enrolled students (30%), more than "
            "max_drop_share 20%; nothing was changed. An empty or cut-off export looks like "
            "this; if the drops are real, raise max_drop_share for one run."
        )
        assert len(error_lines(flow_run)) == 4  # and the step's failure
        assert database_state() == before
        assert mailoutbox == []
    else:
        assert flow_run.metadata["roster_dropped"] == leaving
        assert Student.objects.filter(status="dropped").count() == 3


def test_a_header_only_roster_is_stopped_by_the_drop_guard(sections, write_roster):
    enrolled(4, sections["S02"])
    before = database_state()

    flow_run = run("roster-sync", sync_config(write_roster([])))

    assert flow_run.status == "failed"
    assert "would drop 4 of 4 enrolled students (100%)" in step_error(flow_run)
    assert database_state() == before


def test_a_header_only_roster_for_an_empty_course_changes_nothing(sections, write_roster):
    flow_run = run("roster-sync", sync_config(write_roster([])))

    assert flow_run.status == "succeeded"
    assert RecordChange.objects.count() == 0


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"max_drop_share": 1.5}, "max_drop_share must be between 0 and 1, got 1.5"),
        ({"path": "  "}, "import-roster.path: expected the path of a file, got an empty string"),
        ({"path": "missing.csv"}, r"import-roster.path: no file at 'missing.csv' \(relative to "),
    ],
)
def test_a_bad_import_config_is_refused_before_any_run_is_recorded(
    sections, write_roster, values, problem
):
    with pytest.raises(FlowConfigError, match=problem):
        run("roster-sync", sync_config(write_roster([]), import_roster=values))

    assert FlowRun.objects.count() == 0
