"""Message students through Canvas conversations (the Canvas inbox), instead of email.

Each message has a ``name``; when a student was sent it is recorded under
that name in a mapping field (``outcome_field``), so a rerun does not send it
again, unless ``repeat_hours`` is set and that many hours have passed while
the student is still due (:meth:`MessageStudents.is_due`, every enrolled
student by default; a site overrides it, e.g. "has no GitHub username").

Messages with the same subject and body go in one request of up to 100
recipients (``POST /conversations`` with ``group_conversation`` false: a
private conversation with each, in the course's context); a body naming the
student (``{name}``) is one request per student. Each student's message
is an intent of its own, carried out in those batches (see :mod:`.intents`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from canvasapi.util import combine_kwargs

from adminflow import AdminPropagateStep, Intent
from adminflow.engine.steps import Logger

from .base import CANVAS_CONFIG, is_active
from .intents import CanvasIntents, Report, refusal_is_outcome
from .session import CanvasSession


def _now() -> datetime:
    return datetime.now(UTC)


class MessageStudents(CanvasIntents, AdminPropagateStep[Any]):
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
    summary = "Canvas messages"
    batch_size = 100
    """Canvas's default cap on recipients of a conversation that is not a group conversation."""

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

    def plan_records(
        self,
        records: list[tuple[Any, threading.Lock]],
        logger: Logger,
        get_metadata: Callable[[str], Any],
    ) -> list[Intent]:
        """Intend a message for each student due one and not sent it (recently enough)."""
        now, configs = _now(), self.configs
        intents = []
        for record, lock in records:
            with lock:
                user_id = getattr(record, self.user_id_field)
                recorded = dict(getattr(record, self.outcome_field) or {})
                due = user_id is not None and self.is_due(record)
                if not due or not self.sent_long_ago(recorded.get(configs.name), now):
                    continue
                key = str(getattr(record, self.key_field))
                body = configs.body.replace("{name}", getattr(record, self.name_field) or "")
            params = {
                "name": configs.name,
                "user_id": user_id,
                "subject": configs.subject,
                "body": body,
                "recorded": recorded,
            }
            line = f"message {key} on Canvas: {configs.subject}"
            intents.append(Intent("message", line, params, record=record))
        return self.planned(intents, logger)

    def batch_key(self, intent: Intent) -> Hashable:
        """Messages alike (subject and body) go in one request."""
        return (intent.params["subject"], intent.params["body"])

    def marks(self, intent: Intent, outcome: str) -> dict[str, Any]:
        """Record the outcome under the message's name, beside the messages sent before."""
        return {self.outcome_field: {**intent.params["recorded"], intent.params["name"]: outcome}}

    def send(self, session: CanvasSession, intents: list[Intent], report: Report) -> None:
        """Send one conversation to a batch's recipients, privately to each."""
        context = f"course_{session.course().id}"
        params = intents[0].params
        recipients = [str(intent.params["user_id"]) for intent in intents]
        # canvasapi's Canvas.create_conversation, through the run's requester.
        fields = combine_kwargs(
            recipients=recipients,
            subject=params["subject"],
            body=params["body"],
            force_new=True,
            group_conversation=False,
            context_code=context,
        )
        action = (
            intents[0].line
            if len(intents) == 1
            else f"message {len(intents)} students: {params['subject']}"
        )

        def post() -> None:
            session.write(
                action,
                lambda: session.requester.request("POST", "conversations", _kwargs=fields),
            )
            sent = _now().isoformat(timespec="seconds")
            for intent in intents:
                report(intent, sent)

        refusal_is_outcome(intents, report, post)
