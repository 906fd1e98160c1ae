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
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from ..models import FlowRun, Record, RecordChange
from .display import change_link
from .record_history import RecordHistoryBase, changes_url
from .registered_storers import typed_storer_registered

TYPED_RECORDS_ATTR = "_adminflow_keeps_typed_records"
"""Where a request remembers whether the site keeps typed records: the index asks twice."""


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


class RecordAdmin(RecordHistoryBase, ReadOnlyAdmin):
    list_display = ["key", "collection", "updated_at"]
    list_filter = ["collection"]
    search_fields = ["key"]
    search_help_text = _("Search by key.")
    show_full_result_count = False
    fields = ["collection", "key", "pretty_data", "created_at", "updated_at"]
    readonly_fields = fields

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
        # Only what runs of flows the user may see changed (adminflow.access).
        return super().get_queryset(request).visible_to(request.user).select_related("run__flow")

    @admin.display(description=_("run"), ordering="run")
    def run_link(self, change: RecordChange) -> SafeString:
        return self.link_to_run(change.run)

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
