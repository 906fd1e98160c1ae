"""The production path: reminders sent through a real SMTP server on 127.0.0.1.

The server is aiosmtpd, started inside the test on a free port; Django's SMTP
backend talks to it exactly as it would to a university mail relay, and the
site's settings reach that backend from ``EMAIL_URL`` as in production.
"""

from __future__ import annotations

import email
import email.policy
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command

from adminflow.models import StepRun
from courseadmin.course.models import Reminder, Student
from courseadmin.mail import mail_settings
from tests.course.conftest import ROOT, run
from tests.factories import CourseStudentFactory

pytestmark = pytest.mark.django_db(transaction=True)

REFUSED = "refused@example.edu"


@dataclass
class MailSink:
    """An SMTP handler that keeps what it receives and refuses one recipient."""

    received: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == REFUSED:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(settings) -> Iterator[MailSink]:
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    email_url = f"smtp://{controller.hostname}:{controller.port}/?timeout=10"
    for name, value in mail_settings(email_url).items():
        setattr(settings, name, value)
    settings.DEFAULT_FROM_EMAIL = "course-staff@example.edu"
    try:
        yield sink
    finally:
        controller.stop()


def test_reminders_are_delivered_by_smtp_with_text_and_html_parts(sections, smtp_server):
    CourseStudentFactory(
        netid="ab1", name="Łucja Nowak", github_username="", section=sections["S03"]
    )

    flow_run = run("reminders")

    assert flow_run.status == "succeeded"
    ((sender, recipients, message),) = smtp_server.received
    assert (sender, recipients) == ("course-staff@example.edu", ["ab1@example.edu"])
    assert message["Subject"] == "Action needed: your GitHub username for section S03"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert text.splitlines()[0] == "Hello Łucja Nowak,"
    assert "<p>Hello Łucja Nowak,</p>" in html
    assert Student.objects.get(netid="ab1").last_reminded_at is not None


def test_a_refused_address_fails_the_step_but_the_reminders_sent_are_still_stored(
    sections, smtp_server
):
    CourseStudentFactory(netid="ok", github_username="")
    CourseStudentFactory(netid="refused", email=REFUSED, github_username="")

    flow_run = run("reminders")

    assert flow_run.status == "failed"
    assert [recipients for _sender, recipients, _message in smtp_server.received] == [
        ["ok@example.edu"]
    ]
    error = StepRun.objects.get(run=flow_run, name="remind-missing-usernames").error
    assert error.startswith(
        f"IntentsFailed: 1 of 2 intents failed: email refused <{REFUSED}>: "
        f"ReminderError: {{'{REFUSED}': (550, b'5.1.1 No such user here')}}"
    )
    reminded = dict(Student.objects.values_list("netid", "last_reminded_at"))
    assert reminded["ok"] is not None  # stored: a rerun must not email them twice
    assert reminded["refused"] is None  # so the next run tries again
    assert flow_run.metadata["reminded"] == ["ok", "refused"]  # whom it set out to remind


def test_a_queued_reminder_the_server_refuses_is_recorded_failed_with_the_servers_reply(
    sections, smtp_server, settings
):
    settings.TASKS = {**settings.TASKS, "default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    CourseStudentFactory(netid="ok", github_username="")
    CourseStudentFactory(netid="refused", email=REFUSED, github_username="")

    flow_run = run("reminders")
    assert flow_run.status == "succeeded"  # handed over: delivery is the worker's part
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    assert [recipients for _sender, recipients, _message in smtp_server.received] == [
        ["ok@example.edu"]
    ]
    outcomes = {r.netid: (r.outcome, r.error) for r in Reminder.objects.all()}
    assert outcomes == {
        "ok": ("sent", ""),
        "refused": ("failed", f"{{'{REFUSED}': (550, b'5.1.1 No such user here')}}"),
    }
    # Reminded as far as the step knows: the refusal waits, with the reply, for staff.
    assert Student.objects.filter(last_reminded_at__isnull=True).count() == 0


def test_the_site_takes_its_smtp_server_from_email_url():
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "from courseadmin.course.emails import default_mailer; m = default_mailer(); "
            "print(type(m).__module__, m.host, m.port, m.username, m.use_tls, "
            "s.COURSE_STAFF_EMAILS)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "courseadmin.settings",
            "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.edu:587",
            "COURSE_STAFF_EMAILS": "ta@example.edu,prof@example.edu",
        },
    ).stdout

    assert shown.split(" ", 5) == [
        "django.core.mail.backends.smtp",
        "smtp.example.edu",
        "587",
        "mailer",
        "True",
        "['ta@example.edu', 'prof@example.edu']\n",
    ]
