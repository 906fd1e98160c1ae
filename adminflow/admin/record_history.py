"""A record's history across runs, on its admin page: what each run added, changed or removed.

Every record a ``DjangoRecordStorer`` stores is audited in ``RecordChange``
under a collection (a typed record's collection, or a model's label such as
``course.Student``) and its key as text. :class:`RecordHistoryBase` shows the
latest of those changes below an object's change form, with before and after
and a link to each run; adminflow's ``RecordAdmin`` uses it for typed records.
A host site shows the history of its own model's records with one line::

    class StudentAdmin(RecordHistoryMixin, admin.ModelAdmin): ...

Permissions are the site's own: the history is ``RecordChange`` rows, so only
a user who may view record changes sees it, and a run or the full list of
changes is linked only for a user who may view it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.contrib.admin import AdminSite
from django.contrib.auth import get_permission_codename
from django.core import checks
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db.models import Field, Model
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from ..models import FlowRun, RecordChange
from .display import admin_url, change_link, status_badge
from .registered_storers import record_key_field
from .run_page import ChangeRow, change_row
from .timeline import timeline_url

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    _AdminBase = ModelAdmin
else:
    _AdminBase = object

HISTORY_LIMIT = 50
"""Changes shown on a record's page, newest first; the rest are a link to the filtered
changelist away, which pages them, so a record changed 10,000 times costs the same page."""

HISTORY_CSS = ["adminflow/adminflow.css", "adminflow/run.css", "adminflow/records.css"]


@dataclass(frozen=True)
class HistoryEntry:
    """One change of the record: the run that made it, and the fields before and after."""

    row: ChangeRow
    run: SafeString
    """The run, linked to its page if the user may view it there."""
    run_badge: SafeString

    @property
    def change(self) -> RecordChange:
        return self.row.change


@dataclass(frozen=True)
class RecordHistory:
    entries: list[HistoryEntry]
    truncated: bool
    """Older changes exist than the entries show."""
    url: str | None
    """Every change of the record, on the record changes' changelist, if the user may view it."""
    timeline_url: str | None = None
    """The record's timeline across flows: runs, steps and log lines, if the user may view it."""


def may_view(request: HttpRequest, admin_site: AdminSite, model: type[Model]) -> bool:
    """Return whether the user may view ``model``'s objects: on ``admin_site`` if it has an
    admin there, else by the model's view permission."""
    if admin_site.is_registered(model):
        return admin_site.get_model_admin(model).has_view_permission(request)
    opts = model._meta
    return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('view', opts)}")


def changes_url(admin_site: AdminSite, collection: str, key: str) -> str | None:
    """Return the URL of every change of one record, if ``admin_site`` shows record changes."""
    url = admin_url(admin_site, RecordChange, "changelist")
    if url is None:
        return None
    return f"{url}?{urlencode({'collection': collection, 'key': key})}"


def history_of(
    request: HttpRequest, admin_site: AdminSite, collection: str, key: str
) -> RecordHistory:
    """Return the latest changes of one record, newest first, in one query.

    A run, or the list of every change, is linked only for a user who may
    view it: a link the user would only be refused at is no link.
    """
    changes = RecordChange.objects.visible_to(request.user).filter(collection=collection, key=key)
    latest = list(changes.select_related("run__flow").order_by("-id")[: HISTORY_LIMIT + 1])
    link_runs = may_view(request, admin_site, FlowRun)
    entries = [
        HistoryEntry(
            change_row(change),
            change_link(admin_site, FlowRun, change.run.pk, change.run)
            if link_runs
            else format_html("{}", change.run),
            status_badge(change.run.status),
        )
        for change in latest[:HISTORY_LIMIT]
    ]
    url = timeline = None
    if may_view(request, admin_site, RecordChange):
        url = changes_url(admin_site, collection, key)
        timeline = timeline_url(admin_site, collection, key)
    return RecordHistory(entries, len(latest) > HISTORY_LIMIT, url, timeline)


class RecordHistoryBase(_AdminBase):
    """Show, below an object's change form, the history of the record it is.

    Subclasses say which record with :meth:`record_identity`. The page keeps
    the template it would have had (the admin's ``change_form_template``, or
    Django's per-app and per-model ones): the history's template extends it.
    """

    record_history_template: ClassVar[str] = "admin/adminflow/record/history_change_form.html"

    def record_identity(self, obj: Any) -> tuple[str, str]:
        """Return the collection and key under which runs audit ``obj``."""
        raise NotImplementedError("subclasses of RecordHistoryBase return (collection, key)")

    @property
    def media(self) -> forms.Media:
        return super().media + forms.Media(css={"all": HISTORY_CSS})

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        """Render the change form with the record's history below it, for who may see it."""
        response = super().render_change_form(request, context, add, change, form_url, obj)
        if obj is None or not isinstance(response, TemplateResponse):
            return response
        if not may_view(request, self.admin_site, RecordChange):
            return response
        collection, key = self.record_identity(obj)
        assert response.context_data is not None
        response.context_data["record_history"] = history_of(
            request, self.admin_site, collection, key
        )
        response.context_data["record_history_parent"] = response.resolve_template(
            response.template_name
        )
        response.template_name = self.record_history_template
        return response


class RecordHistoryMixin(RecordHistoryBase):
    """Show, on a host model's admin change page, what runs did to that record.

    The record's key is its value of the field the model's registered storer
    keys records by (its ``key_field``, or the primary key); set
    ``record_key_field`` to name it yourself, as when no registered flow
    stores the model, or two key it differently. ``manage.py check`` reports
    an admin that can tell neither (``adminflow.E008``).
    """

    record_key_field: ClassVar[str | None] = None
    """The field the records are keyed by; None for the registered storer's."""

    def get_record_key_field(self) -> Field:
        """Return the field the model's records are keyed by; raise ImproperlyConfigured if
        the admin does not say and the registered storers do not tell."""
        owner = type(self).__qualname__
        if self.record_key_field is None:
            return record_key_field(self.model, owner)
        try:
            return self.model._meta.get_field(self.record_key_field)
        except FieldDoesNotExist:
            raise ImproperlyConfigured(
                f"{owner}: record_key_field '{self.record_key_field}' is not a field of "
                f"{self.model._meta.label}"
            ) from None

    def record_identity(self, obj: Any) -> tuple[str, str]:
        """Return the model's label and ``obj``'s key as text, as the storer audits it."""
        field = self.get_record_key_field()
        return self.model._meta.label, str(getattr(obj, field.attname))

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        try:
            self.get_record_key_field()
        except ImproperlyConfigured as exc:
            errors.append(checks.Error(str(exc), obj=type(self), id="adminflow.E008"))
        return errors
