"""GitHub usernames read from a Canvas quiz's answers or a custom gradebook column."""

from __future__ import annotations

import pytest

from adminflow import RunStatus
from adminflow.contrib.canvas import ReadColumnUsernames, ReadQuizUsernames
from adminflow.contrib.canvas.usernames import clean_username

from .conftest import configured, flow_of, imported_course

QUESTION = 501


def test_the_newest_answer_to_the_quiz_question_is_each_students_username(fake_canvas):
    course = imported_course(fake_canvas, 130)
    quiz = fake_canvas.add_quiz("Your GitHub account")
    for n, student in enumerate(course.students):
        fake_canvas.answer_quiz(quiz, student.canvas_user_id, {500: "yes", QUESTION: f"gh-{n}"})
    ada, bo = course.students[0], course.students[1]
    fake_canvas.answer_quiz(quiz, ada.canvas_user_id, {QUESTION: " https://github.com/ada-l "})
    fake_canvas.answer_quiz(quiz, bo.canvas_user_id, {QUESTION: "  "})  # blank: kept as it was
    flow = flow_of(course, ("update", "usernames", ReadQuizUsernames))
    flow.config(configured(fake_canvas, {"usernames": {"quiz_id": quiz, "question_id": QUESTION}}))

    result = flow.run()

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert (ada.netid, course.by_netid(ada.netid).github_username) == (ada.netid, "ada-l")
    assert course.by_netid(bo.netid).github_username == "gh-1"
    assert {s.github_username for s in course.students[2:]} == {f"gh-{n}" for n in range(2, 130)}
    assert fake_canvas.writes == 0
    # course, quiz, 2 pages of submissions (with their history)
    assert fake_canvas.reads == 4


def test_usernames_come_from_a_custom_gradebook_column(fake_canvas):
    course = imported_course(fake_canvas, 3)
    entries = {s.canvas_user_id: f"@user{n}" for n, s in enumerate(course.students)}
    fake_canvas.add_column("Notes", {})
    fake_canvas.add_column("GitHub", entries)
    flow = flow_of(course, ("update", "usernames", ReadColumnUsernames))
    flow.config(configured(fake_canvas, {"usernames": {"column": "github"}}))

    result = flow.run()

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert [s.github_username for s in course.students] == ["user0", "user1", "user2"]


@pytest.mark.parametrize(
    ("step", "own", "message"),
    [
        (ReadQuizUsernames, {"quiz_id": 999}, "quiz_id: Canvas has no quiz 999"),
        (
            ReadColumnUsernames,
            {"column": "GitHub"},
            "column: course 4242 has no custom gradebook column 'GitHub' (found: 'Notes')",
        ),
    ],
)
def test_a_missing_quiz_or_column_fails_the_step_naming_the_key(fake_canvas, step, own, message):
    course = imported_course(fake_canvas, 2)
    fake_canvas.add_column("Notes", {})
    flow = flow_of(course, ("update", "usernames", step))
    flow.config(configured(fake_canvas, {"usernames": own}))

    result = flow.run()

    assert result.status is RunStatus.FAILED
    assert message in result.steps["usernames"].error
    assert {s.github_username for s in course.students} == {""}


@pytest.mark.parametrize(
    ("answer", "username"),
    [
        ("octocat", "octocat"),
        ("@octocat", "octocat"),
        ("<p>octo-cat</p>", "octo-cat"),
        ("https://github.com/octocat/", "octocat"),
        ("", ""),
    ],
)
def test_answers_are_cleaned_of_what_students_paste(answer, username):
    assert clean_username(answer) == username
