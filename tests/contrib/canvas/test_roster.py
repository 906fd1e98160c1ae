"""The roster from Canvas's enrollments: adds, drops, a return, the drop guard, bad config."""

from __future__ import annotations

import pytest

from adminflow import FlowConfigError, RunStatus
from tests.fake_canvas import COURSE_ID, TOKEN, FakeCanvas

from .conftest import Course, ImportRoster, Student, configured, enroll_many, flow_of


def import_roster(fake: FakeCanvas, course: Course, **own):
    flow = flow_of(course, ("record", "import-roster", ImportRoster))
    flow.config(configured(fake, {"import-roster": own}))
    return flow.run()


def test_a_500_student_import_adds_drops_and_re_enrols_in_seven_reads(fake_canvas):
    ids = enroll_many(fake_canvas, 500)
    course = Course()
    first = import_roster(fake_canvas, course)
    assert first.status is RunStatus.SUCCEEDED, first.error
    print(f"\nfirst import of 500: {fake_canvas.reads} reads, {fake_canvas.writes} writes")
    assert len(course.students) == 500
    ada = course.by_netid("s0007")
    assert (ada.name, ada.section, ada.sis_user_id, ada.canvas_login_id) == (
        "Student 0007",
        "S04",
        "SIS000007",
        "s0007",
    )
    assert ada.canvas_user_id == ids["s0007"]
    leaving = [f"s{n:04d}" for n in range(100, 140)]
    for login in leaving:
        fake_canvas.set_state(ids[login], "deleted")
    course.by_netid("s0003").status = "dropped"  # dropped earlier, back on Canvas now
    new = enroll_many(fake_canvas, 25, start=500)
    fake_canvas.reset_counts()

    result = import_roster(fake_canvas, course)

    assert result.status is RunStatus.SUCCEEDED, result.error
    print(
        f"500 + 25 added, 40 dropped, 1 re-enrolled: {fake_canvas.reads} reads, "
        f"{fake_canvas.writes} writes"
    )
    assert (fake_canvas.reads, fake_canvas.writes) == (7, 0)  # course, sections, 5 pages
    assert fake_canvas.page_requests(f"/courses/{COURSE_ID}/enrollments") == 5  # 100 a page
    meta = result.metadata
    assert meta["roster_added"] == sorted(new)
    assert meta["roster_dropped"] == leaving
    assert meta["roster_returned"] == ["s0003"]
    assert {s.netid for s in course.students if s.status == "dropped"} == set(leaving)
    assert len(course.students) == 525


def test_the_drop_guard_refuses_a_roster_that_lost_60_percent_and_nothing_changes(fake_canvas):
    ids = enroll_many(fake_canvas, 50)
    course = Course()
    import_roster(fake_canvas, course)
    before = [vars(s).copy() for s in course.students]
    for login in list(ids)[:30]:
        fake_canvas.set_state(ids[login], "completed")
    enroll_many(fake_canvas, 3, start=50)

    result = import_roster(fake_canvas, course)

    assert result.status is RunStatus.FAILED
    error = result.steps["import-roster"].error
    assert error.startswith(
        f"RosterError: Canvas course {COURSE_ID} would drop 30 of 50 enrolled students (60%), "
        "more than max_drop_share 20%; nothing was changed."
    )
    assert [vars(s) for s in course.students] == before  # nothing stored: no add either
    assert import_roster(fake_canvas, course, max_drop_share=0.6).status is RunStatus.SUCCEEDED
    assert sum(s.status == "dropped" for s in course.students) == 30


def test_a_record_is_matched_by_its_canvas_id_or_by_the_configured_key(fake_canvas):
    section = fake_canvas.add_section("Lab A")
    by_id = fake_canvas.enroll("new-login", "Ann Lee", section, sis_user_id="X1")
    fake_canvas.enroll("bo2", "Bo Ray", section, sis_user_id="X2")
    course = Course(
        [
            Student(netid="old-login", canvas_user_id=by_id),
            Student(netid="x2"),
        ]
    )

    result = import_roster(fake_canvas, course, match_on="sis_user_id")

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.metadata["roster_added"] == []
    assert course.by_netid("old-login").canvas_login_id == "new-login"  # the key stays
    assert course.by_netid("x2").name == "Bo Ray"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("base_url", "canvas.example.edu", "base_url must be a Canvas address"),
        ("base_url", "https://canvas.example.edu/api/v1", "base_url must be the Canvas address"),
        ("token", "  ", "token is empty: set 'token'"),
        ("course_id", 0, "course_id must be a Canvas course id"),
        ("match_on", "email", "match_on must be one of login_id, sis_user_id"),
        ("max_drop_share", 1.5, "max_drop_share must be between 0 and 1"),
    ],
)
def test_bad_config_is_refused_naming_the_key(fake_canvas, key, value, message):
    flow = flow_of(Course(), ("record", "import-roster", ImportRoster))
    config = configured(fake_canvas, {"import-roster": {}})
    config["import-roster"][key] = value

    with pytest.raises(FlowConfigError, match=message):
        flow.config(config)
    assert fake_canvas.reads + fake_canvas.writes == 0


def test_an_unknown_course_or_a_refused_token_fails_clearly_and_keeps_the_token_secret(
    fake_canvas,
):
    enroll_many(fake_canvas, 3)
    course = Course()

    unknown = import_roster(fake_canvas, course, course_id=COURSE_ID + 1)
    fake_canvas.token = "someone-elses-token"
    refused = import_roster(fake_canvas, course)

    assert unknown.status is refused.status is RunStatus.FAILED
    assert f"course_id {COURSE_ID + 1}: Canvas has no such course" in (
        unknown.steps["import-roster"].error
    )
    error = refused.steps["import-roster"].error
    assert "Canvas refused the token; check 'token'" in error
    assert refused.steps["import-roster"].attempts == 1  # not worth retrying
    assert TOKEN not in error + (refused.steps["import-roster"].traceback or "")
    assert course.students == []


def test_an_address_where_nothing_answers_fails_after_its_retries_naming_base_url(fake_canvas):
    course = Course()
    flow = flow_of(course, ("record", "import-roster", ImportRoster))
    config = configured(fake_canvas, {"import-roster": {}})
    fake_canvas.stop()  # nothing answers there any more
    config["import-roster-retry"] = {"max_attempts": 2, "backoff": 0.01, "jitter": False}
    flow.config(config)

    result = flow.run()

    assert result.status is RunStatus.FAILED
    step = result.steps["import-roster"]
    assert step.attempts == 2  # no answer is worth another attempt
    assert "no answer from Canvas (ConnectionError); is 'base_url' right?" in step.error
