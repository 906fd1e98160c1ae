"""Import the roster from a Canvas course's enrollments: adds, re-enrolments and drops.

The students are the course's student enrollments Canvas lists by default,
``active`` and ``invited`` (``GET /courses/:id/enrollments`` with
``type[]=StudentEnrollment``), each with their section (one read of the
course's sections names them), SIS id and login id. A record is matched to a
Canvas student by the Canvas user id it carries, else by its key, which is
the student's ``login_id`` or ``sis_user_id`` (``match_on``). A student
Canvas lists that no record matches is added; a dropped one it lists is
enrolled again; an enrolled one it no longer lists is dropped, unless that
would drop more than ``max_drop_share`` of the enrolled students
(:class:`adminflow.DropGuard`, as the CSV import), when nothing changes.

How a Canvas student becomes a record is the step's hooks:
:meth:`ImportCanvasRoster.new_record` and :meth:`~ImportCanvasRoster.copy`,
which a site overrides for its own record type; either may raise
:class:`StudentProblem` to leave a student out (reported, never dropped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from canvasapi.enrollment import Enrollment

from adminflow import AdminRecordStep, DropGuard
from adminflow.engine.steps import Logger

from .base import CANVAS_CONFIG, CanvasStep, is_active
from .session import CanvasSession

MATCH_ON = ("login_id", "sis_user_id")
ENROLLED_STATES = ("active", "invited")
"""What Canvas lists when no state is asked for; asked for by name, as admins get more."""


class RosterError(Exception):
    """Raise when Canvas's roster must not be imported; nothing is stored."""


class StudentProblem(Exception):
    """Raise from a hook to leave one student out of the import, with the reason."""


@dataclass(frozen=True)
class CanvasStudent:
    """One student as Canvas's enrollments list them."""

    user_id: int
    name: str
    sortable_name: str
    login_id: str
    sis_user_id: str
    section: str
    """The section's name."""
    state: str
    """The enrollment's state: active or invited."""

    def key(self, match_on: str) -> str:
        return str(getattr(self, match_on)).strip().lower()


