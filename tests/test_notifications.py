"""Failure notices: who is emailed when a run ends, what the email says, and the signal.

Mail goes through Django's test email backend (locmem), which the test runner
installs on both Django lines; ``mailoutbox`` is what it received. Runs execute
on real threads, so every test commits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import django
import pytest
from django.contrib.auth.models import Group, Permission
from django.core.checks import CheckMessage, run_checks
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from adminflow import AdminFlow
from adminflow.models import FlowRun, RunLog
from adminflow.notifications import approvers_of, notify_plan_awaits_approval
from adminflow.runs import cancel_run, execute_run, reap_stale_runs, start_run
from adminflow.signals import run_notification
from adminflow.states import FlowRunStatus, Trigger
from tests.admin.plan_helpers import made_plan
from tests.engine.helpers import WAIT, failing, make_storer, propagate_step, update_step
from tests.factories import FlowFactory, RunningFlowRunFactory, StepRunFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

STAFF = "head-ta@example.edu,\ninstructor@example.edu"
STAFF_LIST = ["head-ta@example.edu", "instructor@example.edu"]


class RefusingBackend(BaseEmailBackend):
    """An email backend whose mail server is down: every send raises."""

    def send_messages(self, email_messages: Any) -> int:
        raise ConnectionRefusedError(111, "Connection refused")


@pytest.fixture
def refusing_mail(settings: Any) -> None:
    backend = "tests.test_notifications.RefusingBackend"
    # Django 6.1 replaced EMAIL_BACKEND with MAILERS; drop the 5.2 branch with 5.2 support.
    if django.VERSION >= (6, 1):
        settings.MAILERS = {"default": {"BACKEND": backend}}
    else:
        settings.EMAIL_BACKEND = backend


@pytest.fixture
def notices() -> Iterator[list[dict[str, Any]]]:
    """Collect what ``run_notification`` receivers are given, one dict per notice."""
    received: list[dict[str, Any]] = []

    def receive(sender: Any, **kwargs: Any) -> None:
        received.append({"sender": sender, **kwargs})

    run_notification.connect(receive)
    try:
        yield received
    finally:
        run_notification.disconnect(receive)


def breaking_flow(name: str = "nightly-sync", error: str = "GitHub answered 502") -> AdminFlow:
    """Return a flow whose ``check-usernames`` step raises ``error``; ``assign-groups`` needs it."""
    flow = AdminFlow(name, "fails in the update phase", make_storer([1]), "records")
    flow.add_update_step("check-usernames", update_step(failing(error)))
    flow.add_update_step("assign-groups", update_step(), depends_on=["check-usernames"])
    flow.add_update_step("aside", update_step())
    flow.add_propagate_step("p", propagate_step())
    return flow


def working_flow(name: str = "nightly-sync") -> AdminFlow:
    flow = AdminFlow(name, "succeeds", make_storer([1, 2]), "records")
    flow.add_update_step("u", update_step())
    return flow


def run_flow(register: Any, flow: AdminFlow, **row: Any) -> FlowRun:
    """Register ``flow`` with a row holding ``row``'s fields, run it here and return the run."""
    register(flow)
    FlowFactory(name=flow.name, **row)
    run = execute_run(start_run(flow.name, trigger=Trigger.COMMAND))
    run.refresh_from_db()
    return run


def run_log(run: FlowRun) -> list[tuple[int, str]]:
    """Return the run-level lines (no step) of ``run``'s log: (level, message)."""
    return list(RunLog.objects.filter(run=run, step="").values_list("level", "message"))


def logged(caplog: Any, logger: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == logger]


def html_of(message: Any) -> str:
    ((html, mimetype),) = message.alternatives
    assert mimetype == "text/html"
    return html


# Failed runs


def test_a_failed_run_sends_one_email_with_the_error_the_failed_steps_and_a_link(
    register, mailoutbox, settings
):
    settings.ADMINFLOW = {"SITE_URL": "https://course.example.edu/"}

    run = run_flow(register, breaking_flow(), notify_emails=STAFF)

    assert run.status == FlowRunStatus.FAILED
    (message,) = mailoutbox
    assert message.to == STAFF_LIST
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert message.subject == f"[adminflow] nightly-sync run {run.pk} failed"
    link = f"https://course.example.edu/admin/adminflow/flowrun/{run.pk}/change/"
    assert message.body.startswith(
        f"Run {run.pk} of flow nightly-sync failed.\n\n"
        "Error:\nfailed steps: check-usernames\n\n"
        "Failed steps:\n  - check-usernames: RuntimeError: GitHub answered 502\n\n"
        "Not run, because a step they depend on failed: assign-groups\n\n"
        "Started by: Command\n"
    )
    assert message.body.endswith(f"\nThe run's page: {link}\n")
    html = html_of(message)
    assert "<pre>RuntimeError: GitHub answered 502</pre>" in html
    assert f'<a href="{link}">' in html
    assert run_log(run) == [
        (logging.INFO, "failure notice sent to head-ta@example.edu, instructor@example.edu")
    ]


