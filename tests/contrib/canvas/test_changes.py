"""The propagate steps against the fake Canvas: groups, grades in bulk, messages, and
what every one of them promises: debug sends nothing, a rerun sends nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adminflow import RunStatus
from adminflow.contrib.canvas import MessageStudents, PostGrades, SyncCanvasGroups
from tests.fake_canvas import COURSE_ID, FakeCanvas

from .conftest import Course, LogLines, configured, flow_of, imported_course

STEPS = (
    ("propagate", "groups", SyncCanvasGroups),
    ("propagate", "grades", PostGrades),
    ("propagate", "message", MessageStudents),
)


def propagate(fake: FakeCanvas, course: Course, assignment: int, observers=(), **modes: str):
    flow = flow_of(course, *STEPS)
    own = {
        "groups": {"category": "Project groups"},
        "grades": {"assignment_id": assignment, "completion": "complete", "poll_interval": 0.01},
        "message": {"name": "welcome", "subject": "Welcome", "body": "Hello {name}!"},
    }
    flow.config(configured(fake, own, **modes))
    return flow.run(observers=observers)


def test_groups_grades_and_messages_are_made_once_and_a_rerun_sends_nothing(fake_canvas):
    course = imported_course(fake_canvas, 12)
    assignment = fake_canvas.add_assignment("Check-in")

    result = propagate(fake_canvas, course, assignment)

    assert result.status is RunStatus.SUCCEEDED, result.error
    members = fake_canvas.group_members("Project groups")
    assert sorted(members) == ["G00", "G01", "G02"]
    assert all(len(users) == 4 for users in members.values())
    assert {s.canvas_group for s in course.students} == {"G00", "G01", "G02"}
    assert set(fake_canvas.grades[assignment].values()) == {"complete"}
    assert len(fake_canvas.grades[assignment]) == 12
    assert {s.canvas_grades[str(assignment)] for s in course.students} == {"complete"}
    # One private conversation each; bodies name the student, so one request each.
    assert len(fake_canvas.conversations) == 12
    ada = course.by_netid("s0001")
    sent = [c for c in fake_canvas.conversations if c["audience"] == [ada.canvas_user_id]]
    assert sent[0]["last_message"] == "Hello Student 0001!"
    assert sent[0]["context_code"] == f"course_{COURSE_ID}"

    fake_canvas.reset_counts()
    rerun = propagate(fake_canvas, course, assignment)

    assert rerun.status is RunStatus.SUCCEEDED, rerun.error
    assert (fake_canvas.reads, fake_canvas.writes) == (0, 0)


def test_grades_are_posted_in_bulk_batches_and_each_batch_is_polled_until_done(fake_canvas):
    course = imported_course(fake_canvas, 250)
    assignment = fake_canvas.add_assignment("Check-in")

    result = propagate(fake_canvas, course, assignment, groups="exclude", message="exclude")

    assert result.status is RunStatus.SUCCEEDED, result.error
    posts = [p for m, p, _s in fake_canvas.requests if m == "POST"]
    polls = [p for m, p, _s in fake_canvas.requests if p.startswith("/api/v1/progress/")]
    print(f"\n250 grades: {len(posts)} bulk posts, {len(polls)} progress polls")
    assert len(posts) == 3  # 100, 100, 50
    assert len(polls) == 6  # queued -> running -> completed, per batch
    assert len(fake_canvas.grades[assignment]) == 250


def test_a_failed_grade_job_is_each_students_outcome_and_is_posted_again_next_run(fake_canvas):
    course = imported_course(fake_canvas, 3)
    assignment = fake_canvas.add_assignment("Check-in")
    gone = course.by_netid("s0002")
    fake_canvas.set_state(gone.canvas_user_id, "deleted")  # Canvas's job will not find them

    result = propagate(fake_canvas, course, assignment, groups="exclude", message="exclude")

    assert result.status is RunStatus.SUCCEEDED, result.error
    outcomes = {s.netid: s.canvas_grades[str(assignment)] for s in course.students}
    assert set(outcomes.values()) == {
        f"failed: Canvas's job failed: Couldn't find User(s) with API ids {gone.canvas_user_id}"
    }
    fake_canvas.set_state(gone.canvas_user_id, "active")
    again = propagate(fake_canvas, course, assignment, groups="exclude", message="exclude")
    assert again.status is RunStatus.SUCCEEDED, again.error
    assert len(fake_canvas.grades[assignment]) == 3
    assert {s.canvas_grades[str(assignment)] for s in course.students} == {"complete"}


def test_a_moved_or_dropped_student_changes_group_and_the_old_group_is_left(fake_canvas):
    course = imported_course(fake_canvas, 8)
    assignment = fake_canvas.add_assignment("Check-in")
    propagate(fake_canvas, course, assignment, grades="exclude", message="exclude")
    moved, dropped = course.by_netid("s0000"), course.by_netid("s0005")
    moved.group_code = "G01"
    dropped.status = "dropped"
    fake_canvas.reset_counts()

    result = propagate(fake_canvas, course, assignment, grades="exclude", message="exclude")

    assert result.status is RunStatus.SUCCEEDED, result.error
    members = fake_canvas.group_members("Project groups")
    assert moved.canvas_user_id in members["G01"]
    assert moved.canvas_user_id not in members["G00"]  # Canvas keeps one group per set
    assert dropped.canvas_user_id not in members["G01"]
    assert (course.by_netid("s0000").canvas_group, course.by_netid("s0005").canvas_group) == (
        "G01",
        "",
    )
    assert fake_canvas.writes == 2  # one membership, one leave


def test_a_message_is_sent_again_only_after_repeat_hours(fake_canvas):
    course = imported_course(fake_canvas, 150)
    flow = flow_of(course, ("propagate", "message", MessageStudents))
    same = {"name": "nudge", "subject": "Quiz", "body": "Please take the quiz", "repeat_hours": 24}
    flow.config(configured(fake_canvas, {"message": same}))

    assert flow.run().status is RunStatus.SUCCEEDED
    assert fake_canvas.writes == 2  # one body for all: 100 recipients, then 50
    assert len(fake_canvas.conversations) == 150
    assert flow.run().status is RunStatus.SUCCEEDED
    assert fake_canvas.writes == 2  # sent less than 24 hours ago
    yesterday = (datetime.now(UTC) - timedelta(hours=25)).isoformat(timespec="seconds")
    course.students[0].canvas_messages["nudge"] = yesterday
    assert flow.run().status is RunStatus.SUCCEEDED
    assert len(fake_canvas.conversations) == 151


def test_debug_mode_makes_no_write_and_says_what_it_would_do(fake_canvas):
    course = imported_course(fake_canvas, 10)
    assignment = fake_canvas.add_assignment("Check-in")
    log = LogLines()
    modes = dict.fromkeys(("groups", "grades", "message"), "debug")

    result = propagate(fake_canvas, course, assignment, observers=[log], **modes)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert fake_canvas.writes == 0
    assert len(log.of("debug: would add s00")) == 10
    assert len(log.of("debug: would post grade complete for s00")) == 10
    assert log.of("debug: would post grade complete for s0003")[0].endswith(
        f"to assignment {assignment}"
    )
    assert len(log.of("debug: would message s00")) == 10
    assert {s.canvas_group for s in course.students} == {""}
    assert all(not s.canvas_grades and not s.canvas_messages for s in course.students)


def test_a_refused_message_is_the_students_outcome_and_is_tried_again_next_run(fake_canvas):
    course = imported_course(fake_canvas, 2)
    course.students[0].canvas_user_id = 999_999  # no such Canvas user: Canvas refuses
    flow = flow_of(course, ("propagate", "message", MessageStudents))
    own = {"name": "hi", "subject": "Hi", "body": "Hello {name}"}
    flow.config(configured(fake_canvas, {"message": own}))

    result = flow.run()

    assert result.status is RunStatus.SUCCEEDED, result.error
    outcomes = [s.canvas_messages["hi"] for s in course.students]
    assert outcomes[0] == "failed: Canvas answered 400: recipients invalid"
    assert outcomes[1].startswith(str(datetime.now(UTC).year))
    fake_canvas.reset_counts()
    assert flow.run().status is RunStatus.SUCCEEDED
    assert fake_canvas.writes == 1  # only the refused one, again
