"""Small display helpers the admins share: status badges, durations, links, waiting notes.

The badge's colour comes from the CSS class :func:`adminflow.admin.graph.status_class`
gives, so badges and the DAG picture's nodes share one palette
(``adminflow/adminflow.css``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.admin import AdminSite, ModelAdmin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from ..runs.workers import WorkerSighting, last_worker_seen, waits_for_worker
from ..states import FlowRunStatus, StepRunStatus
from .graph import status_class

_LABELS = {**dict(StepRunStatus.choices), **dict(FlowRunStatus.choices)}


def status_badge(status: str | None) -> SafeString:
    """Return a run's or a step's status as a coloured badge (``<span>``), escaped."""
    label = _LABELS.get(status or "", status or "unknown")
    return format_html(
        '<span class="adminflow-badge {}" data-status="{}">{}</span>',
        status_class(status),
        status or "",
        label,
    )


def format_duration(seconds: float | None) -> str:
    """Return a duration the way a person reads it: ``0.4s``, ``42s``, ``4m 05s``, ``2h 03m``.

    ``None`` (never started) gives an em dash, the admin's own "no value".
    """
    if seconds is None:
        return "—"
    seconds = max(float(seconds), 0.0)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def admin_url(admin_site: AdminSite, model: type[Model], view: str, *args: Any) -> str | None:
    """Return the URL of one of ``model``'s admin views on ``admin_site``; None if it has none.

    Reversing goes through the site's own name, so links work on any
    ``AdminSite``; a site that does not register the model gets no link.
    """
    opts = model._meta
    try:
        return reverse(f"{admin_site.name}:{opts.app_label}_{opts.model_name}_{view}", args=args)
    except NoReverseMatch:
        return None


def change_url(admin_site: AdminSite, model: type[Model], pk: Any) -> str | None:
    """Return the URL of an object's change page on ``admin_site``; None if it has none."""
    return admin_url(admin_site, model, "change", pk)


def missing_object(
    modeladmin: ModelAdmin[Any], request: HttpRequest, object_id: str
) -> HttpResponse:
    """Answer a URL naming an object that does not exist, or that the user may not see, as
    the admin's own change page does: "doesn't exist", back to the index. The two look alike.
    """
    # Django's own answer, private API that django-stubs does not declare.
    redirect: Callable[..., HttpResponse] = modeladmin._get_obj_does_not_exist_redirect  # type: ignore[attr-defined]
    return redirect(request, modeladmin.opts, object_id)


def read_only_page(
    modeladmin: ModelAdmin[Any],
    request: HttpRequest,
    object_id: str,
    *,
    template: str,
    context_of: Callable[[HttpRequest, Any], dict[str, Any]],
    may_view: Callable[[HttpRequest, Any], bool],
    extra_context: dict[str, Any] | None = None,
) -> HttpResponse:
    """Show one object's read-only page (a run's, a plan's) as the admin's view-only change
    form answers: an object missing or not visible as missing, a POST (a change) refused."""
    obj = modeladmin.get_object(request, unquote(object_id))
    if obj is None:
        return missing_object(modeladmin, request, object_id)
    if request.method == "POST" or not may_view(request, obj):
        raise PermissionDenied
    request.current_app = modeladmin.admin_site.name
    context = {
        **modeladmin.admin_site.each_context(request),
        **context_of(request, obj),
        **(extra_context or {}),
    }
    return TemplateResponse(request, template, context)


def change_link(admin_site: AdminSite, model: type[Model], pk: Any, text: Any) -> SafeString:
    """Return ``text`` linked to the object's change page, or just ``text`` if it has none."""
    url = change_url(admin_site, model, pk)
    if url is None:
        return format_html("{}", text)
    return format_html('<a href="{}">{}</a>', url, text)


def waiting_note(
    status: str | None,
    worker: str | None,
    seen: Callable[[], WorkerSighting] = last_worker_seen,
) -> SafeString | str:
    """Return " waiting: no worker seen since …" if a run in ``status``, held by ``worker``,
    waits for a task worker and none was seen within ``ADMINFLOW["WORKER_SEEN_WITHIN"]``.

    ``seen`` looks at the workers, and is called only if the run waits: a
    changelist passes one cached look for all its rows. Else return "".
    """
    if not waits_for_worker(status or "", worker or ""):
        return ""
    sighting = seen()
    if sighting.alive:
        return ""
    if sighting.last_seen_at is None:
        return format_html(" <strong>{}</strong>", _("waiting: no worker seen yet"))
    when = timezone.localtime(sighting.last_seen_at)
    return format_html(
        ' <strong title="{}">{}</strong>',
        sighting.name,
        _("waiting: no worker seen since %(time)s")
        % {"time": date_format(when, "DATETIME_FORMAT")},
    )
