"""The course's steps at hundreds of students: the same output, and no query per student.

The summary is checked against the stored students, at a size where many
groups form and the roster's order, the NetIDs' order and the names' order
all differ, so a change of order or grouping shows. Each step is then called
as the engine calls it, on this thread, so that every query it makes is
counted: at 20 and at 200 students the ceiling is the same.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adminflow.engine.intents import batches
from adminflow.registry import flow_registry
from courseadmin.course.models import Section, Student
from tests.course.conftest import run, student_row, sync_config
from tests.factories import CourseStudentFactory

MAX_QUERIES = {
    "import-roster": 1,  # the sections, once
    "check-usernames": 0,
    "assign-groups": 0,
    # Per batch of up to 500 reminders, the outcomes its task writes (the tests' immediate
    # backend runs the task at once; a database backend's enqueue is one INSERT).
    "remind-missing-usernames": 1,
    "staff-summary": 0,
}


def shuffled_roster(count: int, seed: int) -> list[str]:
    """Return ``count`` roster lines in no useful order, names sorting against NetIDs.

    One student in five has no GitHub username, so reminders go out too.
    """
    rows = [
        student_row(
            f"n{n:04d}",
            f"S0{n % 3 + 1}",
            github="" if n % 5 == 0 else None,
            name=f"Student {count - n:04d}",
        )
        for n in range(count)
    ]
    random.Random(seed).shuffle(rows)
    return rows


def listed(body: str, heading: str) -> list[str]:
    """Return the lines listed under ``heading`` (up to the next blank line) in ``body``."""
    lines = body.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(heading)) + 1
    end = lines.index("", start)
    return lines[start:end]


@pytest.mark.django_db(transaction=True)
def test_the_summary_names_every_added_and_grouped_student_in_netid_order(
    sections, staff_emails, write_roster, mailoutbox
):
    path = write_roster(shuffled_roster(300, seed=7))

    flow_run = run("roster-sync", sync_config(path, assign_groups={"group_size": 4}))

    assert flow_run.status == "succeeded"
    summary = mailoutbox[-1]
    assert summary.to == staff_emails
    stored = list(Student.objects.select_related("section").order_by("netid"))
    assert listed(summary.body, "Added (300):") == [
        f"  - {s.name} ({s.netid}), {s.section.code}" for s in stored
    ]
    members: dict[str, list[str]] = defaultdict(list)
    for student in stored:
        members[student.group_code].append(student.name)
    assert len(members) == 75
    assert listed(summary.body, "Groups formed (75):") == [
        f"  - {code}: {', '.join(names)}" for code, names in sorted(members.items())
    ]
    assert listed(summary.body, "Reminded about GitHub usernames (60):") == [
        f"  - {s.name} ({s.netid}) <{s.email}>" for s in stored if not s.github_username
    ]


class Logger:
    """A step logger that keeps nothing."""

    def __call__(self, message: object) -> None:
        pass

    warning = error = __call__


def course_of(size: int, path: Path) -> None:
    """Store ``size // 2`` students; write a roster at ``path`` dropping 2, keeping the rest
    and adding as many new students, one in five without a username.
    """
    sections = [Section.objects.get_or_create(code=f"S0{n}")[0] for n in (1, 2, 3)]
    kept = [
        CourseStudentFactory(netid=f"old{n:04d}", section=sections[n % 3], group_code="")
        for n in range(size // 2)
    ]
    rows = [student_row(s.netid, s.section.code, s.github_username, s.name) for s in kept[2:]]
    rows += [
        student_row(f"new{n:04d}", f"S0{n % 3 + 1}", github="" if n % 5 == 0 else None)
        for n in range(size - size // 2)
    ]
    path.write_text("NetID,Name,Email,Section,GitHub\n" + "\n".join(rows) + "\n")


def steps_in_turn(path: Path) -> Iterator[tuple[str, Callable[[], Any]]]:
    """Yield each roster-sync step's name and a call running it as the engine would.

    The records come from the flow's own storer; each phase shares one list of
    ``(record, lock)`` pairs, and metadata set by one step is read by the next.
    """
    configured = flow_registry["roster-sync"].with_config(sync_config(path))
    configured.storer.bind(configured.name, configured.storer_name)
    metadata: dict[str, Any] = {}
    records = configured.storer.get_records(Logger())
    step = configured.steps
    roster: list[Student] = []
    yield (
        "import-roster",
        lambda: roster.extend(
            step["import-roster"].instance.new_records(records, Logger(), metadata.__setitem__)
        ),
    )
    locked: list[tuple[Student, threading.Lock]] = [(s, threading.Lock()) for s in roster]
    for name in ("check-usernames", "assign-groups"):
        yield (
            name,
            lambda name=name: step[name].instance.update_records(
                locked, Logger(), metadata.get, metadata.__setitem__
            ),
        )

    def planned_and_carried_out(name: str, *plan_arguments: Any) -> None:
        # As the engine does: in batches where the step takes them, else one at a time.
        instance = step[name].instance
        intents = list(instance.plan_records(locked, Logger(), metadata.get, *plan_arguments))
        if getattr(instance, "carry_out_batch", None) is None:
            for intent in intents:
                instance.carry_out(intent, Logger(), metadata.get)
            return
        for batch in batches(name, instance, intents):
            instance.carry_out_batch(batch, Logger(), metadata.get)

    yield (
        "remind-missing-usernames",
        lambda: planned_and_carried_out("remind-missing-usernames", metadata.__setitem__),
    )
    yield ("staff-summary", lambda: planned_and_carried_out("staff-summary"))


@pytest.mark.django_db
@pytest.mark.parametrize("size", [20, 200])
def test_no_step_makes_a_query_per_student(
    size, staff_emails, tmp_path, mailoutbox, django_assert_max_num_queries
):
    path = tmp_path / "roster.csv"
    course_of(size, path)

    for name, call in steps_in_turn(path):
        with django_assert_max_num_queries(MAX_QUERIES[name], info=f"step {name}"):
            call()

    reminded = len(range(0, size - size // 2, 5))  # the new students without a username
    assert len(mailoutbox) == reminded + 1  # and the staff summary