def test_without_a_site_url_the_link_is_the_run_pages_path(register, mailoutbox):
    run = run_flow(register, breaking_flow(), notify_emails="ta@example.edu")

    (message,) = mailoutbox
    assert f"\nThe run's page: /admin/adminflow/flowrun/{run.pk}/change/\n" in message.body


def test_notices_come_from_notify_from_email_when_it_is_set(register, mailoutbox, settings):
    settings.ADMINFLOW = {"NOTIFY_FROM_EMAIL": "adminflow@course.example.edu"}

    run_flow(register, breaking_flow(), notify_emails="ta@example.edu")

    (message,) = mailoutbox
    assert message.from_email == "adminflow@course.example.edu"


def test_without_run_pages_on_the_admin_site_the_notice_has_no_link_and_says_why_in_the_log(
    register, mailoutbox, settings, caplog
):
    settings.ADMINFLOW = {"ADMIN_SITE": "staff-admin", "SITE_URL": "https://course.example.edu"}

    with caplog.at_level(logging.WARNING, logger="adminflow.notifications"):
        run = run_flow(register, breaking_flow(), notify_emails="ta@example.edu")

    (message,) = mailoutbox
    assert "The run's page" not in message.body
    assert "https://" not in message.body
    assert "href" not in html_of(message)
    (record,) = logged(caplog, "adminflow.notifications")
    assert record.getMessage().startswith(
        f"the notice of run {run.pk} of flow 'nightly-sync' has no link to the run's page: "
        "the admin site 'staff-admin' (ADMINFLOW['ADMIN_SITE']) has no page for runs"
    )


def test_a_multi_line_flow_name_still_gives_a_one_line_subject(register, mailoutbox):
    run_flow(register, breaking_flow(name="sync\nroster"), notify_emails="ta@example.edu")

    (message,) = mailoutbox
    assert "\n" not in message.subject
    assert message.subject.startswith("[adminflow] sync roster run ")


def test_an_error_with_markup_is_escaped_in_the_html_part_only(register, mailoutbox):
    error = "<script>alert('hi')</script>"

    run_flow(register, breaking_flow(error=error), notify_emails="ta@example.edu")

    (message,) = mailoutbox
    assert f"  - check-usernames: RuntimeError: {error}\n" in message.body
    html = html_of(message)
    assert "<script>" not in html
    assert "RuntimeError: &lt;script&gt;alert(&#x27;hi&#x27;)&lt;/script&gt;" in html


def test_a_reaped_run_sends_one_failure_notice(mailoutbox, settings):
    settings.ADMINFLOW = {"STALE_AFTER": 60}
    now = timezone.now()
    flow = FlowFactory(name="nightly-sync", notify_emails="ta@example.edu")
    stale = RunningFlowRunFactory(
        flow=flow, worker="box:4242", heartbeat_at=now - timedelta(seconds=61)
    )
    StepRunFactory(run=stale, name="import-roster", status="running")

    (reaped,) = reap_stale_runs(now)

    (message,) = mailoutbox
    assert message.subject == f"[adminflow] nightly-sync run {reaped.pk} failed"
    assert f"Error:\n{reaped.error}\n" in message.body
    assert "worker box:4242 stopped heartbeating" in reaped.error
    assert f"  - import-roster: {reaped.error}\n" in message.body
    assert reap_stale_runs(now) == []
    assert len(mailoutbox) == 1


