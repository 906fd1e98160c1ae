"""Tell people when a run fails (or, if they ask, succeeds): by email, and through a signal.

A run's notice is decided when it finishes, in the process that ends it
(the worker, the cancelling request, the reaper). Failed runs are reported;
succeeded ones only to flows with ``notify_on_success``; cancelled ones never,
since someone chose to stop them. The email goes to the flow's
``notify_emails``; :data:`~adminflow.signals.run_notification` carries the same
notice to whatever else a site connects (chat, paging). Nothing here can
change a run: it is already finished, and sending errors are logged, on the
run's page and to the ``adminflow.notifications`` logger.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.mail import EmailMultiAlternatives
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse

from .conf import adminflow_settings
from .models import Flow, FlowRun, Plan, RunLog
from .signals import run_notification, send_robust
from .states import FlowRunStatus, StepRunStatus
from .validators import parse_recipients

logger = logging.getLogger("adminflow.notifications")

TEMPLATES = "adminflow/email/run_notification"
"""Where the notice's templates live: ``<this>_subject.txt``, ``<this>.txt``, ``<this>.html``.

A site overrides them like any app template, from its own templates directory.
"""

# What each notice-worthy ending is called in the notice, the signal and the run log.
_NOTICE_NAMES = {"failed": "failure notice", "succeeded": "success notice"}


@dataclass(frozen=True)
class RunNotice:
    """One run's notice, rendered: what the email says and what the signal carries."""

    event: str
    subject: str
    text: str
    html: str
    link: str | None
    recipients: list[str]


def notify_run_finished(sender: Any, run: FlowRun, **kwargs: Any) -> None:
    """Send ``run``'s notice if its ending calls for one (a ``flow_run_finished`` receiver)."""
    if run.status not in (FlowRunStatus.FAILED, FlowRunStatus.SUCCEEDED):
        return
    # Read now, not from the run's cached row: recipients may have changed while it ran.
    flow = Flow.objects.get(pk=run.flow_id)
    event = notice_event(run, flow)
    if event is None:
        return
    notice = build_notice(run, flow, event)
    if notice.recipients:
        send_notice_email(run, flow, notice)
    send_robust(
        run_notification,
        run,
        event=notice.event,
        subject=notice.subject,
        message=notice.text,
        link=notice.link,
        recipients=notice.recipients,
    )


def notice_event(run: FlowRun, flow: Flow) -> str | None:
    """Return ``"failed"`` or ``"succeeded"`` if ``run`` is to be reported, else None."""
    if run.status == FlowRunStatus.FAILED:
        return "failed"
    if run.status == FlowRunStatus.SUCCEEDED and flow.notify_on_success:
        return "succeeded"
    return None


def build_notice(run: FlowRun, flow: Flow, event: str) -> RunNotice:
    """Render ``run``'s notice from the templates; the subject is always one line."""
    steps = run.steps.order_by("position")
    link = run_link(run, flow)
    context = {
        "run": run,
        "flow": flow,
        "event": event,
        "error": run.error,
        "failed_steps": list(steps.filter(status=StepRunStatus.FAILED)),
        "upstream_failed": list(
            steps.filter(status=StepRunStatus.UPSTREAM_FAILED).values_list("name", flat=True)
        ),
        "duration": run.duration,
        "trigger": run.get_trigger_display(),
        "link": link,
    }
    return RunNotice(
        event=event,
        subject=" ".join(render_to_string(f"{TEMPLATES}_subject.txt", context).split()),
        # Plain text, not SafeString: a receiver putting it into HTML must escape it.
        text=render_to_string(f"{TEMPLATES}.txt", context).strip() + "\n",
        html=render_to_string(f"{TEMPLATES}.html", context),
        link=link,
        recipients=parse_recipients(flow.notify_emails),
    )


def run_link(run: FlowRun, flow: Flow) -> str | None:
    """Return the address of ``run``'s admin page: absolute given ``SITE_URL``, else a path.

    Return None, and log why, if the admin site named by ``ADMIN_SITE`` has no
    page for runs: a notice without a link beats no notice.
    """
    return _page_link("flowrun", "run", run.pk, run, flow)


def plan_link(plan: Plan, run: FlowRun, flow: Flow) -> str | None:
    """Return the address of ``plan``'s admin page, where it is reviewed, as :func:`run_link`."""
    return _page_link("plan", "plan", plan.pk, run, flow)


