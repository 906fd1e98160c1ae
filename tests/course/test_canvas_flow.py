"""The example site's ``canvas-roster-sync``: disabled until configured, end to end, planned.

It runs here the way the site runs it (``start_run`` then ``execute_run``,
recorded in the database, the ``Roster`` storer writing each student) against
the suite's fake Canvas (``fake_canvas``, tests/conftest.py).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from adminflow.models import Flow, FlowRun, StepRun
from adminflow.runs import (
    FlowDisabled,
    apply_plan,
    approve_plan,
    execute_run,
    plan_run,
    resume_apply,
)
from adminflow.states import Trigger
from courseadmin.course.canvas_steps import PostCheckInGrades
from courseadmin.course.models import Group, Section, Student
from tests.course.conftest import run, students
from tests.fake_canvas import COURSE_ID, TOKEN, FakeCanvas

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

QUESTION = 77


def canvas_config(fake: FakeCanvas, quiz: int, assignment: int) -> dict[str, Any]:
    """Return a stored config of canvas-roster-sync for the fake, retries quick."""
    canvas = {"base_url": fake.url, "token": TOKEN, "course_id": COURSE_ID}
    steps = (
        "import-roster",
        "quiz-usernames",
        "canvas-groups",
        "remind-on-canvas",
        "check-in-grades",
    )
    config: dict[str, Any] = {
        "num_threads": 4,
        "roster": {},
        **{step: dict(canvas) for step in steps},
        **{f"{s}-retry": {"backoff": 0.05, "max_backoff": 0.2, "jitter": False} for s in steps},
        "check-usernames": {},
        "assign-groups": {"group_size": 3, "seed": 7},
    }
    config["quiz-usernames"]["quiz_id"] = quiz
    config["quiz-usernames"]["question_id"] = QUESTION
    config["canvas-groups"]["category"] = "Project groups"
    config["remind-on-canvas"].update(
        name="username-reminder",
        subject="Your GitHub username",
        body="Hello {name}, please answer the GitHub username quiz.",
        repeat_hours=72.0,
    )
    config["check-in-grades"].update(assignment_id=assignment, poll_interval=0.01)
    return config


def enable_canvas_roster_sync(fake: FakeCanvas, **config: Any) -> tuple[dict[str, int], int]:
    """Enrol st0..st5 (st5 never answers the quiz), enable the flow with ``config`` merged in.

    Return the students' Canvas ids by netid and the check-in assignment's id.
    """
    s01, s02 = fake.add_section("S01"), fake.add_section("S02")
    ids = {
        f"st{n}": fake.enroll(f"st{n}", f"Student {n}", s01 if n < 4 else s02, f"SIS{n}")
        for n in range(6)
    }
    quiz = fake.add_quiz("GitHub username")
    for n in range(5):
        fake.answer_quiz(quiz, ids[f"st{n}"], {QUESTION: f"gh-st{n}"})
    assignment = fake.add_assignment("Week 1 check-in")
    Flow.objects.filter(name="canvas-roster-sync").update(
        enabled=True, config={**canvas_config(fake, quiz, assignment), **config}
    )
    return ids, assignment


def test_canvas_roster_sync_is_listed_disabled_and_refused():
    row = Flow.objects.get(name="canvas-roster-sync")

    assert row.enabled is False
    with pytest.raises(FlowDisabled, match="flow 'canvas-roster-sync' is disabled"):
        run("canvas-roster-sync")


def test_canvas_roster_sync_runs_end_to_end_and_a_rerun_changes_nothing(
    fake_canvas: FakeCanvas, sections: dict[str, Section]
):
    lab = fake_canvas.add_section("Lab Z")  # not a section of the course: left out, reported
    stray = fake_canvas.enroll("zz9", "Zed Zee", lab)
    ids, assignment = enable_canvas_roster_sync(fake_canvas)

    finished = run("canvas-roster-sync")

    assert finished.status == "succeeded", finished.error
    stored = students()
    assert sorted(stored) == [f"st{n}" for n in range(6)]
    assert stored["st4"].section.code == "S02"
    assert stored["st4"].sis_user_id == "SIS4"
    assert stored["st2"].github_username == "gh-st2"
    assert finished.metadata["roster_malformed"] == [
        "zz9: section 'Lab Z' is not a section of the course (known: S01, S02, S03)"
    ]
    assert stray not in {s.canvas_user_id for s in stored.values()}
    groups = fake_canvas.group_members("Project groups")
    assert set(groups) == set(Group.objects.values_list("code", flat=True))
    assert {s.canvas_group for s in stored.values()} == set(groups)
    assert fake_canvas.grades[assignment] == {
        **{ids[f"st{n}"]: "complete" for n in range(5)},
        ids["st5"]: "incomplete",
    }
    reminded = [c["audience"] for c in fake_canvas.conversations]
    assert reminded == [[ids["st5"]]]
    assert "username-reminder" in stored["st5"].canvas_messages
    steps = dict(StepRun.objects.filter(run=finished).values_list("name", "status"))
    assert set(steps.values()) == {"succeeded"}

    fake_canvas.reset_counts()
    again = run("canvas-roster-sync")

    assert again.status == "succeeded", again.error
    assert fake_canvas.writes == 0
    assert Student.objects.filter(status="dropped").count() == 0


def planned_sync() -> FlowRun:
    planned = execute_run(plan_run("canvas-roster-sync", trigger=Trigger.COMMAND))
    assert planned.status == "planned", planned.error
    return planned


def grade_posts(fake: FakeCanvas) -> list[str]:
    return [p for m, p, _s in fake.requests if m == "POST" and p.endswith("/update_grades")]


def test_planning_canvas_roster_sync_changes_nothing_in_canvas_and_plans_each_student(
    fake_canvas: FakeCanvas, sections: dict[str, Section]
):
    _ids, assignment = enable_canvas_roster_sync(fake_canvas)

    planned = planned_sync()

    assert fake_canvas.writes == 0
    assert (fake_canvas.grades, fake_canvas.conversations) == ({}, [])
    assert fake_canvas.group_members("Project groups") == {}
    intents = planned.plan.intents
    assert Counter(intents.values_list("step", flat=True)) == {
        "canvas-groups": 6,
        "remind-on-canvas": 1,
        "check-in-grades": 6,
    }
    grades = dict(intents.filter(step="check-in-grades").values_list("key", "line"))
    assert grades == {
        **{f"st{n}": f"post grade complete for st{n} to assignment {assignment}" for n in range(5)},
        "st5": f"post grade incomplete for st5 to assignment {assignment}",
    }
    assert intents.get(step="remind-on-canvas").key == "st5"
    assert students() == {}  # a plan stores nothing


def test_an_approved_plan_without_one_grade_posts_exactly_the_others_in_one_bulk_request(
    fake_canvas: FakeCanvas, sections: dict[str, Section]
):
    ids, assignment = enable_canvas_roster_sync(fake_canvas)
    planned = planned_sync()
    left_out = planned.plan.intents.get(step="check-in-grades", key="st3")
    approve_plan(planned, None, deselected_intents=[left_out.pk])
    fake_canvas.reset_counts()

    applied = execute_run(apply_plan(planned, None))

    assert applied.status == "succeeded", applied.error
    assert len(grade_posts(fake_canvas)) == 1
    posted = {n: ids[n] for n in ("st0", "st1", "st2", "st4", "st5")}
    assert fake_canvas.grades[assignment] == {
        **{user: "complete" for n, user in posted.items() if n != "st5"},
        ids["st5"]: "incomplete",
    }
    outcomes = planned.plan.intents.filter(step="check-in-grades").values_list("key", "outcome")
    assert dict(outcomes) == {**dict.fromkeys(posted, "done"), "st3": "pending"}
    stored = students()
    assert stored["st0"].canvas_grades == {str(assignment): "complete"}
    assert "st3" not in stored  # leaving its intent out left its record out


def test_a_resumed_apply_posts_only_the_grades_a_failed_bulk_request_left_out(
    fake_canvas: FakeCanvas, sections: dict[str, Section], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(PostCheckInGrades, "batch_size", 4)
    ids, assignment = enable_canvas_roster_sync(
        fake_canvas, **{"check-in-grades-retry": {"max_attempts": 1}}
    )
    planned = planned_sync()
    approve_plan(planned, None)
    fake_canvas.fail_write("/update_grades", nth=2, status=503)

    failed = execute_run(apply_plan(planned, None))

    assert failed.status == "failed"
    assert len(grade_posts(fake_canvas)) == 2
    assert sorted(fake_canvas.grades[assignment]) == sorted(ids[f"st{n}"] for n in range(4))
    grades = planned.plan.intents.filter(step="check-in-grades")
    assert Counter(grades.values_list("outcome", flat=True)) == {"done": 4, "failed": 2}
    fake_canvas.reset_counts()

    resumed = execute_run(resume_apply(failed))

    assert resumed.status == "succeeded", resumed.error
    assert fake_canvas.writes == 1  # one bulk request: st4 and st5, nothing else again
    last = max(fake_canvas.progress.values(), key=lambda p: p.id)
    assert last.grades == {ids["st4"]: "complete", ids["st5"]: "incomplete"}
    assert set(planned.plan.intents.values_list("outcome", flat=True)) == {"done"}
    assert {s.canvas_grades[str(assignment)] for s in students().values()} == {
        "complete",
        "incomplete",
    }
