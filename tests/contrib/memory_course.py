"""An in-memory course for the integration libraries' tests: a storer over a list of students.

Shared by the GitHub and Canvas tests, whose flows load a course's students
and store them back without a database.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol

from adminflow import RecordStorer


class Course(Protocol):
    students: list[Any]


def storer_for(course: Course) -> type[RecordStorer[Any]]:
    """Return a storer class that loads copies of the course's students and stores them back."""

    class CourseStorer(RecordStorer[Any]):
        description = "the course's students, in memory"

        def get_records(self, logger: Any) -> list[Any]:
            return copy.deepcopy(course.students)

        def set_records(self, rec_list: list[Any], logger: Any, debug: bool = False) -> None:
            if not debug:
                course.students = copy.deepcopy(rec_list)

    return CourseStorer
