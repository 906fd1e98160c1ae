"""The admin of runs: a read-only history, each run's page, its live endpoint and actions.

Runs are written by the run service only, so nobody adds, changes or
deletes them here. The change view is replaced by the run page (summary,
step timeline, DAG, errors, metadata, record changes, logs); while the run
is active its script polls :meth:`FlowRunAdmin.live_view`. Cancel, re-run
and resume each need their own permission, as changelist actions and as
POST buttons on the page (:mod:`.run_actions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import Model, QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from ..models import Flow, FlowRun, FlowRunQuerySet, RecordChange, StepRun
from ..states import RunPurpose
from .change_summary import change_summary
from .display import format_duration, missing_object, read_only_page, status_badge, waiting_note
from .graph import flow_graph_svg, graph_steps_of_step_runs
from .list_filters import VisibleFlowFilter
from .plan_admin import plan_note
from .read_only import ReadOnlyModelAdmin
from .run_actions import (
    LEGAL_STATES,
    RUN_ACTIONS,
    cancel_runs,
    rerun_runs,
    resume_runs,
    resume_runs_with_flow_config,
)
from .run_grid import grid_view
from .run_page import (
    CHANGES_PAGE_SIZE,
    LEVEL_CHOICES,
    LIVE_MAX_LINES,
    LogFilter,
    LogPage,
    change_row,
    config_yaml,
    line_json,
    live_payload,
    log_page,
    log_window,
    metadata_rows,
    parse_id,
    planned_steps,
    step_choices,
    timeline,
)
from .yaml_field import dump_yaml

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

LIVE_PARAMS = ("after", "first", "lines")
"""The live endpoint's own query parameters; the others are the page's (its log filter)."""

BUTTON_LABELS = {
    "cancel": _("Cancel run"),
    "rerun": _("Re-run with the same config"),
    "resume": _("Resume with this run's config"),
    "resume_flow": _("Resume with the flow's current config"),
}

APPLY_RESUME_LABEL = _("Resume the apply: carry out the intents not done")
PLAN_AGAIN_LABEL = _("Plan again with the same config")
NOT_FOR_APPLY = frozenset({"rerun", "resume_flow"})
"""An apply is never re-run, and resumes with its plan's config only (the run service)."""


