"""The course's emails, rendered from the site's templates under ``templates/course/email/``.

Messages are built here and sent by the propagate steps, which decide whom
to write to and record what was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.template.loader import render_to_string

from .models import Student


def _subject(template: str, context: dict[str, Any]) -> str:
    # A subject must be one line, whatever the template's whitespace.
    return " ".join(render_to_string(template, context).split())


def default_mailer() -> BaseEmailBackend:
    """Return a connection to the site's default email backend.

    Django 6.1 replaced ``get_connection()`` with ``mailers``; drop the
    fallback when Django 5.2 support ends.
    """
    try:
        from django.core.mail import mailers
    except ImportError:
        from django.core.mail import get_connection

        return get_connection()
    return mailers.default


def username_reminder(student: Student, problem: str) -> EmailMultiAlternatives:
    """Return the reminder to ``student``, whose username has ``problem``; text and HTML."""
    context = {"student": student, "problem": problem}
    message = EmailMultiAlternatives(
        subject=_subject("course/email/username_reminder_subject.txt", context),
        body=render_to_string("course/email/username_reminder.txt", context),
        to=[student.email],
    )
    message.attach_alternative(
        render_to_string("course/email/username_reminder.html", context), "text/html"
    )
    return message


@dataclass
class RunSummary:
    """What one roster run did, as the staff summary reports it."""

    added: list[Student] = field(default_factory=list)
    dropped: list[Student] = field(default_factory=list)
    returned: list[Student] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    reminded: list[Student] = field(default_factory=list)
    groups_formed: list[tuple[str, list[Student]]] = field(default_factory=list)
    usernames_missing: int | None = None
    usernames_invalid: int | None = None
    enrolled_by_section: list[tuple[str, int]] = field(default_factory=list)

    def has_news(self) -> bool:
        """Return whether this run changed anything staff should hear about.

        Skipped rows alone are no news: a bad row the registrar keeps exporting
        would otherwise email staff on every run. They are logged at ERROR on
        every run, and listed in every summary that is sent.
        """
        return any([self.added, self.dropped, self.returned, self.reminded, self.groups_formed])


def staff_summary(summary: RunSummary, recipients: list[str]) -> EmailMessage:
    """Return the summary email to the course staff."""
    context = {"summary": summary}
    return EmailMessage(
        subject=_subject("course/email/staff_summary_subject.txt", context),
        body=render_to_string("course/email/staff_summary.txt", context),
        to=recipients,
    )
