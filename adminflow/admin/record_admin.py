"""The admin of records kept by adminflow, and of what each run did to them.

Both are read-only: records are written by a flow's storer, which also
writes the ``RecordChange`` audit, so an edit here would be a change no run
accounts for. A record's page shows its history across runs.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from ..models import FlowRun, Record, RecordChange
from .display import admin_url, change_link, status_badge

HISTORY_LIMIT = 50
"""Changes shown on a record's page; the rest are a link to the filtered changelist away."""


class ReadOnlyAdmin(admin.ModelAdmin):
    class Media:
        css = {"all": ["adminflow/adminflow.css", "adminflow/run.css"]}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def link_to_run(self, run: FlowRun) -> SafeString:
        """Return ``run`` as a link to its page on this site, or as text if runs are not on it."""
        return change_link(self.admin_site, FlowRun, run.pk, run)

    def changes_url(self, collection: str, key: str) -> str | None:
        """Return the URL of every change of one record, if record changes are on this site."""
        url = admin_url(self.admin_site, RecordChange, "changelist")
        if url is None:
            return None
        return f"{url}?{urlencode({'collection': collection, 'key': key})}"


class RecordAdmin(ReadOnlyAdmin):
    list_display = ["key", "collection", "updated_at"]
    list_filter = ["collection"]
    search_fields = ["key"]
    search_help_text = _("Search by key.")
    show_full_result_count = False
    fields = ["collection", "key", "pretty_data", "created_at", "updated_at"]
    readonly_fields = fields
    change_form_template = "admin/adminflow/record/change_form.html"

    @admin.display(description=_("data"))
    def pretty_data(self, record: Record) -> SafeString:
        return format_html('<pre class="adminflow-pre">{}</pre>', pretty_json(record.data))

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Record | None = None,
    ) -> HttpResponse:
        """Show the record, read-only, with what the latest runs did to it, newest first."""
        if obj is not None:
            context.update(self.history_context(obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def history_context(self, record: Record) -> dict[str, Any]:
        changes = RecordChange.objects.filter(collection=record.collection, key=record.key)
        latest = list(changes.select_related("run__flow").order_by("-id")[: HISTORY_LIMIT + 1])
        return {
            "history": [
                {
                    "change": change,
                    "run_link": self.link_to_run(change.run),
                    "run_badge": status_badge(change.run.status),
                    "fields": changed_fields(change),
                }
                for change in latest[:HISTORY_LIMIT]
            ],
            "history_truncated": len(latest) > HISTORY_LIMIT,
            "history_url": self.changes_url(record.collection, record.key),
        }


class RecordChangeAdmin(ReadOnlyAdmin):
    list_display = ["id", "run_link", "action", "collection", "key"]
    list_filter = ["action", "collection"]
    list_select_related = ["run__flow"]
    search_fields = ["key"]
    search_help_text = _("Search by key.")
    show_full_result_count = False
    ordering = ["-id"]
    fields = ["run_link", "action", "collection", "record_history", "pretty_before", "pretty_after"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[RecordChange]:
        return super().get_queryset(request).select_related("run__flow")

    @admin.display(description=_("run"), ordering="run")
    def run_link(self, change: RecordChange) -> SafeString:
        return self.link_to_run(change.run)

    @admin.display(description=_("key"))
    def record_history(self, change: RecordChange) -> SafeString:
        url = self.changes_url(change.collection, change.key)
        if url is None:
            return format_html("{}", change.key)
        return format_html(
            '{} · <a href="{}">{}</a>', change.key, url, _("every change of this record")
        )

    @admin.display(description=_("before"))
    def pretty_before(self, change: RecordChange) -> SafeString:
        return format_html('<pre class="adminflow-pre">{}</pre>', pretty_json(change.before))

    @admin.display(description=_("after"))
    def pretty_after(self, change: RecordChange) -> SafeString:
        return format_html('<pre class="adminflow-pre">{}</pre>', pretty_json(change.after))


def pretty_json(value: Any) -> str:
    """Return stored JSON indented for reading (to be escaped where it is shown)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def changed_fields(change: RecordChange) -> list[str]:
    """Return the names of the fields a change touched, sorted (all of an added or removed record)."""
    before = change.before if isinstance(change.before, dict) else {}
    after = change.after if isinstance(change.after, dict) else {}
    return sorted(name for name in {**before, **after} if before.get(name) != after.get(name))
