"""Post grades, or a completion mark, to a Canvas assignment in bulk.

Grades go through Canvas's bulk endpoint ("Grade or comment on multiple
submissions": ``POST .../submissions/update_grades``), which queues a job
and answers with a Progress object; the step polls it (``GET
/progress/:id``) every ``poll_interval`` seconds until it is ``completed``
or ``failed``. A student's posted grade is recorded under the assignment's
id in a mapping field (``outcome_field``), so a rerun posts only grades
that changed, and a failed batch is posted again next time.

Each student's grade is an intent of its own, so a plan lists them one by
one and one may be left out; an apply posts the approved ones in bulk,
``batch_size`` to a request (see :mod:`.intents`).

What is posted is :meth:`PostGrades.grade_for` a student: ``completion``
for every enrolled student when it is set (a completion mark), else the
student's own ``grade_field``; a site overrides it for its own rule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, ClassVar

from canvasapi.assignment import Assignment

from adminflow import AdminPropagateStep, Intent
from adminflow.engine.steps import Logger

from .base import CANVAS_CONFIG, is_active
from .errors import CanvasUnavailable
from .intents import CanvasIntents, Report, failed, refusal_is_outcome
from .session import CanvasSession

FINISHED = ("completed", "failed")


class PostGrades(CanvasIntents, AdminPropagateStep[Any]):
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
    summary = "grades"
    batch_size = 100
    """Grades per bulk request: one job's failure costs a hundred grades at most."""

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

    def plan_records(
        self,
        records: list[tuple[Any, threading.Lock]],
        logger: Logger,
        get_metadata: Callable[[str], Any],
    ) -> list[Intent]:
        """Intend a grade for each enrolled student whose grade differs from the one posted."""
        assignment = self.configs.assignment_id
        intents = []
        for record, lock in records:
            with lock:
                user_id = getattr(record, self.user_id_field)
                grade = self.grade_for(record) if is_active(record) else None
                recorded = dict(getattr(record, self.outcome_field) or {})
                key = str(getattr(record, self.key_field))
            if user_id is None or grade is None or grade == recorded.get(str(assignment)):
                continue
            params = {
                "assignment_id": assignment,
                "user_id": user_id,
                "grade": grade,
                "recorded": recorded,
            }
            line = f"post grade {grade} for {key} to assignment {assignment}"
            intents.append(Intent("post-grade", line, params, record=record))
        return self.planned(intents, logger)

    def batch_key(self, intent: Intent) -> Hashable:
        return intent.params["assignment_id"]

    def marks(self, intent: Intent, outcome: str) -> dict[str, Any]:
        """Record the outcome under the assignment, beside the grades posted before."""
        grades = {**intent.params["recorded"], str(intent.params["assignment_id"]): outcome}
        return {self.outcome_field: grades}

    def send(self, session: CanvasSession, intents: list[Intent], report: Report) -> None:
        """Post a batch's grades (one assignment's) in one bulk request; wait until done."""
        assignment_id = intents[0].params["assignment_id"]
        course = session.course()
        assignment: Assignment = session.not_found(
            "assignment_id",
            f"assignment {assignment_id}",
            lambda: course.get_assignment(assignment_id),
            f"read assignment {assignment_id}",
        )
        refusal_is_outcome(
            intents, report, lambda: self.post_batch(session, assignment, intents, report)
        )

    def post_batch(
        self, session: CanvasSession, assignment: Assignment, batch: list[Intent], report: Report
    ) -> None:
        grade_data = {str(i.params["user_id"]): {"posted_grade": i.params["grade"]} for i in batch}
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
        for intent in batch:
            if progress.workflow_state == "completed":
                report(intent, intent.params["grade"])
            else:
                report(intent, failed(f"Canvas's job failed: {progress.message or 'no reason'}"))