def test_a_run_that_reaches_its_time_limit_sends_one_failure_notice(register, mailoutbox):
    cancel_event = threading.Event()
    flow = AdminFlow(
        "nightly-sync", "too slow", make_storer([1]), "records", default_config={"time_limit": 0.01}
    )
    # The step ends when the time limit cancels the run, which is what it waits for.
    flow.add_update_step("slow", update_step(lambda call: cancel_event.wait(WAIT)))
    flow.add_update_step("after", update_step(), depends_on=["slow"])
    register(flow)
    FlowFactory(name="nightly-sync", notify_emails="ta@example.edu")

    run = execute_run(
        start_run("nightly-sync", trigger=Trigger.SCHEDULE), cancel_event=cancel_event
    )

    assert run.status == FlowRunStatus.FAILED
    assert run.error.startswith("the run's time limit of ")
    assert "was reached while these steps were running: slow" in run.error
    (message,) = mailoutbox
    assert message.subject == f"[adminflow] nightly-sync run {run.pk} failed"
    assert f"Error:\n{run.error}\n" in message.body


# Succeeded, cancelled, no recipients


def test_a_succeeded_run_is_not_reported_unless_the_flow_asks(register, mailoutbox, notices):
    run = run_flow(register, working_flow(), notify_emails="ta@example.edu")

    assert run.status == FlowRunStatus.SUCCEEDED
    assert mailoutbox == []
    assert notices == []
    assert run_log(run) == []


def test_a_flow_that_asks_hears_of_successes_too(register, mailoutbox, notices):
    run = run_flow(register, working_flow(), notify_emails="ta@example.edu", notify_on_success=True)

    (message,) = mailoutbox
    assert message.subject == f"[adminflow] nightly-sync run {run.pk} succeeded"
    assert message.body.startswith(f"Run {run.pk} of flow nightly-sync succeeded.\n\nStarted by")
    assert "Records stored: 2\n" in message.body
    assert "Error" not in message.body
    assert [notice["event"] for notice in notices] == ["succeeded"]
    assert run_log(run) == [(logging.INFO, "success notice sent to ta@example.edu")]


def test_a_cancelled_run_is_not_reported(register, mailoutbox, notices):
    register(working_flow())
    FlowFactory(name="nightly-sync", notify_emails="ta@example.edu", notify_on_success=True)

    run = cancel_run(start_run("nightly-sync", trigger=Trigger.ADMIN))

    assert run.status == FlowRunStatus.CANCELLED
    assert mailoutbox == []
    assert notices == []


def test_without_recipients_no_email_is_sent_but_the_signal_still_fires(
    register, mailoutbox, notices
):
    run = run_flow(register, breaking_flow(), notify_emails="")

    assert mailoutbox == []
    (notice,) = notices
    assert notice["run"].pk == run.pk
    assert notice["recipients"] == []
    assert notice["event"] == "failed"
    assert run_log(run) == []


# The signal


def test_the_signal_carries_the_notice_that_was_emailed(register, mailoutbox, notices, settings):
    settings.ADMINFLOW = {"SITE_URL": "https://course.example.edu"}

    run = run_flow(register, breaking_flow(), notify_emails=STAFF)

    (message,) = mailoutbox
    (notice,) = notices
    assert notice["sender"] is FlowRun
    assert notice["run"].pk == run.pk
    assert notice["event"] == "failed"
    assert notice["subject"] == message.subject
    assert notice["message"] == message.body
    assert notice["link"] == f"https://course.example.edu/admin/adminflow/flowrun/{run.pk}/change/"
    assert notice["recipients"] == STAFF_LIST


def test_a_receiver_that_raises_is_logged_and_changes_nothing(
    register, mailoutbox, notices, caplog
):
    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("chat service down")

    run_notification.connect(broken)
    try:
        with caplog.at_level(logging.ERROR, logger="adminflow.runs"):
            run = run_flow(register, breaking_flow(), notify_emails="ta@example.edu")
    finally:
        run_notification.disconnect(broken)

    assert run.status == FlowRunStatus.FAILED
    assert run.error == "failed steps: check-usernames"
    assert len(mailoutbox) == 1
    assert len(notices) == 1  # the other receiver still heard it
    (record,) = logged(caplog, "adminflow.runs")
    assert record.getMessage().endswith(f"of an adminflow signal failed for run {run.pk}")
    assert str(record.exc_info[1]) == "chat service down"


