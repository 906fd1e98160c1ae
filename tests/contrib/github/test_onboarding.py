"""The onboarding steps against the fake GitHub: a whole course, a rerun, drops, renames."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adminflow import RunStatus, StepStatus
from tests.fake_github import FakeGitHub

from .conftest import ORG, LogLines, make_course, onboarding_config, onboarding_flow


def test_a_200_student_course_is_onboarded_and_a_rerun_writes_nothing(
    fake_github: FakeGitHub, onboard: Callable[..., Any]
) -> None:
    course = make_course(fake_github, 200)

    result = onboard(fake_github, course)

    assert result.status is RunStatus.SUCCEEDED, result.error
    first = (fake_github.reads, fake_github.writes)
    print(f"\n200-student onboarding: {first[0]} reads, {first[1]} writes")
    assert len(fake_github.invitations) == 200
    assert {s.github_invite for s in course.students} == {"done"}
    assert {s.github_repo for s in course.students} == {"done"}
    repo = fake_github.repos[f"{ORG}/hw-student-007".lower()]
    assert repo.collaborators == {fake_github._user_id("student-007"): "push"}
    assert len(fake_github.teams) == 50
    assert all(len(team.members) == 4 for team in fake_github.teams.values())
    assert f"{ORG}/project-g00".lower() in fake_github.repos

    fake_github.accept_invitations()
    fake_github.reset_counts()
    rerun = onboard(fake_github, course)

    assert rerun.status is RunStatus.SUCCEEDED, rerun.error
    print(f"rerun: {fake_github.reads} reads, {fake_github.writes} writes")
    assert fake_github.writes == 0
    assert all(s.github_joined for s in course.students)  # accepted invitations are marked


def test_pagination_past_100_members_sees_every_member(
    fake_github: FakeGitHub, onboard: Callable[..., Any]
) -> None:
    course = make_course(fake_github, 130)
    for student in course.students:
        fake_github.members.add(fake_github._user_id(student.github_username))

    result = onboard(fake_github, course, repos="exclude", teams="exclude")

    assert result.status is RunStatus.SUCCEEDED, result.error
    pages = [p for m, p, s in fake_github.requests if p == f"/orgs/{ORG}/members"]
    assert len(pages) == 2  # 100 and 30, following the Link header
    assert {s.github_invite for s in course.students} == {"already"}
    assert all(s.github_joined for s in course.students)
    assert not fake_github.invitations


def test_members_already_in_the_organization_are_added_to_the_invitation_team(
    fake_github: FakeGitHub,
) -> None:
    course = make_course(fake_github, 4)
    team = fake_github.add_team("Students")
    member = fake_github._user_id("student-000")
    in_team = fake_github._user_id("student-001")
    fake_github.members |= {member, in_team}
    team.members.add(in_team)
    flow = onboarding_flow(course)
    config = onboarding_config(fake_github, repos="exclude", teams="exclude")
    config["invite"] = {**config["invite"], "team": "students"}

    flow.config(config)
    result = flow.run()

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert team.members == {member, in_team}
    invites = [course.by_netid(f"s00{n}").github_invite for n in range(4)]
    assert invites == ["done", "already", "done", "done"]
    assert set(fake_github.invitations) == {fake_github._user_id(f"student-00{n}") for n in (2, 3)}

    fake_github.reset_counts()
    assert flow.run().status is RunStatus.SUCCEEDED
    assert fake_github.writes == 0  # added once, never again


def test_a_dropped_student_loses_access_and_keeps_the_repository(
    fake_github: FakeGitHub, onboard: Callable[..., Any]
) -> None:
    course = make_course(fake_github, 8)
    onboard(fake_github, course)
    fake_github.accept_invitations()
    dropped = course.by_netid("s005")
    dropped.is_enrolled = False
    user_id = fake_github._user_id("student-005")

    result = onboard(fake_github, course)

    assert result.status is RunStatus.SUCCEEDED, result.error
    dropped = course.by_netid("s005")
    assert dropped.github_removed == "done"
    assert user_id not in fake_github.members
    assert all(user_id not in team.members for team in fake_github.teams.values())
    repo = fake_github.repos[f"{ORG}/hw-student-005".lower()]
    assert user_id not in repo.collaborators  # access gone, repository kept
    assert (dropped.github_invite, dropped.github_team) == ("", "")

    fake_github.reset_counts()
    onboard(fake_github, course)
    assert fake_github.writes == 0  # removed once, never again


def test_a_renamed_account_is_recognised_by_its_id(
    fake_github: FakeGitHub, onboard: Callable[..., Any]
) -> None:
    course = make_course(fake_github, 4)
    onboard(fake_github, course)
    fake_github.rename("student-002", "ada-renamed")
    fake_github.reset_counts()

    result = onboard(fake_github, course)

    assert result.status is RunStatus.SUCCEEDED, result.error
    student = course.by_netid("s002")
    assert (student.github_username, student.github_login) == ("student-002", "ada-renamed")
    assert student.github_account == "done"
    assert fake_github.writes == 0  # the same account: nothing to invite or create again
    assert f"/user/{student.github_id}" in [p for _m, p, _s in fake_github.requests]


def test_an_unknown_username_is_a_clear_per_student_failure(
    fake_github: FakeGitHub, onboard: Callable[..., Any]
) -> None:
    course = make_course(fake_github, 3)
    course.students[1].github_username = "no-such-user"

    result = onboard(fake_github, course)

    assert result.status is RunStatus.SUCCEEDED, result.error
    ghost = course.by_netid("s001")
    assert ghost.github_account == "failed: no GitHub account 'no-such-user'"
    assert ghost.github_invite == ""  # nothing attempted without an account
    assert len(fake_github.invitations) == 2


def test_debug_mode_makes_no_write_and_says_what_it_would_do(
    fake_github: FakeGitHub, onboard: Callable[..., Any]
) -> None:
    course = make_course(fake_github, 10)
    log = LogLines()
    modes = dict.fromkeys(("invite", "repos", "teams", "remove-dropped"), "debug")

    result = onboard(fake_github, course, observers=[log], **modes)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert fake_github.writes == 0
    assert len(log.of("debug: would invite")) == 10
    assert len(log.of("debug: would create")) == 10
    assert len(log.of("debug: would add")) == 10
    assert {s.github_invite for s in course.students} == {""}
    assert result.steps["invite"].status is StepStatus.SUCCEEDED
