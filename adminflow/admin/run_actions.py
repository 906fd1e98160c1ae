"""The run admin's actions: cancel, re-run with the same config, resume with either config.

A failed run resumes with its own config, or with its flow's current stored
config (for a run that failed on a config corrected since); the message
naming the new run says which config it uses.

Each is an admin action (``@admin.action`` with its own permission, offered
on the changelist) and also behind a POST button on the run page, which
calls the same function on a one-run queryset. A run not in a state the
action allows (:data:`adminflow.states.CANCELLABLE`, ``RERUNNABLE``,
``RESUMABLE``, the rules the models enforce) is left alone with a message
saying why; so is one the run service refuses (a disabled flow, a flow that
already has an active run, a secret that cannot be restored), and the
service then writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..engine import AdminflowError
from ..models import ConfigSource, FlowRun
from ..runs import cancel_run, rerun_run, resume_run
from ..runs.service import ResumeConfig
from ..runs.workers import no_worker_warning
from ..states import CANCELLABLE, RERUNNABLE, RESUMABLE, Trigger

if TYPE_CHECKING:
    from .run_admin import FlowRunAdmin


@admin.action(permissions=["cancel"], description=gettext_lazy("Cancel selected runs"))
def cancel_runs(
    modeladmin: FlowRunAdmin, request: HttpRequest, queryset: QuerySet[FlowRun]
) -> list[FlowRun]:
    """Cancel the selected queued or running runs; return those cancelled or asked to stop."""
    done = []
    for run in _each(modeladmin, request, queryset, CANCELLABLE, _("cancelled")):
        try:
            cancel_run(run)
        except AdminflowError as exc:  # it finished meanwhile
            modeladmin.message_user(request, str(exc), messages.ERROR)
            continue
        done.append(run)
        if run.is_active:
            text = _("Run {} was asked to stop: it stops at its worker's next heartbeat.")
        else:
            text = _("Run {} was cancelled before it started.")
        modeladmin.message_user(
            request, format_html(text, _run_link(modeladmin, run)), messages.SUCCESS
        )
    return done


@admin.action(
    permissions=["rerun"], description=gettext_lazy("Re-run selected runs with the same config")
)
def rerun_runs(
    modeladmin: FlowRunAdmin, request: HttpRequest, queryset: QuerySet[FlowRun]
) -> list[FlowRun]:
    """Queue a new run of each selected finished run's flow, with that run's config.

    Secrets masked in the run's snapshot are restored from the flow's
    stored config (:func:`adminflow.runs.config.config_of_run`).
    """

    def rerun(run: FlowRun) -> FlowRun:
        return rerun_run(run, user=request.user, trigger=Trigger.ADMIN, execute="worker")

    return _queue_each(
        modeladmin, request, queryset, RERUNNABLE, _("re-run"), rerun, _("a re-run of")
    )


@admin.action(
    permissions=["resume"],
    description=gettext_lazy("Resume selected failed runs with their own config"),
)
def resume_runs(
    modeladmin: FlowRunAdmin, request: HttpRequest, queryset: QuerySet[FlowRun]
) -> list[FlowRun]:
    """Queue a run that picks up where each selected failed run stopped, with its config."""
    return _resume_each(modeladmin, request, queryset, "run")


@admin.action(
    permissions=["resume"],
    description=gettext_lazy("Resume selected failed runs with the flow's current config"),
)
def resume_runs_with_flow_config(
    modeladmin: FlowRunAdmin, request: HttpRequest, queryset: QuerySet[FlowRun]
) -> list[FlowRun]:
    """Queue a run that picks up where each selected failed run stopped, with its flow's
    stored config as it is now."""
    return _resume_each(modeladmin, request, queryset, "flow")


RUN_ACTIONS = {
    "cancel": cancel_runs,
    "rerun": rerun_runs,
    "resume": resume_runs,
    "resume_flow": resume_runs_with_flow_config,
}
"""The run page's buttons, by the name in their URL; each needs its action's permissions."""

LEGAL_STATES = {
    "cancel": CANCELLABLE,
    "rerun": RERUNNABLE,
    "resume": RESUMABLE,
    "resume_flow": RESUMABLE,
}


def _resume_each(
    modeladmin: FlowRunAdmin,
    request: HttpRequest,
    queryset: QuerySet[FlowRun],
    config: ResumeConfig,
) -> list[FlowRun]:
    def resume(run: FlowRun) -> FlowRun:
        return resume_run(
            run, user=request.user, trigger=Trigger.ADMIN, execute="worker", config=config
        )

    return _queue_each(
        modeladmin, request, queryset, RESUMABLE, _("resumed"), resume, _("resuming")
    )


def _queue_each(
    modeladmin: FlowRunAdmin,
    request: HttpRequest,
    queryset: QuerySet[FlowRun],
    legal: frozenset[str],
    verb: str,
    queue: Callable[[FlowRun], FlowRun],
    relation: str,
) -> list[FlowRun]:
    """Queue a new run for each run in a legal state and send it to the Tasks backend;
    warn once if the new runs wait for a task worker and none was seen lately."""
    queued = []
    for run in _each(modeladmin, request, queryset, legal, verb):
        try:
            new_run = queue(run)
        except AdminflowError as exc:
            modeladmin.message_user(
                request, _("Run {} was not {}: {}").format(run.pk, verb, exc), messages.ERROR
            )
            continue
        queued.append(new_run)
        modeladmin.message_user(
            request,
            format_html(
                _("Run {} queued, {} run {}; it uses {}."),
                _run_link(modeladmin, new_run),
                relation,
                _run_link(modeladmin, run),
                _config_used(modeladmin, new_run),
            ),
            messages.SUCCESS,
        )
    if warning := no_worker_warning(queued):
        modeladmin.message_user(request, warning, messages.WARNING)
    return queued


def _each(
    modeladmin: FlowRunAdmin,
    request: HttpRequest,
    queryset: QuerySet[FlowRun],
    legal: frozenset[str],
    verb: str,
) -> list[FlowRun]:
    """Return the selected runs in a legal state; say why each other one is left alone."""
    runs = []
    for run in queryset.select_related("flow").order_by("pk"):
        if run.status in legal:
            runs.append(run)
            continue
        *others, last = sorted(legal)
        allowed = _("{} or {}").format(", ".join(others), last) if others else last
        modeladmin.message_user(
            request,
            _("Run {} of flow '{}' is {}: only {} runs can be {}; nothing was done.").format(
                run.pk, run.flow.name, run.status, allowed, verb
            ),
            messages.WARNING,
        )
    return runs


def _config_used(modeladmin: FlowRunAdmin, run: FlowRun) -> str:
    """Return which config the new ``run`` uses, as the end of a sentence."""
    if run.config_source == ConfigSource.RUN and run.config_from is not None:
        return format_html(_("the config of run {}"), _run_link(modeladmin, run.config_from))
    return run.get_config_source_display()


def _run_link(modeladmin: FlowRunAdmin, run: FlowRun) -> str:
    url = reverse(f"{modeladmin.admin_site.name}:adminflow_flowrun_change", args=[run.pk])
    return format_html('<a href="{}">{}</a>', url, run)
