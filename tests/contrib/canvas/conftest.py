"""Fixtures of the Canvas steps' tests: a course of students, flows (the fake Canvas
server, ``fake_canvas``, is the suite's: tests/conftest.py).

The steps run in real flows over real HTTP: canvasapi talks to the fake on
127.0.0.1. Waits are short here (progress polled every 10 ms, retries after
50 ms) so the suite stays quick; the code paths are those of a real run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adminflow import AdminFlow, FlowObserver
from adminflow.contrib.canvas import ImportCanvasRoster
from tests.contrib.memory_course import storer_for
from tests.fake_canvas import COURSE_ID, TOKEN, FakeCanvas

FAST_RETRY = {"backoff": 0.05, "max_backoff": 0.2, "jitter": False}


@dataclass
class Student:
    """The fields the Canvas steps read and write, as a course's student record has them."""

    netid: str = ""
    name: str = ""
    section: str = ""
    status: str = "enrolled"
    canvas_user_id: int | None = None
    sis_user_id: str = ""
    canvas_login_id: str = ""
    github_username: str = ""
    group_code: str = ""
    grade: str = ""
    canvas_group: str = ""
    canvas_grades: dict[str, str] = field(default_factory=dict)
    canvas_messages: dict[str, str] = field(default_factory=dict)

    @property
    def is_enrolled(self) -> bool:
        return self.status == "enrolled"


class ImportRoster(ImportCanvasRoster):
    record_type = Student


class Course:
    """The students kept between runs, as a storer would keep them."""

    def __init__(self, students: list[Student] | None = None) -> None:
        self.students = students or []

    def by_netid(self, netid: str) -> Student:
        return next(s for s in self.students if s.netid == netid)


def canvas_config(fake: FakeCanvas, **extra: Any) -> dict[str, Any]:
    return {"base_url": fake.url, "token": TOKEN, "course_id": COURSE_ID, **extra}


def flow_of(course: Course, *steps: tuple[str, str, type]) -> AdminFlow:
    """Return a flow of ``(kind, name, class)`` steps over ``course``."""
    flow = AdminFlow("canvas-test", "test Canvas steps", storer_for(course), "roster")
    for kind, name, cls in steps:
        getattr(flow, f"add_{kind}_step")(name, cls)
    return flow


def configured(fake: FakeCanvas, steps: dict[str, dict[str, Any]], **modes: str) -> dict[str, Any]:
    """Return a flow config giving each step the fake's keys, its own, and quick retries."""
    config: dict[str, Any] = {"num_threads": 4, "roster": {}}
    for name, own in steps.items():
        config[name] = canvas_config(fake, **own)
        config[f"{name}-retry"] = FAST_RETRY
    config.update({f"{step}-mode": mode for step, mode in modes.items()})
    return config


def enroll_many(fake: FakeCanvas, count: int, sections: int = 4, start: int = 0) -> dict[str, int]:
    """Enroll ``count`` students in ``sections`` sections; return their user ids by login id."""
    ids = (
        [fake.add_section(f"S{n + 1:02d}") for n in range(sections)]
        if not fake.sections
        else list(fake.sections)
    )
    made = {}
    for n in range(start, start + count):
        login = f"s{n:04d}"
        made[login] = fake.enroll(
            login, f"Student {n:04d}", ids[n % len(ids)], sis_user_id=f"SIS{n:06d}"
        )
    return made


class LogLines(FlowObserver):
    """Keep every log line of a run, as ``(step, message)``."""

    def __init__(self) -> None:
        self.lines: list[tuple[str | None, str]] = []

    def log(self, flow: str, step: str | None, level: int, message: str) -> None:
        self.lines.append((step, message))

    def of(self, prefix: str) -> list[str]:
        return [message for _step, message in self.lines if message.startswith(prefix)]


def imported_course(fake: FakeCanvas, count: int, group_size: int = 4) -> Course:
    """Return a course of ``count`` students enrolled on the fake, imported, in groups."""
    enroll_many(fake, count)
    course = Course()
    flow = flow_of(course, ("record", "import-roster", ImportRoster))
    flow.config(configured(fake, {"import-roster": {}}))
    result = flow.run()
    assert result.status.value == "succeeded", result.error
    for n, student in enumerate(sorted(course.students, key=lambda s: s.netid)):
        student.group_code = f"G{n // group_size:02d}"
    fake.reset_counts()
    return course
