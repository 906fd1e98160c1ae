"""The course's Canvas steps: adminflow's, fitted to the course's students.

The Canvas address and token default to ``$CANVAS_URL`` and ``$CANVAS_TOKEN``
(see :mod:`.envconfig`); the stored config names the course, the quiz, the
group set and the check-in assignment.

- The roster import files each student under the course's section whose code
  is the Canvas section's name; a student of a section the course does not
  have is left out and reported, as the CSV import does with its rows.
- Reminders go to enrolled students without a valid GitHub username, as the
  email reminders do, through the Canvas inbox.
- The check-in grade is ``complete`` for a student with a valid GitHub
  username and a group, ``incomplete`` otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adminflow.contrib import canvas

from .envconfig import with_env_defaults
from .models import Section, Student

FROM_ENV = {"base_url": "CANVAS_URL", "token": "CANVAS_TOKEN"}


class ImportCanvasRoster(canvas.ImportCanvasRoster):
    config_types = with_env_defaults(canvas.ImportCanvasRoster.config_types, **FROM_ENV)
    record_type = Student
    login_id_field = None  # the NetID is the login id (match_on: login_id)
    section_field = None  # a Section row, set below

    def new_records(
        self,
        curr_records: list[Student],
        logger: Callable[..., Any],
        get_metadata: Callable[[str], Any],
        set_metadata: Callable[[str, Any], None],
    ) -> list[Student]:
        self.sections = {section.code: section for section in Section.objects.all()}
        return super().new_records(curr_records, logger, get_metadata, set_metadata)

    def copy(self, student: canvas.CanvasStudent, record: Any) -> bool:
        section = self.sections.get(student.section)
        if section is None:
            known = ", ".join(sorted(self.sections)) or "none yet; create sections first"
            raise canvas.StudentProblem(
                f"section '{student.section}' is not a section of the course (known: {known})"
            )
        changed = super().copy(student, record)
        if record.section_id != section.pk:
            record.section = section
            changed = True
        return changed


class ReadQuizUsernames(canvas.ReadQuizUsernames):
    config_types = with_env_defaults(canvas.ReadQuizUsernames.config_types, **FROM_ENV)


class SyncCanvasGroups(canvas.SyncCanvasGroups):
    config_types = with_env_defaults(canvas.SyncCanvasGroups.config_types, **FROM_ENV)


class RemindOnCanvas(canvas.MessageStudents):
    description = (
        "Message enrolled students who have no valid GitHub username through the Canvas inbox, "
        "at most once per repeat_hours"
    )
    config_types = with_env_defaults(canvas.MessageStudents.config_types, **FROM_ENV)

    def is_due(self, record: Student) -> bool:
        return record.is_enrolled and not record.github_username_valid


class PostCheckInGrades(canvas.PostGrades):
    description = (
        "Post the check-in assignment's grade to Canvas: complete once a student has a valid "
        "GitHub username and a group"
    )
    config_types = with_env_defaults(canvas.PostGrades.config_types, **FROM_ENV)

    def grade_for(self, record: Student) -> str | None:
        done = record.github_username_valid and record.group_code
        return "complete" if done else "incomplete"