class FlowRunAdmin(ReadOnlyModelAdmin):
    # Fits a 1280 px screen beside the sidebar and filters: debug goes with the status,
    # who with the trigger, the duration with the start, the record counts in one cell.
    list_display = ["id", "flow", "status_badge", "started", "trigger_who", "records"]
    # A date filter, not date_hierarchy: the hierarchy scans every run for its dates.
    list_filter = ["status", ("flow", VisibleFlowFilter), "trigger", "debug", "queued_at"]
    list_select_related = ["flow", "triggered_by"]
    search_fields = ["flow__name", "error", "worker"]
    search_help_text = _("Search by flow name, error or worker.")
    # The paginator's COUNT of the filtered runs is enough; skip a second over the whole table.
    show_full_result_count = False
    # Each returns the runs it acted on, for the run page's buttons (a re-run's goes to the
    # new run); the changelist ignores what an action returns unless it is a response.
    actions = [cancel_runs, rerun_runs, resume_runs, resume_runs_with_flow_config]  # type: ignore[list-item]
    run_template = "admin/adminflow/flowrun/run.html"
    state_template = "admin/adminflow/flowrun/includes/state.html"
    log_pager_template = "admin/adminflow/flowrun/includes/log_pager.html"

    class Media:
        css: dict[str, Sequence[str]] = {
            "all": ["adminflow/adminflow.css", "adminflow/run.css", "adminflow/records.css"]
        }

    # Permissions: read-only (ReadOnlyModelAdmin), plus one custom permission per action.

    def has_cancel_permission(self, request: HttpRequest, obj: FlowRun | None = None) -> bool:
        return self._has_run_permission(request, "cancel")

    def has_rerun_permission(self, request: HttpRequest, obj: FlowRun | None = None) -> bool:
        return self._has_run_permission(request, "rerun")

    def has_resume_permission(self, request: HttpRequest, obj: FlowRun | None = None) -> bool:
        return self._has_run_permission(request, "resume")

    def _has_run_permission(self, request: HttpRequest, action: str) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.{action}_{self.opts.model_name}")

    def _may_press(self, request: HttpRequest, button: str) -> bool:
        """Return whether the user has every permission of the action behind ``button``."""
        return all(
            getattr(self, f"has_{permission}_permission")(request)
            # Set by @admin.action, which django-stubs types as giving the function back unchanged.
            for permission in RUN_ACTIONS[button].allowed_permissions  # type: ignore[attr-defined]
        )

    # The changelist

    def get_queryset(self, request: HttpRequest) -> QuerySet[FlowRun]:
        # Only runs of flows the user may see (adminflow.access): the changelist, the run
        # page, its live endpoint and every action and button go through here.
        runs = cast(FlowRunQuerySet, super().get_queryset(request))  # FlowRun's default manager's
        return runs.visible_to(request.user).select_related("flow", "triggered_by")

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, run: FlowRun) -> str:
        if run.debug:
            return format_html(
                '{} <span class="adminflow-muted">debug</span>', status_badge(run.status)
            )
        return status_badge(run.status)

    @admin.display(description=_("started"), ordering="started_at")
    def started(self, run: FlowRun) -> str:
        """Return when the run started (the date in full on hover) and how long it took."""
        if run.started_at is None:
            return "—"
        return format_html(
            '<span title="{}">{}</span> <span class="adminflow-muted">· {}</span>',
            date_format(timezone.localtime(run.started_at), "DATETIME_FORMAT"),
            date_format(timezone.localtime(run.started_at), "SHORT_DATETIME_FORMAT"),
            format_duration(run.duration),
        )

    @admin.display(description=_("by"), ordering="trigger")
    def trigger_who(self, run: FlowRun) -> str:
        if run.triggered_by is None:
            return run.get_trigger_display()
        return format_html(
            '{} <span class="adminflow-muted">· {}</span>',
            run.get_trigger_display(),
            run.triggered_by,
        )

    @admin.display(description=_("records +/~/-"))
    def records(self, run: FlowRun) -> str:
        """Return the records added, changed and removed, as ``+4 ~5 -6``."""
        counts = (run.records_added, run.records_changed, run.records_removed)
        if all(count is None for count in counts):
            return "—"
        return format_html(
            '<span title="{}">+{} ~{} -{}</span>',
            _("added, changed, removed"),
            *(count or 0 for count in counts),
        )

    # The run page, its live endpoint and its buttons

    def get_urls(self) -> list[URLPattern]:
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        urls = [
            path(
                "<path:object_id>/live/",
                self.admin_site.admin_view(self.live_view),
                name=f"{info}_live",
            ),
            path(
                "<path:object_id>/grid/",
                self.admin_site.admin_view(self.grid_view),
                name=f"{info}_grid",
            ),
        ]
        urls += [
            path(
                f"<path:object_id>/{action}/",
                self.admin_site.admin_view(self.run_action_view),
                {"action": action},
                name=f"{info}_{action}",
            )
            for action in RUN_ACTIONS
        ]
        # Before the default ones: their "<object_id>/" catch-all would swallow these.
        return urls + super().get_urls()

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """Show the run page: read-only, whatever the user's permissions (a POST to it, as to
        the admin's own view-only change form, is a change, refused)."""
        return read_only_page(
            self,
            request,
            object_id,
            template=self.run_template,
            context_of=self.run_page_context,
            may_view=self.has_view_or_change_permission,
            extra_context=extra_context,
        )

    def live_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Return the run's status, its steps and its log lines after id ``after``, as JSON.

        ``log_step`` / ``log_level`` filter the lines as on the page;
        ``lines=0`` leaves them out. At most one page of lines is returned;
        ``more`` says whether to ask again at once. ``first`` is the page's
        first line, for its pager. Once the run is final and no line is
        left to send, the page's state part comes along, rendered.
        """
        run = self.get_object(request, unquote(object_id))
        if run is None:
            return JsonResponse({"error": f"no run with id {object_id!r}"}, status=404)
        if not self.has_view_or_change_permission(request, run):
            raise PermissionDenied
        request.current_app = self.admin_site.name
        page_query = request.GET.copy()
        for name in LIVE_PARAMS:
            page_query.pop(name, None)
        # The run before its lines: once it shows finished, every line is already written.
        steps = list(run.steps.all()) or planned_steps(run)
        page = pager_html = state_html = None
        if request.GET.get("lines") != "0":
            log_filter = LogFilter.from_query(request.GET)
            after = parse_id(request.GET.get("after")) or 0
            page = log_page(run, log_filter, after=after)
            first = parse_id(request.GET.get("first"))
            window = log_window(run, log_filter, page, first=first, after=after)
            links = self._log_links(page_query, window)
            pager_html = render_to_string(self.log_pager_template, {"log_links": links})
        if not run.is_active and (page is None or page.is_newest):
            context = self._state_context(request, run, steps, page_query)
            state_html = render_to_string(self.state_template, context, request=request)
        payload = live_payload(
            run, steps, page, timezone.now(), pager_html=pager_html, state_html=state_html
        )
        return JsonResponse(payload)

    def grid_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Show the run's records x steps grid (:mod:`.run_grid`)."""
        return grid_view(self, request, object_id)

    def run_action_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        """Apply a run page button (POST only) and go back to the run, or to the new run."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not (self._may_press(request, action) and self.has_view_or_change_permission(request)):
            raise PermissionDenied
        run = self.get_object(request, unquote(object_id))
        if run is None:
            return missing_object(self, request, object_id)
        done = RUN_ACTIONS[action](self, request, self.get_queryset(request).filter(pk=run.pk))
        target = done[0] if done and action != "cancel" else run
        return HttpResponseRedirect(self._run_url(target))

    def run_page_context(self, request: HttpRequest, run: FlowRun) -> dict[str, Any]:
        """Return what the run page shows: a fixed number of queries, whatever the run's size."""
        steps: list[StepRun] = list(run.steps.all()) or planned_steps(run)
        return {
            "title": str(run),
            "subtitle": None,
            "original": run,
            "has_view_permission": True,
            "media": forms.Media(css=self.Media.css, js=["adminflow/run.js"]),
            **self._state_context(request, run, steps, request.GET),
            **self._logs_context(request, run, steps),
        }

    def _state_context(
        self, request: HttpRequest, run: FlowRun, steps: list[StepRun], query: QueryDict
    ) -> dict[str, Any]:
        """Return what the page's state part (:attr:`state_template`) shows.

        The page and the live endpoint, once the run is final, both render
        that part from this, so they cannot show the finished run apart.
        """
        changes = Paginator(run.record_changes.order_by("id"), CHANGES_PAGE_SIZE).get_page(
            query.get("changes_page")
        )
        may_view_changes = self._may_view_changes(request)
        return {
            "opts": self.opts,
            "run": run,
            "flow_url": self._admin_url(Flow, "change", run.flow_id),
            "record_history_url": self._admin_url(RecordChange, "changelist")
            if may_view_changes
            else None,
            "status_badge": status_badge(run.status),
            "duration": format_duration(run.duration),
            "resumed_by": list(run.resumes.order_by("pk").values_list("pk", flat=True)[:20]),
            "waiting_note": waiting_note(run.status, run.worker),
            "config_yaml": config_yaml(run.config_snapshot),
            "overrides_yaml": dump_yaml(run.overrides) if run.overrides else "",
            "metadata": metadata_rows(run.metadata),
            "steps": steps,
            "timeline": timeline(run, steps, timezone.now()),
            "graph": flow_graph_svg(graph_steps_of_step_runs(steps)) if steps else "",
            "failed_steps": [step for step in steps if step.error or step.traceback],
            "changes": changes,
            "change_rows": [change_row(change) for change in changes],
            "changes_links": self._changes_links(query, changes),
            "change_summary": change_summary(self.admin_site, run, may_view=may_view_changes),
            "grid_url": self._run_url(run, "grid"),
            "buttons": self._buttons(request, run),
            "plan_note": plan_note(self.admin_site, run),
        }

    def _may_view_changes(self, request: HttpRequest) -> bool:
        """Return whether the user may open the list of record changes on this site."""
        site = self.admin_site
        return site.is_registered(RecordChange) and site.get_model_admin(
            RecordChange
        ).has_view_permission(request)

    def _logs_context(
        self, request: HttpRequest, run: FlowRun, steps: list[StepRun]
    ) -> dict[str, Any]:
        query = request.GET
        log_filter = LogFilter.from_query(query)
        after, before = parse_id(query.get("log_after")), parse_id(query.get("log_before"))
        # An active run opens on its newest lines, which the page then follows.
        newest = before is None and ("log_newest" in query or (after is None and run.is_active))
        page = log_page(run, log_filter, after=after, before=before, newest=newest)
        live_url = self._run_url(run, "live")
        if log_filter.as_query():
            live_url += f"?{urlencode(log_filter.as_query())}"
        return {
            "log_lines": [line_json(line) for line in page.lines],
            "log_filter": log_filter,
            "log_step_choices": step_choices(run, steps),
            "log_level_choices": LEVEL_CHOICES,
            "log_links": self._log_links(query, page),
            "live_url": live_url,
            "follow": run.is_active and page.is_newest,
            "log_cursor": page.lines[-1].id if page.lines else (after or 0),
            "log_max_lines": LIVE_MAX_LINES,
        }

    def _log_links(self, query: QueryDict, page: LogPage) -> dict[str, str | None]:
        cursors = ("log_after", "log_before", "log_newest")
        return {
            "oldest": _query(query, cursors, log_after="0") if page.older is not None else None,
            "older": _query(query, cursors, log_before=str(page.older))
            if page.older is not None
            else None,
            "newer": _query(query, cursors, log_after=str(page.newer))
            if page.newer is not None
            else None,
            "newest": _query(query, cursors, log_newest="1") if page.newer is not None else None,
        }

    def _changes_links(self, query: QueryDict, changes: Page) -> dict[str, str | None]:
        return {
            "previous": _query(query, (), changes_page=str(changes.previous_page_number()))
            if changes.has_previous()
            else None,
            "next": _query(query, (), changes_page=str(changes.next_page_number()))
            if changes.has_next()
            else None,
        }

    def _buttons(self, request: HttpRequest, run: FlowRun) -> list[dict[str, Any]]:
        """Return the action buttons the user may press on this run in its current state."""
        applies = run.purpose == RunPurpose.APPLY
        return [
            {
                "action": action,
                "label": _button_label(run, action),
                "url": self._run_url(run, action),
                "states": " ".join(sorted(LEGAL_STATES[action])),
            }
            for action in RUN_ACTIONS
            if run.status in LEGAL_STATES[action]
            and self._may_press(request, action)
            and not (applies and action in NOT_FOR_APPLY)
        ]

    def _admin_url(self, model: type[Model], view: str, *args: Any) -> str | None:
        """Return the URL of another model's admin view on this site, if it has one there."""
        if not self.admin_site.is_registered(model):
            return None
        opts = model._meta
        return reverse(
            f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_{view}", args=args
        )

    def _run_url(self, run: FlowRun, view: str = "change") -> str:
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return reverse(f"{self.admin_site.name}:{info}_{view}", args=[run.pk])


def _button_label(run: FlowRun, action: str) -> str | StrPromise:
    """Return a button's label, saying what it does for a plan or an apply."""
    if action == "rerun" and run.purpose == RunPurpose.PLAN:
        return PLAN_AGAIN_LABEL
    if action == "resume" and run.purpose == RunPurpose.APPLY:
        return APPLY_RESUME_LABEL
    return BUTTON_LABELS[action]


def _query(query: QueryDict, drop: tuple[str, ...], **updates: str) -> str:
    """Return ``query`` as a query string without ``drop``, with ``updates``."""
    changed = query.copy()
    for name in drop:
        changed.pop(name, None)
    for name, value in updates.items():
        changed[name] = value
    return f"?{changed.urlencode()}"
