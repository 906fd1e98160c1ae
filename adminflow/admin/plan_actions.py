"""Plan a flow from the admin: the flows' changelist action and the flow page's button.

Planning only queues a planning run (:func:`adminflow.runs.plan_run` with
``execute="worker"``), executed by a task worker like every admin run. Once
it ends ``planned``, its run page links to the plan page for review. A flow
whose propagate steps have not opted in to plans is refused, naming them,
and nothing is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..engine import AdminflowError
from ..models import Flow, FlowRun
from ..runs import NotOptedIn, plan_run
from ..runs.workers import no_worker_warning
from ..states import Trigger
from .display import change_url, missing_object

if TYPE_CHECKING:
    from .flow_admin import FlowAdmin


def queue_plans(
    modeladmin: FlowAdmin, request: HttpRequest, queryset: QuerySet[Flow]
) -> list[FlowRun]:
    """Queue a planning run of each flow and say, per flow, what became of it; warn once
    if the runs wait for a task worker and none was seen lately."""
    queued = []
    for row in queryset:
        try:
            run = plan_run(row, trigger=Trigger.ADMIN, user=request.user, execute="worker")
        except NotOptedIn as exc:
            modeladmin.message_user(
                request,
                format_html("Flow “{}” cannot be planned: {}.", row.name, exc),
                messages.ERROR,
            )
            continue
        except AdminflowError as exc:
            modeladmin.message_user(request, *modeladmin.refusal(row, exc, verb="planned"))
            continue
        queued.append(run)
        modeladmin.message_user(
            request,
            format_html(
                "Queued {} to plan flow “{}”: nothing is done until its plan is approved "
                "and applied. Its page links to the plan once it is ready.",
                modeladmin.run_link(run.pk, f"run #{run.pk}"),
                row.name,
            ),
            messages.SUCCESS,
        )
    if warning := no_worker_warning(queued):
        modeladmin.message_user(request, warning, messages.WARNING)
    return queued


@admin.action(permissions=["run"], description=_("Plan selected flows (review before acting)"))
def plan_selected_flows(modeladmin: FlowAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    queue_plans(modeladmin, request, queryset)


def plan_flow_view(modeladmin: FlowAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """The flow page's Plan button (POST only): queue a planning run, and go to it."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not (modeladmin.has_run_permission(request) and modeladmin.has_view_permission(request)):
        raise PermissionDenied
    row = modeladmin.get_object(request, unquote(object_id))
    if row is None:
        return missing_object(modeladmin, request, object_id)
    queued = queue_plans(modeladmin, request, Flow.objects.filter(pk=row.pk))
    target = queued and change_url(modeladmin.admin_site, FlowRun, queued[0].pk)
    flow_page = reverse(f"{modeladmin.admin_site.name}:adminflow_flow_change", args=[row.pk])
    return HttpResponseRedirect(target or flow_page)
