"""The admin of records kept by adminflow, and of what each run did to them.

Both are read-only: records are written by a flow's storer, which also
writes the ``RecordChange`` audit, so an edit here would be a change no run
accounts for. A record's page shows its history across runs
(:mod:`adminflow.admin.record_history`, which a host model's admin uses too).

Records are listed in the admin index only on a site that keeps typed
records (see :meth:`RecordAdmin.has_module_permission`): a site whose flows
store its own models would otherwise show an empty "Records" page that
looks like a flow that never stored anything.
"""

from __future__ import annotations

import json
from typing import Any, cast

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from ..models import FlowRun, Record, RecordChange, RecordChangeQuerySet
from .change_list import (
    FieldFilter,
    KindFilter,
    RunFilter,
    changed_fields,
    csv_lines,
)
from .display import admin_url, change_link
from .read_only import ReadOnlyModelAdmin
from .record_history import RecordHistoryBase, changes_url
from .registered_storers import typed_storer_registered
from .run_page import parse_id
from .timeline import timeline_of, timeline_url

TYPED_RECORDS_ATTR = "_adminflow_keeps_typed_records"
"""Where a request remembers whether the site keeps typed records: the index asks twice."""


class ReadOnlyAdmin(ReadOnlyModelAdmin):
    class Media:
        css = {"all": ["adminflow/adminflow.css", "adminflow/run.css", "adminflow/records.css"]}

    def link_to_run(self, run: FlowRun) -> SafeString:
        """Return ``run`` as a link to its page on this site, or as text if runs are not on it."""
        return change_link(self.admin_site, FlowRun, run.pk, run)


class RecordAdmin(RecordHistoryBase, ReadOnlyAdmin):
    list_display = ["key", "collection", "updated_at"]
    list_filter = ["collection"]
    search_fields = ["key"]
    search_help_text = _("Search by key.")
    show_full_result_count = False
    fields = readonly_fields = ("collection", "key", "pretty_data", "created_at", "updated_at")

    def has_module_permission(self, request: HttpRequest) -> bool:
        """Return whether Records is listed in the admin index and app list for this user.

        Only on a site that keeps typed records: one with a registered typed
        storer, or with rows in ``Record``. The storer decides first, so a
        fresh site lists Records before its first run has stored anything (the
        page says where that flow's records will be), and a site that only
        stores its own models never does. Rows decide when no typed storer is
        registered (a flow since removed, a flow defined as data naming its
        storer by path), so stored records are never out of reach. That costs
        one query, once per request, and only where the storers cannot tell.

        Listing is not access: the Records pages answer a direct URL as they
        always did, by the view permission, so a bookmark or link to a record
        keeps working, and an unlisted site's changelist is merely empty.
        """
        return (
            super().has_module_permission(request)
            and self.has_view_permission(request)
            and keeps_typed_records(request)
        )

    def record_identity(self, record: Record) -> tuple[str, str]:
        return record.collection, record.key

    @admin.display(description=_("data"))
    def pretty_data(self, record: Record) -> SafeString:
        return format_html('<pre class="adminflow-pre">{}</pre>', pretty_json(record.data))


class RecordChangeAdmin(ReadOnlyAdmin):
    list_display = ["id", "run_link", "kind_label", "collection", "key_link", "fields_changed"]
    list_filter = [RunFilter, KindFilter, FieldFilter, "action", "collection"]
    list_select_related = ["run__flow"]
    search_fields = ["key"]
    search_help_text = _("Search by key.")
    show_full_result_count = False
    ordering = ["-id"]
    fields = readonly_fields = (
        "run_link",
        "action",
        "kind",
        "collection",
        "record_history",
        "pretty_before",
        "pretty_after",
    )
    change_list_template = "admin/adminflow/recordchange/change_list.html"
    timeline_template = "admin/adminflow/record/timeline.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[RecordChange]:
        # Only what runs of flows the user may see changed (adminflow.access).
        changes = cast(RecordChangeQuerySet, super().get_queryset(request))  # the default manager's
        return changes.visible_to(request.user).select_related("run__flow")

    def get_urls(self) -> list[URLPattern]:
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        urls = [
            path("export/", view(self.export_view), name=f"{info}_export"),
            path("timeline/", view(self.timeline_view), name=f"{info}_timeline"),
        ]
        return urls + super().get_urls()

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        export = admin_url(self.admin_site, RecordChange, "export")
        query = request.GET.urlencode()
        context = {"export_url": f"{export}?{query}" if query else export, **(extra_context or {})}
        return super().changelist_view(request, context)

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """Stream the changes the list shows with the same filters and search, as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changes = self.get_changelist_instance(request).get_queryset(request)
        except IncorrectLookupParameters as exc:
            return HttpResponseBadRequest(f"The changes cannot be filtered so: {exc}")
        response = StreamingHttpResponse(csv_lines(changes), content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="record-changes.csv"'
        return response

    def timeline_view(self, request: HttpRequest) -> HttpResponse:
        """Show one record's timeline across runs: ``?collection=...&key=...``."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        collection, key = request.GET.get("collection"), request.GET.get("key")
        if not collection or not key:
            return HttpResponseBadRequest(
                "A record's timeline needs its collection and key: "
                "?collection=<collection or model label>&key=<key>"
            )
        request.current_app = self.admin_site.name
        timeline = timeline_of(
            request,
            self.admin_site,
            collection,
            key,
            before_run=parse_id(request.GET.get("before_run")),
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"{collection} {key}",
            "subtitle": None,
            "opts": self.opts,
            "timeline": timeline,
            "changes_url": changes_url(self.admin_site, collection, key),
            "media": self.media,
        }
        return TemplateResponse(request, self.timeline_template, context)

    @admin.display(description=_("run"), ordering="run")
    def run_link(self, change: RecordChange) -> SafeString:
        return self.link_to_run(change.run)

    @admin.display(description=_("kind"), ordering="kind")
    def kind_label(self, change: RecordChange) -> str:
        return change.get_kind_display() or change.get_action_display()

    @admin.display(description=_("key"), ordering="key")
    def key_link(self, change: RecordChange) -> SafeString:
        url = timeline_url(self.admin_site, change.collection, change.key)
        if url is None:
            return format_html("{}", change.key)
        return format_html('<a href="{}" title="{}">{}</a>', url, _("Timeline"), change.key)

    @admin.display(description=_("fields changed"))
    def fields_changed(self, change: RecordChange) -> str:
        return ", ".join(changed_fields(change))

    @admin.display(description=_("key"))
    def record_history(self, change: RecordChange) -> SafeString:
        url = changes_url(self.admin_site, change.collection, change.key)
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


def keeps_typed_records(request: HttpRequest) -> bool:
    """Return whether the site keeps typed records: a typed storer is registered, or some are
    stored. The database is asked at most once per request."""
    if typed_storer_registered():
        return True
    kept = getattr(request, TYPED_RECORDS_ATTR, None)
    if kept is None:
        kept = Record.objects.exists()
        setattr(request, TYPED_RECORDS_ATTR, kept)
    return kept
