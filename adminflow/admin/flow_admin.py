"""The Flow admin: each flow with its last and active run, run actions, config editing.

Running a flow from here only queues it and hands it to the Tasks framework
(:func:`adminflow.runs.start_run` with ``execute="worker"``),
which sends it once the transaction commits: a flow never runs inside the
web request. A queued run that no task worker took, while none was seen
lately (:mod:`adminflow.runs.workers`), is said to wait: at once by the
action, then on the flow's row and page.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import cache, partial
from typing import TYPE_CHECKING, Any, TypedDict, cast

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_permission_codename
from django.db.models import OuterRef, QuerySet, Subquery
from django.forms import Field
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _

from ..engine import AdminflowError
from ..models import Flow, FlowQuerySet, FlowRun
from ..registry import flow_registry
from ..runs import start_run
from ..runs.workers import last_worker_seen, no_worker_warning
from ..states import Trigger
from .display import change_link, format_duration, status_badge, waiting_note
from .flow_forms import FlowForm, built_flow, is_data_defined, stored_spec
from .flow_schedule import ScheduleColumns, ScheduledFilter, last_scheduled_run_annotations
from .graph import flow_graph_svg, graph_steps_of_flow
from .plan_actions import plan_flow_view, plan_selected_flows
from .run_view import refusal, run_flow_view, run_url_name
from .secrets import config_sections, masked, secret_keys, spec_sections
from .yaml_field import YAMLField, dump_yaml

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

CONFIG_HELP = _(
    "The config runs use, in the YAML that runflow --config reads; leave it empty to use "
    "the flow's default. Secrets are shown as ********: leave the mask as it is to keep "
    "the stored secret."
)
SCHEDULE_HELP = _(
    "Runs start on schedule when <code>manage.py runflow --due</code> is called from cron "
    "every minute, or while <code>manage.py flowscheduler</code> runs. Times already past "
    "when a schedule is switched on or changed are not run."
)
PLANS_HELP = _(
    "A planned run records what it would do, for review; it acts only once its plan is "
    "approved and applied. Approvers need the “Can approve, reject and apply plans” "
    "permission."
)

ACCESS_HELP = _("Changed by superusers and by staff who may change groups.")
SPEC_HELP = _(
    "For a flow defined as data: its storer and steps, by registered type name, "
    "with depends_on and optional inline config."
)


def may_grant_access(request: HttpRequest) -> bool:
    """Return whether the user may change which groups see a flow: superusers, and staff who
    may change groups (they decide what each group may do already)."""
    return request.user.is_superuser or request.user.has_perm("auth.change_group")


def queue_runs(
    modeladmin: FlowAdmin, request: HttpRequest, queryset: QuerySet[Flow], *, debug: bool
) -> None:
    """Queue a run of each selected flow and say, per flow, what became of it; warn once
    if the queued runs wait for a task worker and none was seen lately."""
    queued = []
    for row in queryset:
        try:
            run = start_run(
                row, trigger=Trigger.ADMIN, user=request.user, debug=debug, execute="worker"
            )
        except AdminflowError as exc:
            modeladmin.message_user(request, *refusal(modeladmin, row, exc))
            continue
        queued.append(run)
        modeladmin.message_user(
            request,
            format_html(
                "Queued {} of flow “{}”{}.",
                modeladmin.run_link(run.pk, f"run #{run.pk}"),
                row.name,
                " in debug mode" if debug else "",
            ),
            messages.SUCCESS,
        )
    if warning := no_worker_warning(queued):
        modeladmin.message_user(request, warning, messages.WARNING)


@admin.action(permissions=["run"], description=_("Run selected flows"))
def run_selected_flows(modeladmin: FlowAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    queue_runs(modeladmin, request, queryset, debug=False)


@admin.action(permissions=["run"], description=_("Run selected flows in debug mode"))
def debug_run_selected_flows(
    modeladmin: FlowAdmin, request: HttpRequest, queryset: QuerySet
) -> None:
    queue_runs(modeladmin, request, queryset, debug=True)


class RunColumns(TypedDict):
    """What :meth:`FlowAdmin.get_queryset` gives each flow of its active and latest
    finished runs (:func:`_run_subquery`)."""

    last_run_id: int | None
    last_run_status: str | None
    last_run_started_at: datetime | None
    last_run_finished_at: datetime | None
    active_run_id: int | None
    active_run_status: str | None
    active_run_worker: str | None


if TYPE_CHECKING:
    FlowRow = WithAnnotations[Flow, RunColumns]


def _run_subquery(field: str, *, active: bool) -> Subquery:
    """Return one field of a flow's active run, or of its latest finished run."""
    runs = FlowRun.objects.filter(flow=OuterRef("pk"))
    if active:
        # At most one (a constraint says so), found through that constraint's partial
        # index; ordering it would make the database walk the flow's whole history.
        return Subquery(runs.active().order_by().values(field)[:1])
    return Subquery(runs.finished().order_by("-queued_at", "-id").values(field)[:1])


