"""Message students through Canvas conversations (the Canvas inbox), instead of email.

Each message has a ``name``; when a student was sent it is recorded under
that name in a mapping field (``outcome_field``), so a rerun does not send it
again, unless ``repeat_hours`` is set and that many hours have passed while
the student is still due (:meth:`MessageStudents.is_due`, every enrolled
student by default; a site overrides it, e.g. "has no GitHub username").

Messages with the same subject and body go in one request of up to 100
recipients (``POST /conversations`` with ``group_conversation`` false: a
private conversation with each, in the course's context); a body naming the
student (``{name}``) is one request per student.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from canvasapi.util import combine_kwargs

from adminflow import AdminPropagateStep

from .base import CANVAS_CONFIG, is_active
from .changes import Change, ChangeStep, Report, chunks, refusal_is_outcome
from .session import CanvasSession

MAX_RECIPIENTS = 100
"""Canvas's default cap on recipients of a conversation that is not a group conversation."""


def _now() -> datetime:
    return datetime.now(UTC)


class MessageStudents(ChangeStep, AdminPropagateStep[Any]):
    description = (
        "Send due students a message through Canvas conversations; record when each was sent."
    )
    config_types = [
        *CANVAS_CONFIG,
        ("name", str, "a name for the message; who was sent it is recorded under it"),
        ("subject", str, "the subject"),
        ("body", str, "the text; {name} is replaced by the student's name"),
        ("repeat_hours", float, "send again after this many hours while due; 0 sends once", 0.0),
    ]
    actions = ("send_message",)
    summary = "Canvas messages"

    name_field: ClassVar[str] = "name"
    """Read: the student's name, for ``{name}``."""
    outcome_field: ClassVar[str] = "canvas_messages"
    """Written: a mapping of message name -> when it was sent (ISO 8601), or failed."""

    def validate(self) -> None:
        super().validate()
        for key in ("name", "subject", "body"):
            if not getattr(self.configs, key).strip():
                raise ValueError(f"{key} may not be blank")
        if self.configs.repeat_hours < 0:
            raise ValueError(f"repeat_hours may not be negative, got {self.configs.repeat_hours}")

    def is_due(self, record: Any) -> bool:
        """Return whether ``record`` should get the message (before the repeat rule)."""
        return is_active(record)

    def sent_long_ago(self, sent: str | None, now: datetime) -> bool:
        if not sent or sent.startswith("failed"):
            return True
        repeat = self.configs.repeat_hours
        return bool(repeat) and now - datetime.fromisoformat(sent) >= timedelta(hours=repeat)

    def changes(
        self, records: list[tuple[Any, threading.Lock]], logger: Callable[..., Any]
    ) -> list[Change]:
        now, configs = _now(), self.configs
        changes = []
        for record, lock in records:
            with lock:
                user_id = getattr(record, self.user_id_field)
                sent = (getattr(record, self.outcome_field) or {}).get(configs.name)
                if user_id is None or not self.is_due(record) or not self.sent_long_ago(sent, now):
                    continue
                key = str(getattr(record, self.key_field))
                body = configs.body.replace("{name}", getattr(record, self.name_field) or "")
            changes.append(
                Change(
                    key,
                    "send_message",
                    {
                        "name": configs.name,
                        "user_id": user_id,
                        "subject": configs.subject,
                        "body": body,
                    },
                    f"message {key} on Canvas: {configs.subject}",
                )
            )
        return changes

    def marks(self, record: Any, change: Change, outcome: str) -> dict[str, Any]:
        messages = dict(getattr(record, self.outcome_field) or {})
        messages[change.params["name"]] = outcome
        return {self.outcome_field: messages}

    def send_message(self, session: CanvasSession, changes: list[Change], report: Report) -> None:
        """Send the messages, one request per subject and body and 100 recipients."""
        alike: dict[tuple[str, str], list[Change]] = {}
        for change in changes:
            alike.setdefault((change.params["subject"], change.params["body"]), []).append(change)
        context = f"course_{session.course().id}"
        for (subject, body), same in alike.items():
            for batch in chunks(same, MAX_RECIPIENTS):
                refusal_is_outcome(
                    batch,
                    report,
                    lambda b=batch, s=subject, t=body: self.send(session, context, s, t, b, report),
                )

    @staticmethod
    def send(
        session: CanvasSession,
        context: str,
        subject: str,
        body: str,
        batch: list[Change],
        report: Report,
    ) -> None:
        recipients = [str(change.params["user_id"]) for change in batch]
        # canvasapi's Canvas.create_conversation, through the run's requester.
        fields = combine_kwargs(
            recipients=recipients,
            subject=subject,
            body=body,
            force_new=True,
            group_conversation=False,
            context_code=context,
        )
        action = batch[0].line if len(batch) == 1 else f"message {len(batch)} students: {subject}"
        session.write(
            action,
            lambda: session.requester.request("POST", "conversations", _kwargs=fields),
        )
        sent = _now().isoformat(timespec="seconds")
        for change in batch:
            report(change, sent)
