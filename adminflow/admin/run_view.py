"""The flow's run page (``<flow id>/run/``): run now, or run once with options.

A GET shows :class:`~.run_options.RunOptionsForm` filled with the stored
config. A POST with ``_run_now`` (the "Run" button of a flow's row or page)
queues a run with the stored config; any other POST queues one with the
options. Both go through :func:`adminflow.runs.start_run` (``execute=
"worker"``), which checks the config exactly as for any run: a refusal is
shown at the keys it names, and nothing is queued and no upload kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..engine import AdminflowError, FlowConfigError
from ..models import Flow, FlowRun
from ..runs import FlowAlreadyRunning, FlowDisabled, start_run
from ..runs.config import stored_config
from ..runs.workers import no_worker_warning
from ..states import Trigger
from .display import missing_object
from .flow_forms import built_flow
from .run_options import RunOptionsForm
from .run_uploads import remove_uploads, save_uploads

if TYPE_CHECKING:
    from .flow_admin import FlowAdmin

TEMPLATE = "admin/adminflow/flow/run.html"


def run_flow_view(modeladmin: FlowAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """Show the options of a run of one flow, or queue the run asked for."""
    row = modeladmin.get_object(request, unquote(object_id))
    if row is None:
        return missing_object(modeladmin, request, object_id)
    if not (
        modeladmin.has_view_or_change_permission(request, row)
        and modeladmin.has_run_permission(request)
    ):
        raise PermissionDenied
    if request.method == "POST" and "_run_now" in request.POST:
        return _run_now(modeladmin, request, row)
    flow, error = built_flow(row)
    form = None
    if flow is not None:
        base = stored_config(row, flow)
        form = RunOptionsForm(
            flow,
            base if isinstance(base, dict) else {},
            request.POST if request.method == "POST" else None,
            request.FILES if request.method == "POST" else None,
        )
        if request.method == "POST" and form.is_valid():
            run = _queue_with_options(modeladmin, request, row, form)
            if run is not None:
                return HttpResponseRedirect(_run_url(modeladmin, run))
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Run “{row.name}”",
        "subtitle": None,
        "opts": modeladmin.opts,
        "original": row,
        "form": form,
        "error": error,
        "media": modeladmin.media + form.media if form else modeladmin.media,
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, TEMPLATE, context)


def _run_now(modeladmin: FlowAdmin, request: HttpRequest, row: Flow) -> HttpResponse:
    """Queue a run with the stored config: to its page, or back here saying why not."""
    try:
        run = start_run(row, trigger=Trigger.ADMIN, user=request.user, execute="worker")
    except AdminflowError as exc:
        modeladmin.message_user(request, *refusal(modeladmin, row, exc))
        return HttpResponseRedirect(request.path)
    _say_queued(modeladmin, request, run)
    return HttpResponseRedirect(_run_url(modeladmin, run))


def _queue_with_options(
    modeladmin: FlowAdmin, request: HttpRequest, row: Flow, form: RunOptionsForm
) -> FlowRun | None:
    """Queue the run the form asks for; on a refusal show it on the form and keep no file."""
    saved = save_uploads(row.name, form.uploads())
    config, overrides = form.overrides(saved)
    debug = form.cleaned_data["debug"]
    if debug:
        overrides["debug"] = True
    if saved:
        overrides["uploaded"] = {key: _upload_name(form, key) for key in saved}
    try:
        run = start_run(
            row,
            trigger=Trigger.ADMIN,
            user=request.user,
            debug=debug,
            # Debug alone is no config of its own: the run then says it used the flow's.
            config=config if set(overrides) - {"debug"} else None,
            overrides=overrides,
            execute="worker",
        )
    except FlowConfigError as exc:
        remove_uploads(saved)
        form.show_problems(exc.problems)
        return None
    except AdminflowError as exc:
        remove_uploads(saved)
        form.add_error(None, refusal(modeladmin, row, exc)[0])
        return None
    _say_queued(modeladmin, request, run)
    return run


def refusal(
    modeladmin: FlowAdmin, row: Flow, exc: AdminflowError, *, verb: str = "run"
) -> tuple[SafeString, int]:
    """Return the message saying why ``row`` was not run (or ``verb``: planned), and its level."""
    if isinstance(exc, FlowAlreadyRunning):
        active = (
            modeladmin.run_link(exc.run_id, f"run #{exc.run_id}")
            if exc.run_id is not None
            else "started at the same time"
        )
        return format_html(
            "Flow “{}” was not {}: it already has an active run, {}. "
            "Wait for it to finish or cancel it.",
            row.name,
            verb,
            active,
        ), messages.WARNING
    if isinstance(exc, FlowDisabled):
        return format_html(
            "Flow “{}” was not {}: it is disabled. Enable it first.", row.name, verb
        ), messages.WARNING
    if isinstance(exc, FlowConfigError):
        return format_html(
            "Flow “{}” was not {}: its config has problems. Fix them on its page.<ul>{}</ul>",
            row.name,
            verb,
            format_html_join("", "<li>{}</li>", ((str(p),) for p in exc.problems)),
        ), messages.ERROR
    return format_html("Flow “{}” was not {}: {}", row.name, verb, exc), messages.ERROR


def _upload_name(form: RunOptionsForm, key: str) -> str:
    return form.uploads()[key].name or ""


def _say_queued(modeladmin: FlowAdmin, request: HttpRequest, run: FlowRun) -> None:
    with_options = " with this run's options" if run.overrides else ""
    modeladmin.message_user(
        request,
        format_html("Queued run #{} of flow “{}”{}.", run.pk, run.flow.name, with_options),
        messages.SUCCESS,
    )
    if warning := no_worker_warning([run]):
        modeladmin.message_user(request, warning, messages.WARNING)


def _run_url(modeladmin: FlowAdmin, run: FlowRun) -> str:
    return reverse(f"{modeladmin.admin_site.name}:adminflow_flowrun_change", args=[run.pk])


def run_url_name(modeladmin: Any) -> str:
    """Return the URL name of a flow's run page on ``modeladmin``'s site."""
    return f"{modeladmin.opts.app_label}_{modeladmin.opts.model_name}_run"
