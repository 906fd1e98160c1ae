"""Fixtures of the GitHub steps' tests: a course of students, a flow (the fake GitHub
server, ``fake_github``, is the suite's: tests/conftest.py).

The steps run in real flows over real HTTP: PyGithub talks to the fake on
127.0.0.1. Waits are short here (writes 10 ms apart, ``retry-after: 1``)
so the suite stays quick; the code paths are those of a real run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from adminflow import AdminFlow, FlowObserver, RunResult
from adminflow.contrib.github import (
    CheckGitHubAccounts,
    CreateStudentRepos,
    InviteStudents,
    RemoveDroppedStudents,
    SyncGroupTeams,
    TagSubmissions,
)
from tests.contrib.memory_course import storer_for
from tests.fake_github import ORG, TEMPLATE, TOKEN, FakeGitHub

WRITE_SPACING = 0.001


@dataclass
class Student:
    """The fields the GitHub steps read and write, as a course's student record has them."""

    netid: str
    github_username: str
    group_code: str = ""
    is_enrolled: bool = True
    github_id: int | None = None
    github_login: str = ""
    github_account: str = ""
    github_invite: str = ""
    github_joined: bool = False
    github_repo: str = ""
    github_repo_name: str = ""
    github_team: str = ""
    github_removed: str = ""
    submissions: dict[str, str] = field(default_factory=dict)


class Course:
    """The students kept between runs, as a storer would keep them."""

    def __init__(self, students: list[Student]) -> None:
        self.students = students

    def by_netid(self, netid: str) -> Student:
        return next(s for s in self.students if s.netid == netid)


def make_course(fake: FakeGitHub, size: int, group_size: int = 4) -> Course:
    """Return ``size`` enrolled students, each with a GitHub account, in groups of ``group_size``."""
    students = []
    for n in range(size):
        login = f"student-{n:03d}"
        fake.add_user(login)
        students.append(Student(f"s{n:03d}", login, group_code=f"G{n // group_size:02d}"))
    return Course(students)


def github_config(fake: FakeGitHub) -> dict[str, Any]:
    return {"org": ORG, "token": TOKEN, "api_url": fake.url, "write_spacing": WRITE_SPACING}


FAST_RETRY = {"backoff": 0.05, "max_backoff": 0.2, "jitter": False}


def onboarding_config(
    fake: FakeGitHub, write_spacing: float = WRITE_SPACING, **modes: str
) -> dict[str, Any]:
    base = {**github_config(fake), "write_spacing": write_spacing}
    config: dict[str, Any] = {
        "num_threads": 4,
        "roster": {},
        "check-accounts": base,
        "invite": base,
        "repos": {**base, "template": TEMPLATE, "prefix": "hw"},
        "teams": {**base, "template": TEMPLATE, "prefix": "project"},
        "remove-dropped": base,
    }
    for step in ("check-accounts", "invite", "repos", "teams", "remove-dropped"):
        config[f"{step}-retry"] = FAST_RETRY
    config.update({f"{step}-mode": mode for step, mode in modes.items()})
    return config


def onboarding_flow(course: Course) -> AdminFlow:
    flow = AdminFlow("github-onboarding", "test onboarding", storer_for(course), "roster")
    flow.add_update_step("check-accounts", CheckGitHubAccounts)
    flow.add_propagate_step("invite", InviteStudents)
    flow.add_propagate_step("repos", CreateStudentRepos, depends_on=["invite"])
    flow.add_propagate_step("teams", SyncGroupTeams, depends_on=["invite"])
    flow.add_propagate_step("remove-dropped", RemoveDroppedStudents)
    return flow


@pytest.fixture
def onboard() -> Callable[..., RunResult]:
    """Return ``onboard(fake, course, **modes)``: run the onboarding flow once."""

    def run(fake: FakeGitHub, course: Course, **options: Any) -> RunResult:
        observers = options.pop("observers", ())
        flow = onboarding_flow(course)
        flow.config(onboarding_config(fake, **options))
        return flow.run(observers=observers)

    return run


def tag_flow(course: Course) -> AdminFlow:
    flow = AdminFlow("tag-submissions", "test tagging", storer_for(course), "roster")
    flow.add_propagate_step("tag", TagSubmissions)
    return flow


class LogLines(FlowObserver):
    """Keep every log line of a run, as ``(step, message)``."""

    def __init__(self) -> None:
        self.lines: list[tuple[str | None, str]] = []

    def log(self, flow: str, step: str | None, level: int, message: str) -> None:
        self.lines.append((step, message))

    def of(self, prefix: str) -> list[str]:
        return [message for _step, message in self.lines if message.startswith(prefix)]
