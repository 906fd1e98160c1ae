"""Post grades, or a completion mark, to a Canvas assignment in bulk.

Grades go through Canvas's bulk endpoint ("Grade or comment on multiple
submissions": ``POST .../submissions/update_grades``), which queues a job
and answers with a Progress object; the step polls it (``GET
/progress/:id``) every ``poll_interval`` seconds until it is ``completed``
or ``failed``. A student's posted grade is recorded under the assignment's
id in a mapping field (``outcome_field``), so a rerun posts only grades
that changed, and a failed batch is posted again next time.

What is posted is :meth:`PostGrades.grade_for` a student: ``completion``
for every enrolled student when it is set (a completion mark), else the
student's own ``grade_field``; a site overrides it for its own rule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

from canvasapi.assignment import Assignment

from adminflow import AdminPropagateStep

from .base import CANVAS_CONFIG, is_active
from .changes import Change, ChangeStep, Report, chunks, failed, refusal_is_outcome
from .errors import CanvasUnavailable
from .session import CanvasSession

BULK_SIZE = 100
"""Students per bulk request: one job's failure costs a hundred grades at most."""
FINISHED = ("completed", "failed")


class PostGrades(ChangeStep, AdminPropagateStep[Any]):
    description = (
        "Post each enrolled student's grade (or a completion mark) to a Canvas assignment, "
        "in bulk, waiting for Canvas to finish each batch."
    )
    config_types = [
        *CANVAS_CONFIG,
        ("assignment_id", int, "the assignment: the number after /assignments/ in its address"),
        ("completion", str, "post this mark to every enrolled student; blank posts grades", ""),
        ("poll_interval", float, "seconds between two checks of a batch's progress", 1.0),
        ("progress_timeout", float, "seconds to wait for a batch before retrying", 300.0),
    ]
    actions = ("post_grade",)
    summary = "grades"

    grade_field: ClassVar[str] = "grade"
    """Read, unless ``completion`` is set: the grade to post; blank or None posts nothing."""
    outcome_field: ClassVar[str] = "canvas_grades"
    """Written: a mapping of assignment id -> the grade posted, or failed with the reason."""

    def validate(self) -> None:
        super().validate()
        if self.configs.assignment_id < 1:
            raise ValueError(
                f"assignment_id must be a Canvas assignment id, got {self.configs.assignment_id}"
            )
        if self.configs.poll_interval <= 0 or self.configs.progress_timeout <= 0:
            raise ValueError("poll_interval and progress_timeout must be positive")

    def grade_for(self, record: Any) -> str | None:
        """Return the grade to post for ``record`` (enrolled), or None to post none."""
        if self.configs.completion:
            return str(self.configs.completion)
        grade = getattr(record, self.grade_field, None)
        return None if grade is None or grade == "" else str(grade)

    def changes(
        self, records: list[tuple[Any, threading.Lock]], logger: Callable[..., Any]
    ) -> list[Change]:
        assignment = self.configs.assignment_id
        changes = []
        for record, lock in records:
            with lock:
                user_id = getattr(record, self.user_id_field)
                grade = self.grade_for(record) if is_active(record) else None
                posted = (getattr(record, self.outcome_field) or {}).get(str(assignment))
                key = str(getattr(record, self.key_field))
            if user_id is None or grade is None or grade == posted:
                continue
            changes.append(
                Change(
                    key,
                    "post_grade",
                    {"assignment_id": assignment, "user_id": user_id, "grade": grade},
                    f"post grade {grade} for {key} to assignment {assignment}",
                )
            )
        return changes

    def marks(self, record: Any, change: Change, outcome: str) -> dict[str, Any]:
        grades = dict(getattr(record, self.outcome_field) or {})
        grades[str(change.params["assignment_id"])] = outcome
        return {self.outcome_field: grades}

    def post_grade(self, session: CanvasSession, changes: list[Change], report: Report) -> None:
        """Post the grades in bulk, a batch at a time; each batch's outcome once it finished."""
        course = session.course()
        for assignment_id in dict.fromkeys(c.params["assignment_id"] for c in changes):
            assignment: Assignment = session.not_found(
                "assignment_id",
                f"assignment {assignment_id}",
                lambda a=assignment_id: course.get_assignment(a),
                f"read assignment {assignment_id}",
            )
            mine = [c for c in changes if c.params["assignment_id"] == assignment_id]
            for batch in chunks(mine, BULK_SIZE):
                refusal_is_outcome(
                    batch,
                    report,
                    lambda b=batch, a=assignment: self.post_batch(session, a, b, report),
                )

    def post_batch(
        self, session: CanvasSession, assignment: Assignment, batch: list[Change], report: Report
    ) -> None:
        grade_data = {str(c.params["user_id"]): {"posted_grade": c.params["grade"]} for c in batch}
        progress = session.write(
            f"post {len(batch)} grades to assignment {assignment.id}",
            lambda: assignment.submissions_bulk_update(grade_data=grade_data),
        )
        deadline = time.monotonic() + self.configs.progress_timeout
        while progress.workflow_state not in FINISHED:
            if time.monotonic() > deadline:
                # Posting a grade again is harmless: the retry posts the batch again.
                raise CanvasUnavailable(
                    f"Canvas did not finish posting {len(batch)} grades to assignment "
                    f"{assignment.id} within {self.configs.progress_timeout:g} s"
                )
            time.sleep(self.configs.poll_interval)
            session.read(f"check the progress of job {progress.id}", progress.query)
        for change in batch:
            if progress.workflow_state == "completed":
                report(change, change.params["grade"])
            else:
                report(change, failed(f"Canvas's job failed: {progress.message or 'no reason'}"))
