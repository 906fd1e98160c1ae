"""The admin of plans: the list of plans, each plan's page, its buttons and CSV exports.

A plan is reviewed here: its record diff, its intents grouped by step and
action, searched and paged on the server. Approve (with the boxes of the
intents and records left unticked deselected), Reject and Apply each call
the run service (:mod:`adminflow.runs.plans`), which decides: a refusal
(not approved, expired, stale records, already applied, the planner on a
two-person flow) is shown as the service words it, and nothing changes;
the page asks the service too which buttons to offer.

Plans are written by runs only. Seeing one needs the permission to view
runs; approving, rejecting and applying need ``adminflow.approve_flowrun``.
Every view sees only the plans of flows the user may see
(:mod:`adminflow.access`): another flow's plan is absent from the list and
answered as one that does not exist, and no button acts on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import AdminSite
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..engine import AdminflowError
from ..models import Flow, FlowRun, Plan, PlanQuerySet
from ..runs import apply_plan, apply_refusal, approval_refusal, approve_plan, reject_plan
from ..runs.workers import no_worker_warning
from ..states import FlowRunStatus, PlanState, Trigger
from .display import admin_url, change_link, missing_object, read_only_page, status_badge
from .list_filters import VisibleFlowFilter
from .plan_page import (
    INTENT_CSV_HEADER,
    INTENTS_PAGE_SIZE,
    RECORD_CSV_HEADER,
    RECORDS_PAGE_SIZE,
    PlanFilter,
    csv_response,
    diff_row,
    intent_csv_rows,
    intent_groups,
    record_counts,
    record_csv_rows,
    selection,
    state_line,
)
from .read_only import ReadOnlyModelAdmin

APPROVE_PERMISSION = "adminflow.approve_flowrun"
VIEW_PERMISSIONS = ("adminflow.view_flowrun", "adminflow.change_flowrun")


class PlanAdmin(ReadOnlyModelAdmin):
    list_display = ["plan", "flow", "state_badge", "planned_by", "created_at", "expires_at"]
    list_filter = ["state", ("run__flow", VisibleFlowFilter), "created_at"]
    list_select_related = ["run__flow", "planned_by"]
    search_fields = ["run__flow__name", "reason"]
    show_full_result_count = False
    plan_template = "admin/adminflow/plan/plan.html"

    class Media:
        css: dict[str, Sequence[str]] = {
            "all": ["adminflow/adminflow.css", "adminflow/run.css", "adminflow/plan.css"]
        }

    # Permissions: seen with the runs, written by runs only, acted on by approvers.

    def has_view_permission(self, request: HttpRequest, obj: Plan | None = None) -> bool:
        return any(request.user.has_perm(name) for name in VIEW_PERMISSIONS)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        """Return whether the user may approve, reject and apply plans."""
        return request.user.has_perm(APPROVE_PERMISSION)

    # The changelist

    @admin.display(description=gettext_lazy("plan"), ordering="run")
    def plan(self, obj: Plan) -> str:
        return _("plan of run #%(run)s") % {"run": obj.run_id}

    @admin.display(description=gettext_lazy("flow"), ordering="run__flow__name")
    def flow(self, obj: Plan) -> str:
        return obj.run.flow.name

    @admin.display(description=gettext_lazy("state"), ordering="state")
    def state_badge(self, obj: Plan) -> str:
        return plan_badge(obj.state_at(timezone.now()))

    # The plan page, its buttons and exports

    def get_urls(self) -> list[URLPattern]:
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        urls = [
            path(
                f"<path:object_id>/{name}/",
                self.admin_site.admin_view(view),
                name=f"{info}_{name}",
            )
            for name, view in [
                ("approve", self.approve_view),
                ("reject", self.reject_view),
                ("apply", self.apply_view),
                ("intents_csv", self.intents_csv_view),
                ("records_csv", self.records_csv_view),
            ]
        ]
        # Before the default ones: their "<object_id>/" catch-all would swallow these.
        return urls + super().get_urls()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Plan]:
        # Only plans of flows the user may see (adminflow.access): the changelist, the plan
        # page, its exports and buttons all find their plan here.
        plans = cast(PlanQuerySet, super().get_queryset(request))  # Plan's default manager's
        return plans.visible_to(request.user)

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Plan | None:
        queryset = self.get_queryset(request).select_related(
            "run__flow", "planned_by", "approved_by", "rejected_by", "applied_by"
        )
        try:
            return queryset.get(pk=int(object_id))
        except (Plan.DoesNotExist, ValueError, OverflowError):
            return None

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Show the plan page: read-only for whoever may view runs."""
        return read_only_page(
            self,
            request,
            object_id,
            template=self.plan_template,
            context_of=self.plan_page_context,
            may_view=self.has_view_permission,
            extra_context=extra_context,
        )

    def plan_page_context(self, request: HttpRequest, plan: Plan) -> dict[str, Any]:
        """Return what the plan page shows: a fixed number of queries, whatever the plan's size."""
        now = timezone.now()
        shown = PlanFilter.from_query(request.GET)
        state = state_line(plan, now)
        intents = Paginator(shown.intents(plan), INTENTS_PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        records = Paginator(shown.records(plan), RECORDS_PAGE_SIZE).get_page(
            request.GET.get("records_page")
        )
        apply_runs = list(plan.apply_runs.order_by("pk").values_list("pk", "status")[:20])
        approver = self.has_approve_permission(request)
        reviewing = approver and state.state == PlanState.PENDING
        # Only the run service says who may approve (the two-person rule) and what may apply.
        refusal = approval_refusal(plan, request.user) if reviewing else None
        return {
            "title": _("Plan of %(run)s") % {"run": plan.run},
            "subtitle": None,
            "opts": self.opts,
            "original": plan,
            "plan": plan,
            "run": plan.run,
            "has_view_permission": True,
            "media": forms.Media(css=self.Media.css),
            "state": state,
            "state_badge": plan_badge(state.state),
            "run_link": change_link(self.admin_site, FlowRun, plan.run_id, f"#{plan.run_id}"),
            "flow_url": admin_url(self.admin_site, Flow, "change", plan.run.flow_id),
            "applied_run_link": change_link(
                self.admin_site, FlowRun, plan.applied_by_run_id, f"#{plan.applied_by_run_id}"
            )
            if plan.applied_by_run_id
            else None,
            "apply_runs": [
                (change_link(self.admin_site, FlowRun, pk, f"#{pk}"), status_badge(status))
                for pk, status in apply_runs
            ],
            "apply_failed": bool(apply_runs) and apply_runs[-1][1] == FlowRunStatus.FAILED,
            "filter": shown,
            "groups": intent_groups(plan),
            "record_counts": record_counts(plan),
            "intents": intents,
            "records": records,
            "diff_rows": [diff_row(record) for record in records],
            "intent_links": _page_links(request.GET, intents, "page", "intents"),
            "record_links": _page_links(request.GET, records, "records_page", "diff"),
            "export_query": urlencode(shown.as_query()),
            "reviewing": reviewing and refusal is None,
            "approve_refusal": refusal,
            "may_reject": approver and state.state in (PlanState.PENDING, PlanState.APPROVED),
            "may_apply": approver and apply_refusal(plan) is None,
            "urls": {name: self._plan_url(plan, name) for name in ("approve", "reject", "apply")},
            "csv_urls": {
                name: self._plan_url(plan, f"{name}_csv") for name in ("intents", "records")
            },
        }

    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Approve the plan, deselecting the intents and records whose box was left unticked."""

        def approve(plan: Plan) -> str:
            intents = selection(request.POST, "shown_intent", "intent")
            records = selection(request.POST, "shown_record", "record")
            approve_plan(
                plan.run, request.user, deselected_intents=intents, deselected_records=records
            )
            kept = plan.intents.filter(selected=True).count()
            return _(
                "The plan of run #%(run)s is approved: %(kept)d of its intents will be carried "
                "out when it is applied."
            ) % {"run": plan.run_id, "kept": kept}

        return self._act(request, object_id, approve)

    def reject_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Reject the plan: it can never be applied."""

        def reject(plan: Plan) -> str:
            reject_plan(plan.run, request.user)
            return _("The plan of run #%(run)s is rejected: it will never be applied.") % {
                "run": plan.run_id
            }

        return self._act(request, object_id, reject)

    def apply_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Queue the apply run of an approved plan, and go to it: its page follows it live."""
        applied: list[FlowRun] = []

        def apply(plan: Plan) -> str:
            run = apply_plan(plan.run, request.user, trigger=Trigger.ADMIN, execute="worker")
            applied.append(run)
            if warning := no_worker_warning([run]):
                messages.warning(request, warning)
            return format_html(
                _("Queued {} to apply the plan of run #{}."),
                change_link(self.admin_site, FlowRun, run.pk, f"run #{run.pk}"),
                plan.run_id,
            )

        response = self._act(request, object_id, apply)
        if applied:
            url = admin_url(self.admin_site, FlowRun, "change", applied[0].pk)
            if url is not None:
                return HttpResponseRedirect(url)
        return response

    def _act(
        self, request: HttpRequest, object_id: str, act: Callable[[Plan], str]
    ) -> HttpResponse:
        """Do one of the plan's buttons (POST, approvers only) and go back to the plan page;
        a refusal is said as the run service words it, and nothing changed."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (self.has_approve_permission(request) and self.has_view_permission(request)):
            raise PermissionDenied
        plan = self.get_object(request, unquote(object_id))
        if plan is None:
            return missing_object(self, request, object_id)
        try:
            said = act(plan)
        except AdminflowError as exc:
            self.message_user(
                request, _("Nothing was done: %(why)s.") % {"why": exc}, messages.ERROR
            )
        else:
            self.message_user(request, said, messages.SUCCESS)
        return HttpResponseRedirect(self._plan_url(plan))

    def intents_csv_view(self, request: HttpRequest, object_id: str) -> StreamingHttpResponse:
        """Download the intents the page's filter shows, every page of them, as CSV."""
        plan = self._viewed(request, object_id)
        intents = PlanFilter.from_query(request.GET).intents(plan)
        return csv_response(
            f"plan-{plan.run_id}-intents.csv", INTENT_CSV_HEADER, intent_csv_rows(intents)
        )

    def records_csv_view(self, request: HttpRequest, object_id: str) -> StreamingHttpResponse:
        """Download the record diff the page's search shows, one row per field, as CSV."""
        plan = self._viewed(request, object_id)
        records = PlanFilter.from_query(request.GET).records(plan)
        return csv_response(
            f"plan-{plan.run_id}-records.csv", RECORD_CSV_HEADER, record_csv_rows(records)
        )

    def _viewed(self, request: HttpRequest, object_id: str) -> Plan:
        if not self.has_view_permission(request):
            raise PermissionDenied
        plan = self.get_object(request, unquote(object_id))
        if plan is None:
            raise Http404(f"no plan with id {object_id!r}")
        return plan

    def _plan_url(self, plan: Plan, view: str = "change") -> str:
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return reverse(f"{self.admin_site.name}:{info}_{view}", args=[plan.pk])


def plan_note(admin_site: AdminSite, run: FlowRun) -> SafeString | None:
    """Return what a run's page says of its plan: the plan it made, or the one it applies.

    One query for a run that planned or applies a plan, none for another run.
    """
    plans = Plan.objects.only("pk", "run_id", "state", "expires_at")
    if run.applies_plan_id is not None:
        plan = plans.filter(pk=run.applies_plan_id).first()
        text = _("this run applies the plan of run #{}")
    elif run.status == FlowRunStatus.PLANNED:
        plan = plans.filter(run=run).first()
        text = _("review the plan this run made")
    else:
        return None
    if plan is None:
        return None
    label = format_html(text, plan.run_id)
    url = admin_url(admin_site, Plan, "change", plan.pk)
    link = format_html('<a href="{}" data-plan-link>{}</a>', url, label) if url else label
    return format_html("{} {}", link, plan_badge(plan.state_at(timezone.now())))


def plan_badge(state: str) -> str:
    """Return a plan's state as a badge, coloured as the run statuses are."""
    return format_html(
        '<span class="adminflow-badge plan-{}" data-plan-state="{}">{}</span>',
        state if state in PlanState.values else "unknown",
        state,
        PlanState(state).label if state in PlanState.values else state,
    )


def _page_links(query: Any, page: Any, name: str, anchor: str) -> dict[str, str | None]:
    def link(number: int) -> str:
        changed = query.copy()
        changed[name] = str(number)
        return f"?{changed.urlencode()}#{anchor}"

    return {
        "previous": link(page.previous_page_number()) if page.has_previous() else None,
        "next": link(page.next_page_number()) if page.has_next() else None,
    }
