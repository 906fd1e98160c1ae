"""Username reminders go out through the Tasks queue, a batch to a task.

Building and sending thousands of emails takes longer than a flow's step
may: Django alone takes about a second to build 4,500 reminders. So the
reminder step only hands them over: :func:`queue_reminders` enqueues
:func:`send_reminders` once per ``REMINDERS_PER_TASK`` students on the
site's default Tasks backend, and the step records the task on each
student. A worker then sends each batch over one email connection and
writes each reminder's outcome as a :class:`~courseadmin.course.models.Reminder`
row, where staff see it.

A backend that runs a task as it is enqueued (the immediate backend) has
sent the batch by the time it is queued, so the outcome of each reminder is
known to the step then (:attr:`QueuedBatch.failed`).
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from adminflow.compat import TaskResultStatus, task

from . import emails
from .emails import ReminderPayload
from .models import Reminder, Student

REMINDERS_PER_TASK = 500
"""Students reminded by one task: a task's arguments stay small, and a worker's
connection to the mail server serves many messages."""


@dataclass
class QueuedBatch:
    """One batch of reminders as handed to the queue."""

    students: list[Student]
    task_id: str = ""
    """The task that carries the batch; empty if the queue refused it."""
    sent: bool = False
    """Whether the task ran already (a backend that runs tasks at once)."""
    failed: dict[str, str] = field(default_factory=dict)
    """NetID -> why its reminder was not sent: known only if the task ran, or was refused."""


def queue_reminders(due: Sequence[tuple[Student, str]]) -> Iterator[QueuedBatch]:
    """Queue a reminder to each student in ``due`` (with the problem of their username),
    ``REMINDERS_PER_TASK`` to a task; yield each batch once it is queued.

    A batch the queue refuses is yielded with every student failed and the
    reason; the batches after it are still tried.
    """
    for start in range(0, len(due), REMINDERS_PER_TASK):
        yield _queue_batch(due[start : start + REMINDERS_PER_TASK])


def _queue_batch(due: Sequence[tuple[Student, str]]) -> QueuedBatch:
    queued = QueuedBatch([student for student, _problem in due])
    try:
        result = send_reminders.enqueue([_payload(*each) for each in due])
    except Exception as exc:  # whatever the backend raises, the batch was not queued
        reason = f"could not be queued: {type(exc).__name__}: {exc}"
        queued.failed = dict.fromkeys((student.netid for student in queued.students), reason)
        return queued
    queued.task_id = str(result.id)
    if result.is_finished:
        queued.sent = True
        queued.failed = _failures(result, queued.students)
    return queued


def _payload(student: Student, problem: str) -> ReminderPayload:
    return {
        "netid": student.netid,
        "name": student.name,
        "email": student.email,
        "section": student.section.code,
        "problem": problem,
    }


def _failures(result: Any, students: list[Student]) -> dict[str, str]:
    """Return the reminders a task that already ran did not send, with the reasons."""
    if result.status == TaskResultStatus.SUCCESSFUL:
        return dict(result.return_value["failed"])
    error = result.errors[-1].traceback.strip().splitlines()[-1] if result.errors else "unknown"
    return dict.fromkeys((student.netid for student in students), f"the task failed: {error}")


@task(takes_context=True)
def send_reminders(context: Any, reminders: list[ReminderPayload]) -> dict[str, Any]:
    """Email each reminder over one connection; record each one's outcome as a Reminder row;
    return the NetIDs sent and, by NetID, why the others were not.

    An address the mail server refuses does not stop the others.
    """
    write = emails.ReminderWriter()
    sent: list[str] = []
    failed: dict[str, str] = {}
    try:
        with emails.default_mailer() as connection:
            for reminder in reminders:
                try:
                    connection.send_messages([write(reminder)])
                except (smtplib.SMTPException, OSError) as exc:
                    failed[reminder["netid"]] = str(exc)
                else:
                    sent.append(reminder["netid"])
    except (smtplib.SMTPException, OSError) as exc:  # no connection to the mail server at all
        done = {*sent, *failed}
        failed |= {r["netid"]: str(exc) for r in reminders if r["netid"] not in done}
    task_id = str(context.task_result.id)
    Reminder.objects.bulk_create(
        [
            Reminder(
                netid=reminder["netid"],
                email=reminder["email"],
                task_id=task_id,
                outcome=Reminder.Outcome.FAILED
                if reminder["netid"] in failed
                else Reminder.Outcome.SENT,
                error=failed.get(reminder["netid"], ""),
            )
            for reminder in reminders
        ],
        # A worker that ran the task before and died before it returned wrote them already.
        ignore_conflicts=True,
    )
    return {"sent": sent, "failed": failed}