class FlowAdmin(ScheduleColumns, admin.ModelAdmin):
    form = FlowForm
    # Fits a 1280 px screen: the schedule's next and last runs are folded into one column.
    # Fits the room a 1280 px screen leaves between the admin's sidebar and filters: the
    # active and last runs share a column, as do the schedule's parts; "enabled" is the
    # filter's, and a disabled flow says so where its Run button would be.
    list_display = ["name", "short_description", "recent_runs", "schedule_summary", "run_buttons"]
    list_filter = ["enabled", ScheduledFilter]
    search_fields = ["name", "description"]
    actions = [run_selected_flows, debug_run_selected_flows, plan_selected_flows]
    readonly_fields = [
        "active_run",
        "config_template",
        "steps_picture",
        "shown_config",
        "shown_spec",
        "next_run",
        "last_scheduled_run",
        "created_at",
        "updated_at",
    ]

    change_form_template = "admin/adminflow/flow/change_form.html"
    filter_horizontal = ["access_groups"]

    class Media:
        css = {"all": ["adminflow/adminflow.css"]}
        js = ["adminflow/flow_form.js"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Flow]:
        # One query for the whole page, however many runs each flow has; only the flows
        # the user may see (adminflow.access), in every view and action of this admin.
        flows = cast(FlowQuerySet, super().get_queryset(request))  # Flow's default manager's
        return flows.visible_to(request.user).annotate(
            last_run_id=_run_subquery("pk", active=False),
            last_run_status=_run_subquery("status", active=False),
            last_run_started_at=_run_subquery("started_at", active=False),
            last_run_finished_at=_run_subquery("finished_at", active=False),
            active_run_id=_run_subquery("pk", active=True),
            active_run_status=_run_subquery("status", active=True),
            active_run_worker=_run_subquery("worker", active=True),
            **last_scheduled_run_annotations(),
        )

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        changelist = super().get_changelist_instance(request)
        # One look at the workers for the whole page, and only if some flow's run waits.
        seen = cache(last_worker_seen)
        for row in changelist.result_list:
            row.last_worker_seen = seen
        return changelist

    def get_urls(self) -> list[URLPattern]:
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        run = path(
            "<path:object_id>/run/",
            self.admin_site.admin_view(self.run_view),
            name=run_url_name(self),
        )
        plan = path(
            "<path:object_id>/plan/",
            self.admin_site.admin_view(partial(plan_flow_view, self)),
            name=f"{info}_plan",
        )
        # Before the default ones: their "<object_id>/" catch-all would swallow them.
        return [run, plan, *super().get_urls()]

    def run_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Run a flow now, or once with options (:mod:`.run_view`)."""
        return run_flow_view(self, request, object_id)

    def get_list_display(self, request: HttpRequest) -> list[str | Callable[[Any], str | bool]]:
        shown = list(super().get_list_display(request))
        if not self.has_run_permission(request):
            shown.remove("run_buttons")
        return shown

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {"may_run": self.has_run_permission(request), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, context)

    def has_run_permission(self, request: HttpRequest) -> bool:
        """Return whether the user may run flows (``adminflow.run_flow``)."""
        codename = get_permission_codename("run", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def run_link(self, run_id: int, text: str) -> SafeString:
        return change_link(self.admin_site, FlowRun, run_id, text)

    def refusal(
        self, row: Flow, exc: AdminflowError, *, verb: str = "run"
    ) -> tuple[SafeString, int]:
        """Return the message saying why ``row`` was not run (or ``verb``), and its level."""
        return refusal(self, row, exc, verb=verb)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Flow | None = None,
    ) -> HttpResponse:
        # The page's Plan button, for who may run flows.
        if obj is not None and self.has_run_permission(request):
            info = f"{self.opts.app_label}_{self.opts.model_name}"
            context["plan_url"] = reverse(f"{self.admin_site.name}:{info}_plan", args=[obj.pk])
        return super().render_change_form(request, context, add, change, form_url, obj)

    # The changelist

    @admin.display(description=_("description"), ordering="description")
    def short_description(self, obj: Flow) -> SafeString:
        # Cut to one line; the whole text is a hover away.
        return format_html(
            '<span class="adminflow-truncated" title="{}">{}</span>',
            obj.description,
            Truncator(obj.description).chars(60),
        )

    @admin.display(description=_("run"))
    def run_buttons(self, obj: Flow) -> SafeString:
        """Return "Run" (posting the changelist's form to the flow's run page) and "options"."""
        url = reverse(f"{self.admin_site.name}:{run_url_name(self)}", args=[obj.pk])
        if not obj.enabled:
            return format_html(
                '<span class="adminflow-muted" title="{}">{}</span>',
                _("Enable the flow to run it."),
                _("disabled"),
            )
        return format_html(
            '<span class="adminflow-run-buttons"><button type="submit" class="button" '
            'formaction="{}" formmethod="post" name="_run_now" value="1" title="{}">{}</button>'
            '<a href="{}" title="{}">{}</a></span>',
            url,
            _("Run now with the stored config"),
            _("Run"),
            url,
            _("Change the config, step modes or files for one run"),
            _("options…"),
        )

    @admin.display(description=_("runs"), ordering="last_run_finished_at")
    def recent_runs(self, obj: FlowRow) -> SafeString | str:
        """Return the active run, if any, above the latest finished one."""
        lines = []
        if obj.active_run_id is not None:
            lines.append(format_html("{} {}", _("now:"), self.active_run(obj)))
        if obj.last_run_id is not None:
            lines.append(format_html("{} {}", _("last:"), self.last_run(obj)))
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines)) or "—"

    @admin.display(description=_("last run"), ordering="last_run_finished_at")
    def last_run(self, obj: FlowRow) -> SafeString | str:
        if obj.last_run_id is None:
            return "—"
        duration = None
        if obj.last_run_started_at and obj.last_run_finished_at:
            duration = (obj.last_run_finished_at - obj.last_run_started_at).total_seconds()
        when = obj.last_run_finished_at
        return format_html(
            '{} <span class="adminflow-muted"{}>{} · took {}</span>',
            self.run_link(obj.last_run_id, status_badge(obj.last_run_status)),
            format_html(' title="{}"', date_format(timezone.localtime(when), "DATETIME_FORMAT"))
            if when
            else "",
            _("%(time)s ago") % {"time": timesince(when, depth=1)} if when else "",
            format_duration(duration),
        )

    @admin.display(description=_("active run"), ordering="active_run_id")
    def active_run(self, obj: FlowRow) -> SafeString | str:
        if obj.active_run_id is None:
            return "—"
        return format_html(
            "{} {}{}",
            self.run_link(obj.active_run_id, f"#{obj.active_run_id}"),
            status_badge(obj.active_run_status),
            self.waiting_note(obj),
        )

    def waiting_note(self, obj: FlowRow) -> SafeString | str:
        """Return "waiting: no worker seen since …" if the flow's active run waits for a
        task worker and none was seen within ``ADMINFLOW["WORKER_SEEN_WITHIN"]``."""
        # A changelist looks once for all its flows; a change page has one flow.
        seen = getattr(obj, "last_worker_seen", last_worker_seen)
        return waiting_note(obj.active_run_status, obj.active_run_worker, seen)

    # The change form

    def get_readonly_fields(self, request: HttpRequest, obj: Flow | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.name in flow_registry:
            fields.insert(0, "name")
        if not may_grant_access(request):
            fields.append("access_groups")
        return fields

    def get_fieldsets(self, request: HttpRequest, obj: Flow | None = None) -> list[Any]:
        # A user who may only view gets the masked YAML: the admin's own read-only
        # rendering of a JSONField would show every secret.
        editable = obj is None or self.has_change_permission(request, obj)
        config: list[Any] = ["config" if editable else "shown_config"]
        if obj is not None:
            config = [(config[0], "config_template")]
        main = ["name", "description", "enabled", *(["active_run"] if obj is not None else [])]
        fieldsets: list[Any] = [
            (None, {"fields": main}),
            (_("Config"), {"fields": config}),
        ]
        if is_data_defined(obj):
            fieldsets.append((_("Spec"), {"fields": ["spec" if editable else "shown_spec"]}))
        schedule: list[Any] = ["schedule", "schedule_enabled", ("schedule_starts", "schedule_ends")]
        if obj is not None:
            schedule.append(("next_run", "last_scheduled_run"))
        fieldsets += [
            (_("Schedule"), {"fields": schedule, "description": SCHEDULE_HELP}),
            (_("Notifications"), {"fields": ["notify_emails", "notify_on_success"]}),
            (
                _("Plans"),
                {
                    "fields": [
                        "plan_required",
                        ("plan_max_drop_share", "plan_max_intents"),
                        "plan_two_person",
                    ],
                    "description": PLANS_HELP,
                },
            ),
            (_("Access"), {"fields": ["access_groups"], "description": ACCESS_HELP}),
        ]
        if obj is not None:
            fieldsets += [
                (_("Steps"), {"fields": ["steps_picture"]}),
                (_("History"), {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
            ]
        return fieldsets

    def formfield_for_dbfield(
        self, db_field: Any, request: HttpRequest, **kwargs: Any
    ) -> Field | None:
        if db_field.name in ("config", "spec"):
            return YAMLField(
                required=False,
                label=db_field.verbose_name.capitalize(),
                help_text=CONFIG_HELP if db_field.name == "config" else SPEC_HELP,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description=_("template"))
    def config_template(self, obj: Flow) -> SafeString:
        flow, error = built_flow(obj)
        if flow is None:
            return format_html('<span class="errornote">{}</span>', error)
        return format_html('<pre class="adminflow-template">{}</pre>', flow.emit_config())

    @admin.display(description=_("steps"))
    def steps_picture(self, obj: Flow) -> SafeString:
        flow, error = built_flow(obj)
        if flow is None:
            return format_html('<span class="errornote">{}</span>', error)
        steps = graph_steps_of_flow(flow, obj.config or flow.default_config)
        return format_html('<div class="adminflow-dag-wrap">{}</div>', flow_graph_svg(steps))

    @admin.display(description=_("config"))
    def shown_config(self, obj: Flow) -> SafeString:
        keys = secret_keys(built_flow(obj)[0])
        shown = dump_yaml(masked(obj.config, config_sections, keys)) or "{}"
        return format_html('<pre class="adminflow-template">{}</pre>', shown)

    @admin.display(description=_("spec"))
    def shown_spec(self, obj: Flow) -> SafeString:
        keys = secret_keys(built_flow(obj)[0])
        shown = dump_yaml(masked(stored_spec(obj), spec_sections, keys)) or "—"
        return format_html('<pre class="adminflow-template">{}</pre>', shown)