def _page_link(model_name: str, noun: str, pk: int, run: FlowRun, flow: Flow) -> str | None:
    site = adminflow_settings.ADMIN_SITE
    try:
        path = reverse(f"{site}:adminflow_{model_name}_change", args=[pk])
    except NoReverseMatch as exc:
        logger.warning(
            "the notice of run %s of flow '%s' has no link to the %s's page: the admin "
            "site '%s' (ADMINFLOW['ADMIN_SITE']) has no page for %ss (%s)",
            run.pk,
            flow.name,
            noun,
            site,
            noun,
            exc,
        )
        return None
    return f"{adminflow_settings.SITE_URL.rstrip('/')}{path}"


def send_notice_email(run: FlowRun, flow: Flow, notice: RunNotice) -> None:
    """Email ``notice``: text, with an HTML alternative.

    The default email backend sends it, as for any other mail of the site. A
    failure of any kind (a refused address, a mail server that is down, a
    misconfigured backend) is logged and noted on the run's page, never raised.
    """
    name = _NOTICE_NAMES[notice.event]
    message = EmailMultiAlternatives(
        subject=notice.subject,
        body=notice.text,
        from_email=adminflow_settings.NOTIFY_FROM_EMAIL or None,
        to=notice.recipients,
    )
    message.attach_alternative(notice.html, "text/html")
    try:
        message.send()
    except Exception as exc:  # whatever the backend raises, the run is already over
        logger.exception(
            "could not email the %s of run %s of flow '%s' to %s",
            name,
            run.pk,
            flow.name,
            ", ".join(notice.recipients),
        )
        _log_on_run(run, logging.ERROR, f"could not send the {name}: {type(exc).__name__}: {exc}")
        return
    _log_on_run(run, logging.INFO, f"{name} sent to {', '.join(notice.recipients)}")


def _log_on_run(run: FlowRun, level: int, message: str) -> None:
    RunLog.objects.create(run_id=run.pk, step="", level=level, message=message)


def approvers_of(flow: Flow) -> list[str]:
    """Return who is told that a plan of ``flow`` awaits approval.

    The flow's notify list, if it has one; else every active user with an
    email who may approve plans (``adminflow.approve_flowrun``, directly, by a
    group, or as a superuser).
    """
    listed = parse_recipients(flow.notify_emails)
    if listed:
        return listed
    permission = Permission.objects.filter(
        content_type__app_label="adminflow", codename="approve_flowrun"
    ).first()
    holders = Q(is_superuser=True)
    if permission is not None:
        holders |= Q(user_permissions=permission) | Q(groups__permissions=permission)
    users = get_user_model().objects.filter(holders, is_active=True).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def notify_plan_awaits_approval(run: FlowRun, plan: Plan) -> None:
    """Tell the flow's approvers that a run stopped as a plan awaiting their approval.

    By email, and through :data:`~adminflow.signals.run_notification` with the
    event ``"approval"``; a sending error is logged on the run, never raised.
    """
    flow = run.flow
    link = plan_link(plan, run, flow)
    intents = plan.intents.count()
    subject = f"[adminflow] {flow.name}: run {run.pk} awaits approval"
    text = (
        f"Run {run.pk} of flow '{flow.name}' was planned and did nothing: {plan.reason}.\n"
        f"It would carry out {intents} outside actions and change "
        f"{plan.records.exclude(action='unchanged').count()} records.\n"
        f"Review it, then approve and apply it, or reject it"
        + (f": {link}" if link else ".")
        + f"\nThe plan expires at {plan.expires_at:%Y-%m-%d %H:%M %Z}.\n"
    )
    recipients = approvers_of(flow)
    if recipients:
        message = EmailMultiAlternatives(
            subject=subject,
            body=text,
            from_email=adminflow_settings.NOTIFY_FROM_EMAIL or None,
            to=recipients,
        )
        try:
            message.send()
        except Exception as exc:
            logger.exception("could not email the approval request of run %s", run.pk)
            _log_on_run(run, logging.ERROR, f"could not ask for approval: {exc}")
        else:
            _log_on_run(run, logging.INFO, f"approval asked of {', '.join(recipients)}")
    send_robust(
        run_notification,
        run,
        event="approval",
        subject=subject,
        message=text,
        link=link,
        recipients=recipients,
    )
