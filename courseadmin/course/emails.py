"""The course's emails, rendered from the site's templates under ``templates/course/email/``.

Messages are built here and sent by the propagate step that decides whom to
write to (the staff summary) or by the task the reminder step queues
(:mod:`courseadmin.course.reminders`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.template.loader import get_template, render_to_string

from .models import Student


class Template(Protocol):
    """A template as ``get_template`` returns it, whichever engine the site uses."""

    def render(self, context: dict[str, Any] | None = None) -> str: ...


def _subject(template: Template, context: dict[str, Any]) -> str:
    # A subject must be one line, whatever the template's whitespace.
    return " ".join(template.render(context).split())


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


class ReminderPayload(TypedDict):
    """One username reminder as a task carries it: the student as the email shows them
    (``section`` is its code), and what is wrong with their username."""

    netid: str
    name: str
    email: str
    section: str
    problem: str


class ReminderWriter:
    """Write username reminders, text and HTML, from the site's templates.

    The templates are looked up once, when the writer is made, so a task
    reminding hundreds of students pays for the lookups once, not three
    times per student.
    """

    def __init__(self) -> None:
        self.subject = get_template("course/email/username_reminder_subject.txt")
        self.text = get_template("course/email/username_reminder.txt")
        self.html = get_template("course/email/username_reminder.html")

    def __call__(self, reminder: ReminderPayload) -> EmailMultiAlternatives:
        """Return the email of ``reminder``."""
        # The templates read student.name, .netid and .section.code, as of a Student.
        student = {
            "name": reminder["name"],
            "netid": reminder["netid"],
            "section": {"code": reminder["section"]},
        }
        context = {"student": student, "problem": reminder["problem"]}
        message = EmailMultiAlternatives(
            subject=_subject(self.subject, context),
            body=self.text.render(context),
            to=[reminder["email"]],
        )
        message.attach_alternative(self.html.render(context), "text/html")
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


def _shown(student: Student) -> dict[str, str]:
    """Return what the summary shows of ``student``, as a dict.

    Django's templates try ``student[name]`` before ``student.name``: on a
    model instance every lookup fails first, which made a summary listing
    20,000 students take over a second to render. On a dict the first try succeeds.
    """
    return {
        "name": student.name,
        "netid": student.netid,
        "email": student.email,
        "section": student.section.code,
    }


def staff_summary(summary: RunSummary, recipients: list[str]) -> EmailMessage:
    """Return the summary email to the course staff."""
    context = {
        "summary": summary,
        "added": [_shown(student) for student in summary.added],
        "dropped": [_shown(student) for student in summary.dropped],
        "returned": [_shown(student) for student in summary.returned],
        "reminded": [_shown(student) for student in summary.reminded],
        "groups_formed": [
            (code, [student.name for student in members]) for code, members in summary.groups_formed
        ],
    }
    return EmailMessage(
        subject=_subject(get_template("course/email/staff_summary_subject.txt"), context),
        body=render_to_string("course/email/staff_summary.txt", context),
        to=recipients,
    )
