"""The flow admin's schedule: its columns, read-only fields and filter.

Times are shown on the site's clock (``TIME_ZONE``), the one cron
expressions are read in, whatever zone the admin user is in. The latest
scheduled run comes from subqueries of the changelist's one query, so the
page costs the same however many flows and runs there are.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib import admin
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timeuntil
from django.utils.translation import gettext_lazy as _

from ..models import Flow, FlowRun
from ..schedule.cron import site_time, site_today
from ..states import Trigger
from .display import change_link, status_badge

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class LastScheduledRun(TypedDict):
    """What :func:`last_scheduled_run_annotations` gives each flow."""

    last_scheduled_run_id: int | None
    last_scheduled_run_status: str | None
    last_scheduled_run_for: datetime | None


if TYPE_CHECKING:
    ScheduledFlow = WithAnnotations[Flow, LastScheduledRun]


def last_scheduled_run_annotations() -> dict[str, Subquery]:
    """Return the annotations giving each flow's latest scheduled run: id, status, time."""
    runs = FlowRun.objects.filter(flow=OuterRef("pk"), trigger=Trigger.SCHEDULE).order_by(
        "-queued_at", "-id"
    )
    return {
        f"last_scheduled_run_{name}": Subquery(runs.values(field)[:1])
        for name, field in (("id", "pk"), ("status", "status"), ("for", "scheduled_for"))
    }


class ScheduledFilter(admin.SimpleListFilter):
    """Filter flows by their schedule: on, switched off, or none."""

    title = _("schedule")
    parameter_name = "scheduled"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("on", _("On")), ("off", _("Switched off")), ("none", _("None"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Flow]) -> QuerySet[Flow]:
        has_schedule = ~Q(schedule="")
        conditions = {
            "on": has_schedule & Q(schedule_enabled=True),
            "off": has_schedule & Q(schedule_enabled=False),
            "none": Q(schedule=""),
        }
        value = self.value()
        if value in conditions:
            return queryset.filter(conditions[value])
        return queryset


class ScheduleColumns:
    """The schedule's columns and read-only fields, for a ModelAdmin of flows.

    The queryset must carry :func:`last_scheduled_run_annotations`.
    """

    admin_site: admin.AdminSite

    @admin.display(description=_("schedule"), ordering="schedule", empty_value="")
    def schedule_column(self, obj: Flow) -> SafeString | None:
        if not obj.schedule:
            return None
        if obj.schedule_enabled:
            return format_html("<code>{}</code>", obj.schedule)
        return format_html(
            '<code>{}</code> <span class="adminflow-muted">{}</span>', obj.schedule, _("off")
        )

    @admin.display(description=_("next run"), ordering="schedule_due_at")
    def next_run(self, obj: Flow) -> SafeString | str:
        if obj.schedule_due_at is None:
            ends = obj.schedule_ends
            if obj.schedule and ends is not None and ends < site_today(timezone.now()):
                return format_html("{} {}", _("ended on"), ends.isoformat())
            return "—"
        return format_html(
            '{} <span class="adminflow-muted">{}</span>',
            site_time(obj.schedule_due_at),
            _("in %(time)s") % {"time": timeuntil(obj.schedule_due_at, depth=1)}
            if obj.schedule_due_at > timezone.now()
            else _("due now"),
        )

    @admin.display(description=_("last scheduled run"), ordering="last_scheduled_at")
    def last_scheduled_run(self, obj: ScheduledFlow) -> SafeString | str:
        run_id = getattr(obj, "last_scheduled_run_id", None)
        if run_id is None:
            return "—"
        when = obj.last_scheduled_run_for
        return format_html(
            "{} {}",
            change_link(
                self.admin_site, FlowRun, run_id, site_time(when) if when else f"#{run_id}"
            ),
            status_badge(obj.last_scheduled_run_status),
        )

    @admin.display(description=_("schedule"), ordering="schedule_due_at")
    def schedule_summary(self, obj: ScheduledFlow) -> SafeString | str:
        """Return the schedule, when it next runs and its last scheduled run, in a narrow
        cell: times as "in 3 hours", each exact time a hover away."""
        if not obj.schedule:
            return "—"
        lines: list[SafeString | str | None] = [self.schedule_column(obj)]
        if obj.schedule_due_at is not None:
            due = obj.schedule_due_at
            when = (
                _("in %(time)s") % {"time": timeuntil(due, depth=1)}
                if due > timezone.now()
                else _("due now")
            )
            lines.append(
                format_html('{} <span title="{}">{}</span>', _("next"), site_time(due), when)
            )
        elif (ended := self.next_run(obj)) != "—":
            lines.append(ended)
        run_id = getattr(obj, "last_scheduled_run_id", None)
        if run_id is not None:
            scheduled = obj.last_scheduled_run_for
            link = change_link(
                self.admin_site, FlowRun, run_id, status_badge(obj.last_scheduled_run_status)
            )
            title = site_time(scheduled) if scheduled else f"#{run_id}"
            lines.append(format_html('{} <span title="{}">{}</span>', _("last"), title, link))
        return format_html_join(
            mark_safe("<br>"),
            '<span class="adminflow-nowrap">{}</span>',
            ((line,) for line in lines),
        )