class ImportCanvasRoster(CanvasStep, AdminRecordStep[Any]):
    description = (
        "Read the students of a Canvas course (enrollments: section, SIS id, login id); add new "
        "students, mark missing ones dropped, re-enrol returning ones."
    )
    config_types = [
        *CANVAS_CONFIG,
        (
            "match_on",
            str,
            f"which Canvas id is the student's key: {', '.join(MATCH_ON)}",
            "login_id",
        ),
        DropGuard.config,
    ]

    record_type: ClassVar[type[Any] | None] = None
    """The class the default :meth:`new_record` makes (called with no arguments), then
    :meth:`copy` fills."""
    name_field: ClassVar[str] = "name"
    sis_id_field: ClassVar[str | None] = "sis_user_id"
    login_id_field: ClassVar[str | None] = "canvas_login_id"
    section_field: ClassVar[str | None] = "section"
    status_field: ClassVar[str] = "status"
    enrolled: ClassVar[str] = "enrolled"
    dropped: ClassVar[str] = "dropped"
    metadata_prefix: ClassVar[str] = "roster"
    """Published: ``<prefix>_added``, ``_dropped``, ``_returned``, ``_updated`` (keys) and
    ``_malformed`` (``"<key>: reason"``), the names the CSV import publishes."""

    def validate(self) -> None:
        super().validate()
        DropGuard(self.configs.max_drop_share)
        if self.configs.match_on not in MATCH_ON:
            raise ValueError(
                f"match_on must be one of {', '.join(MATCH_ON)}, got {self.configs.match_on!r}"
            )

    # Hooks a site overrides for its records

    def new_record(self, student: CanvasStudent) -> Any:
        """Return a new record for ``student``; raise StudentProblem to leave them out."""
        if self.record_type is None:
            raise TypeError(f"{type(self).__name__} needs a record_type or its own new_record()")
        record = self.record_type()
        setattr(record, self.key_field, student.key(self.configs.match_on))
        self.copy(student, record)
        return record

    def copy(self, student: CanvasStudent, record: Any) -> bool:
        """Copy what Canvas says of ``student`` onto ``record``; return whether anything differed."""
        values: dict[str | None, Any] = {
            self.user_id_field: student.user_id,
            self.name_field: student.name,
            self.sis_id_field: student.sis_user_id,
            self.login_id_field: student.login_id,
            self.section_field: student.section,
        }
        changed = False
        for name, value in values.items():
            if name is not None and getattr(record, name) != value:
                setattr(record, name, value)
                changed = True
        return changed

    # The import

    # courseflow's later positional form (get_metadata before set_metadata, no debug),
    # which the engine calls by position (engine.steps.POSITIONAL_ORDERS).
    def new_records(  # type: ignore[override]
        self,
        curr_records: list[Any],
        logger: Logger,
        get_metadata: Callable[[str], Any],
        set_metadata: Callable[[str, Any], None],
    ) -> list[Any]:
        session = self.session(get_metadata)
        students = self.students(session)
        source = f"Canvas course {self.configs.course_id}"
        listed_ids = {student.user_id for student in students}
        listed_keys = {student.key(self.configs.match_on) for student in students}
        by_id = {getattr(r, self.user_id_field): r for r in curr_records}
        by_key = {str(getattr(r, self.key_field)): r for r in curr_records}
        dropped = [
            r
            for r in curr_records
            if is_active(r)
            and getattr(r, self.user_id_field) not in listed_ids
            and str(getattr(r, self.key_field)) not in listed_keys
        ]
        enrolled = sum(1 for r in curr_records if is_active(r))
        refusal = DropGuard(self.configs.max_drop_share).refusal(source, enrolled, len(dropped))
        if refusal is not None:
            for record in dropped:
                logger.error(f"would drop {getattr(record, self.key_field)}")
            raise RosterError(refusal)
        added, returned, updated, problems = [], [], [], []
        for student in students:
            key = student.key(self.configs.match_on)
            record = by_id.get(student.user_id) or by_key.get(key)
            try:
                if not key and record is None:
                    raise StudentProblem(f"Canvas lists no {self.configs.match_on}")
                if record is None:
                    record = self.new_record(student)
                    by_id[student.user_id] = record
                    added.append(record)
                    continue
                changed = self.copy(student, record)
            except StudentProblem as exc:
                problems.append(f"{key or student.user_id}: {exc}")
                logger.error(f"{source}: left out {student.name} ({key or student.user_id}): {exc}")
                continue
            if not is_active(record):
                setattr(record, self.status_field, self.enrolled)
                returned.append(record)
            elif changed:
                updated.append(record)
        for record in dropped:
            setattr(record, self.status_field, self.dropped)
        self.report(logger, set_metadata, source, len(students), added, dropped, returned, updated)
        set_metadata(f"{self.metadata_prefix}_malformed", problems)
        return [*curr_records, *added]

    def report(
        self,
        logger: Logger,
        set_metadata: Callable[[str, Any], None],
        source: str,
        listed: int,
        *groups: list[Any],
    ) -> None:
        names = ("added", "dropped", "re-enrolled", "updated")
        keys = [sorted(str(getattr(r, self.key_field)) for r in group) for group in groups]
        for verb, group_keys in zip(names[:3], keys, strict=False):
            for key in group_keys:
                logger(f"{verb} {key}")
        counts = ", ".join(f"{len(k)} {verb}" for verb, k in zip(names, keys, strict=True))
        logger(f"{source}: {listed} students listed; {counts}")
        for suffix, group_keys in zip(
            ("added", "dropped", "returned", "updated"), keys, strict=True
        ):
            set_metadata(f"{self.metadata_prefix}_{suffix}", group_keys)

    def students(self, session: CanvasSession) -> list[CanvasStudent]:
        """Return the course's enrolled students, one each (a second section is ignored)."""
        course = session.course()
        sections = session.read(
            "list the course's sections",
            lambda: {section.id: section.name for section in course.get_sections()},
        )
        enrollments: list[Enrollment] = session.read(
            "list the course's student enrollments",
            lambda: list(
                course.get_enrollments(type=["StudentEnrollment"], state=list(ENROLLED_STATES))
            ),
        )
        students: dict[int, CanvasStudent] = {}
        for enrollment in enrollments:
            user = enrollment.user
            students.setdefault(
                enrollment.user_id,
                CanvasStudent(
                    user_id=enrollment.user_id,
                    name=user.get("name", ""),
                    sortable_name=user.get("sortable_name", ""),
                    login_id=user.get("login_id") or "",
                    sis_user_id=user.get("sis_user_id") or "",
                    section=sections.get(enrollment.course_section_id, ""),
                    state=enrollment.enrollment_state,
                ),
            )
        return list(students.values())
