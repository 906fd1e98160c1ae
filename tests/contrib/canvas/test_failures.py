"""Canvas saying no, or slow down: a throttle mid-run, a burst of 5xx, threads sharing a client."""

from __future__ import annotations

import threading

import pytest

from adminflow import RunStatus, Secret
from adminflow.contrib.canvas import (
    CanvasRateLimited,
    MessageStudents,
    PostGrades,
    SyncCanvasGroups,
)
from adminflow.contrib.canvas.pacing import LOW_WATER
from adminflow.contrib.canvas.session import CanvasSession
from tests.fake_canvas import COURSE_ID, TOKEN

from .conftest import LogLines, configured, flow_of, imported_course


def test_a_throttle_mid_run_is_backed_off_and_nothing_is_done_twice(fake_canvas):
    course = imported_course(fake_canvas, 20)
    flow = flow_of(course, ("propagate", "groups", SyncCanvasGroups))
    flow.config(configured(fake_canvas, {"groups": {"category": "Teams"}}))
    fake_canvas.throttle_at(12)  # mid-way through the memberships
    log = LogLines()

    result = flow.run(observers=[log])

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.steps["groups"].attempts == 2
    assert any("X-Rate-Limit-Remaining -12.5" in line for line in log.of("attempt 1 of 5 failed"))
    members = fake_canvas.group_members("Teams")
    assert sum(len(users) for users in members.values()) == 20
    joins = [p for m, p, s in fake_canvas.requests if m == "POST" and "memberships" in p]
    assert len(joins) == 21  # 20 and the one refused: none sent twice
    assert {s.canvas_group for s in course.students} == {"G00", "G01", "G02", "G03", "G04"}


def test_a_burst_of_5xx_is_retried_with_backoff(fake_canvas):
    course = imported_course(fake_canvas, 4)
    assignment = fake_canvas.add_assignment("Check-in")
    flow = flow_of(course, ("propagate", "grades", PostGrades))
    own = {"assignment_id": assignment, "completion": "complete", "poll_interval": 0.01}
    flow.config(configured(fake_canvas, {"grades": own}))
    fake_canvas.fail_next(2, status=503)

    result = flow.run()

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.steps["grades"].attempts == 3
    assert len(fake_canvas.grades[assignment]) == 4


def test_an_unknown_assignment_fails_the_step_naming_the_key_and_changes_nothing(fake_canvas):
    course = imported_course(fake_canvas, 4)
    flow = flow_of(course, ("propagate", "grades", PostGrades))
    flow.config(configured(fake_canvas, {"grades": {"assignment_id": 999, "completion": "1"}}))

    result = flow.run()

    assert result.status is RunStatus.FAILED
    assert "assignment_id: Canvas has no assignment 999" in result.steps["grades"].error
    assert fake_canvas.writes == 0
    assert all(not s.canvas_grades for s in course.students)


def test_steps_on_many_threads_share_one_client_each_thread_its_own_http_session(fake_canvas):
    course = imported_course(fake_canvas, 40)
    assignment = fake_canvas.add_assignment("Check-in")
    flow = flow_of(
        course,
        ("propagate", "groups", SyncCanvasGroups),
        ("propagate", "grades", PostGrades),
        ("propagate", "message", MessageStudents),
    )
    own = {
        "groups": {"category": "Teams"},
        "grades": {"assignment_id": assignment, "completion": "1", "poll_interval": 0.01},
        "message": {"name": "hi", "subject": "Hi", "body": "Hello"},
    }
    flow.config(configured(fake_canvas, own))

    result = flow.run()

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert len(fake_canvas.grades[assignment]) == 40
    assert len(fake_canvas.conversations) == 40
    assert sum(len(u) for u in fake_canvas.group_members("Teams").values()) == 40
    course_reads = fake_canvas.page_requests(f"/courses/{COURSE_ID}")
    assert course_reads == 1  # one client for the run: the course is read once


def test_the_requester_gives_each_thread_its_own_requester(fake_canvas):
    session = CanvasSession(fake_canvas.url, Secret(TOKEN), COURSE_ID)
    seen: dict[str, object] = {}

    def read(name: str) -> None:
        session.requester.request("GET", f"courses/{COURSE_ID}")
        seen[name] = session.requester._own()

    threads = [threading.Thread(target=read, args=(f"t{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    session.close()

    assert len({id(requester) for requester in seen.values()}) == 3
    assert session.pacer.remaining == 700.0  # every answer's quota header was read


def test_reads_go_one_at_a_time_once_the_cost_bucket_runs_low_or_canvas_throttled(fake_canvas):
    comfortable = CanvasSession(fake_canvas.url, Secret(TOKEN), COURSE_ID)
    comfortable.course()
    fake_canvas.remaining = LOW_WATER - 1
    low = CanvasSession(fake_canvas.url, Secret(TOKEN), COURSE_ID)
    low.course()
    throttled = CanvasSession(fake_canvas.url, Secret(TOKEN), COURSE_ID)
    fake_canvas.remaining = 700.0
    fake_canvas.throttle_at(1)

    with pytest.raises(CanvasRateLimited, match=r"X-Rate-Limit-Remaining -12\.5"):
        throttled.course()

    assert (comfortable.pacer.serial, low.pacer.serial, throttled.pacer.serial) == (
        False,
        True,
        True,
    )
    assert low.pacer.remaining == LOW_WATER - 1
    for session in (comfortable, low, throttled):
        session.close()