def test_an_email_backend_that_fails_is_logged_on_the_run_and_changes_nothing(
    register, refusing_mail, notices, caplog
):
    with caplog.at_level(logging.ERROR, logger="adminflow.notifications"):
        run = run_flow(register, breaking_flow(), notify_emails=STAFF)

    assert run.status == FlowRunStatus.FAILED
    assert run.error == "failed steps: check-usernames"
    (record,) = logged(caplog, "adminflow.notifications")
    assert record.getMessage() == (
        f"could not email the failure notice of run {run.pk} of flow 'nightly-sync' to "
        "head-ta@example.edu, instructor@example.edu"
    )
    assert isinstance(record.exc_info[1], ConnectionRefusedError)
    assert run_log(run) == [
        (
            logging.ERROR,
            "could not send the failure notice: ConnectionRefusedError: "
            "[Errno 111] Connection refused",
        )
    ]
    assert [notice["event"] for notice in notices] == ["failed"]


# adminflow.W003


def notification_warnings(**kwargs: Any) -> list[CheckMessage]:
    return [m for m in run_checks(**kwargs) if m.id == "adminflow.W003"]


def test_flows_with_recipients_but_no_site_url_are_warned_that_links_are_paths():
    FlowFactory(name="nightly-sync", notify_emails="ta@example.edu")
    FlowFactory(name="grade-export", notify_emails="ta@example.edu")
    FlowFactory(name="quiet")

    (warning,) = notification_warnings(databases=["default"])

    assert not warning.is_serious()
    assert warning.msg == (
        "flows grade-export, nightly-sync email run notices, but ADMINFLOW['SITE_URL'] is "
        "blank: their links to the run pages will be paths without the site's address"
    )
    assert "ADMINFLOW['SITE_URL']" in warning.hint


def test_a_site_url_or_no_recipients_needs_no_warning(settings):
    FlowFactory(name="quiet")
    assert notification_warnings(databases=["default"]) == []

    FlowFactory(name="nightly-sync", notify_emails="ta@example.edu")
    assert notification_warnings() == []  # rows are only read when a database is given
    settings.ADMINFLOW = {"SITE_URL": "https://course.example.edu"}
    assert notification_warnings(databases=["default"]) == []


def test_approvers_are_the_notify_list_else_every_active_user_who_may_approve(
    django_user_model,
):
    approve = Permission.objects.get(codename="approve_flowrun")
    django_user_model.objects.create_superuser("root", "root@uni.edu", "x")
    direct = django_user_model.objects.create_user("direct", "direct@uni.edu", "x")
    direct.user_permissions.add(approve)
    grouped = django_user_model.objects.create_user("grouped", "grouped@uni.edu", "x")
    approvers = Group.objects.create(name="approvers")
    approvers.permissions.add(approve)
    grouped.groups.add(approvers)
    gone = django_user_model.objects.create_user("gone", "gone@uni.edu", "x", is_active=False)
    gone.user_permissions.add(approve)
    django_user_model.objects.create_user("staff", "staff@uni.edu", "x", is_staff=True)
    flow = FlowFactory()

    assert approvers_of(flow) == ["direct@uni.edu", "grouped@uni.edu", "root@uni.edu"]

    flow.notify_emails = "head-ta@uni.edu"
    assert approvers_of(flow) == ["head-ta@uni.edu"]


def test_a_plan_awaiting_approval_links_its_plan_page_where_it_is_reviewed(
    mailoutbox, notices, settings
):
    settings.ADMINFLOW = {"SITE_URL": "https://course.example.edu/"}
    plan = made_plan(flow=FlowFactory(notify_emails="head-ta@uni.edu"), intents=3, records=2)

    notify_plan_awaits_approval(plan.run, plan)

    link = f"https://course.example.edu/admin/adminflow/plan/{plan.pk}/change/"
    (message,) = mailoutbox
    assert f"approve and apply it, or reject it: {link}\n" in message.body
    assert "/flowrun/" not in message.body
    (notice,) = notices
    assert (notice["event"], notice["link"]) == ("approval", link)


def test_without_plan_pages_on_the_admin_site_the_plan_notice_has_no_link_and_says_why(
    mailoutbox, settings, caplog
):
    settings.ADMINFLOW = {"ADMIN_SITE": "staff-admin", "SITE_URL": "https://course.example.edu"}
    plan = made_plan(flow=FlowFactory(notify_emails="head-ta@uni.edu"))

    with caplog.at_level(logging.WARNING, logger="adminflow.notifications"):
        notify_plan_awaits_approval(plan.run, plan)

    (message,) = mailoutbox
    assert "https://" not in message.body
    assert "approve and apply it, or reject it.\n" in message.body
    (record,) = logged(caplog, "adminflow.notifications")
    assert "has no link to the plan's page: the admin site 'staff-admin'" in record.getMessage()
