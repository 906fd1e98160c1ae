"""The roster storer: the course's students, stored by adminflow as they change.

Groups are not records of any flow: they follow from the students. An update
step (AssignGroups) may change students only, so it forms a group by giving
students a new ``group_code``; this storer then creates the ``Group`` rows
those codes name, in the same transaction that stores the students. So the
group table never disagrees with what was stored, and a run whose storer is
in debug mode, or that stores nothing, creates no groups either.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import models, transaction

from adminflow.storage import DjangoRecordStorer

from .models import Group, Student

Logger = Callable[[str], None]


class Roster(DjangoRecordStorer[Student]):
    description = "The course's students, keyed by NetID; creates the groups they name"
    model = Student
    key_field = "netid"
    # A student missing from the roster is kept as dropped: to staff, that is a removal,
    # and a dropped student back on it is re-enrolled (the run page's change summary).
    enrolment_field = "status"
    enrolled_value = Student.Status.ENROLLED.value

    def get_queryset(self) -> models.QuerySet[Student]:
        # Steps read each student's section code; loading it here saves a query per student.
        return Student.objects.select_related("section")

    def set_records(self, rec_list: list[Student], logger: Logger, debug: bool = False) -> None:
        with transaction.atomic(using=self.layout.db):
            super().set_records(rec_list, logger, debug=debug)
            self.create_groups(rec_list, logger, debug=debug)

    def create_groups(self, students: list[Student], logger: Logger, debug: bool = False) -> None:
        """Create a ``Group`` row for each code an enrolled student carries that has none."""
        sections = {s.group_code: s.section_id for s in students if s.is_enrolled and s.group_code}
        existing = set(Group.objects.filter(code__in=sections).values_list("code", flat=True))
        missing = sorted(set(sections) - existing)
        if not missing:
            return
        if debug:
            logger(f"debug: would create groups {', '.join(missing)}")
            return
        Group.objects.bulk_create(
            [Group(code=code, section_id=sections[code]) for code in missing],
            ignore_conflicts=True,  # a concurrent run of another roster flow may create one too
        )
        logger(f"created groups {', '.join(missing)}")
