"""Username reminders go out through the Tasks queue, a batch to a task.

Building and sending thousands of emails takes longer than a flow's step
may: Django alone takes about a second to build 4,500 reminders. So the
reminder step only hands them over: it plans one intent per reminder and
carries them out in batches of ``REMINDERS_PER_TASK`` (its ``batch_size``),
each batch :func:`queue_batch` enqueueing :func:`send_reminders` once on the
site's default Tasks backend; the step records the task on each student. A worker then sends each batch over one email connection and
writes each reminder's outcome as a :class:`~courseadmin.course.models.Reminder`
row, where staff see it.

A backend that runs a task as it is enqueued (the immediate backend) has
sent the batch by the time it is queued, so the outcome of each reminder is
known to the step then (:attr:`QueuedBatch.failed`).
"""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from adminflow.compat import TaskResultStatus, task

from . import emails
from .emails import ReminderPayload
from .models import Reminder

REMINDERS_PER_TASK = 500
"""Students reminded by one task: a task's arguments stay small, and a worker's
connection to the mail server serves many messages."""


@dataclass
class QueuedBatch:
    """One batch of reminders as handed to the queue."""

    netids: list[str]
    task_id: str = ""
    """The task that carries the batch; empty if the queue refused it."""
    sent: bool = False
    """Whether the task ran already (a backend that runs tasks at once)."""
    failed: dict[str, str] = field(default_factory=dict)
    """NetID -> why its reminder was not sent: known only if the task ran, or was refused."""


def queue_batch(reminders: Sequence[ReminderPayload]) -> QueuedBatch:
    """Queue one task to send ``reminders`` (at most ``REMINDERS_PER_TASK``); return the batch.

    A batch the queue refuses comes back with every reminder failed, and the reason.
    """
    queued = QueuedBatch([reminder["netid"] for reminder in reminders])
    try:
        result = send_reminders.enqueue(list(reminders))
    except Exception as exc:  # whatever the backend raises, the batch was not queued
        reason = f"could not be queued: {type(exc).__name__}: {exc}"
        queued.failed = dict.fromkeys(queued.netids, reason)
        return queued
    queued.task_id = str(result.id)
    if result.is_finished:
        queued.sent = True
        queued.failed = _failures(result, queued.netids)
    return queued


def _failures(result: Any, netids: list[str]) -> dict[str, str]:
    """Return the reminders a task that already ran did not send, with the reasons."""
    if result.status == TaskResultStatus.SUCCESSFUL:
        return dict(result.return_value["failed"])
    error = result.errors[-1].traceback.strip().splitlines()[-1] if result.errors else "unknown"
    return dict.fromkeys(netids, f"the task failed: {error}")


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
