"""The example site's ``canvas-roster-sync``: disabled until configured, then end to end.

It runs here the way the site runs it (``start_run`` then ``execute_run``,
recorded in the database, the ``Roster`` storer writing each student) against
the suite's fake Canvas (``fake_canvas``, tests/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from adminflow.models import Flow, StepRun
from adminflow.runs import FlowDisabled
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


def test_canvas_roster_sync_is_listed_disabled_and_refused():
    row = Flow.objects.get(name="canvas-roster-sync")

    assert row.enabled is False
    with pytest.raises(FlowDisabled, match="flow 'canvas-roster-sync' is disabled"):
        run("canvas-roster-sync")


def test_canvas_roster_sync_runs_end_to_end_and_a_rerun_changes_nothing(
    fake_canvas: FakeCanvas, sections: dict[str, Section]
):
    s01, s02 = fake_canvas.add_section("S01"), fake_canvas.add_section("S02")
    lab = fake_canvas.add_section("Lab Z")  # not a section of the course: left out, reported
    ids = {
        f"st{n}": fake_canvas.enroll(f"st{n}", f"Student {n}", s01 if n < 4 else s02, f"SIS{n}")
        for n in range(6)
    }
    stray = fake_canvas.enroll("zz9", "Zed Zee", lab)
    quiz = fake_canvas.add_quiz("GitHub username")
    for n in range(5):  # st5 never answers
        fake_canvas.answer_quiz(quiz, ids[f"st{n}"], {QUESTION: f"gh-st{n}"})
    assignment = fake_canvas.add_assignment("Week 1 check-in")
    Flow.objects.filter(name="canvas-roster-sync").update(
        enabled=True, config=canvas_config(fake_canvas, quiz, assignment)
    )

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
