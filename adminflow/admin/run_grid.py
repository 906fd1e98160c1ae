"""A run's record x step grid: one row per record, one column per step, and the store's.

Each cell says what that step did to that record: added or dropped it (a
record step), the fields it changed, the error it raised holding it, the
lines it logged about it (:class:`~adminflow.models.StepEffect`); the last
column is what the store wrote (:class:`~adminflow.models.RecordChange`).

Rows are keys, in key order, a page at a time: the keys the run touched
(effects or store changes), or with "every record" also the collection's
records as they are now, which a run that touched nobody leaves blank.
Both are one UNION the database pages, so a page of a 20,000-record run is
the same six queries as a page of a ten-record one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.contrib.admin.utils import unquote
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.core.paginator import Page, Paginator
from django.db import router
from django.db.models import CharField, QuerySet
from django.db.models.functions import Cast
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from ..models import FlowRun, Record, RecordChange, StepEffect, StepRun
from .change_list import changed_fields
from .display import change_url, missing_object
from .registered_storers import record_key_field
from .timeline import timeline_url

if TYPE_CHECKING:
    from .run_admin import FlowRunAdmin

GRID_PAGE_SIZE = 100


@dataclass(frozen=True)
class GridRow:
    key: str
    cells: list[StepEffect | None]
    """One per step, in the steps' order: None where the step did nothing to the record."""
    change: RecordChange | None
    """What the store wrote for the record, if anything."""

    @property
    def store_fields(self) -> list[str]:
        return [] if self.change is None else changed_fields(self.change)


@dataclass(frozen=True)
class Grid:
    steps: list[StepRun]
    rows: list[GridRow]
    page: Page
    collection: str
    every_record: bool
    """Rows of records the run did nothing to are shown too."""


def run_collection(run: FlowRun) -> str:
    """Return the collection the run's records are audited under; "" if it touched none."""
    for model in (StepEffect, RecordChange):
        found = model.objects.filter(run=run).order_by().values_list("collection", flat=True)[:1]
        if found:
            return found[0]
    return ""


def current_keys(collection: str) -> QuerySet[Any] | None:
    """Return the keys of the collection's records as they are now, as text, for a UNION with
    the run's; None if they live elsewhere (another database) or cannot be told."""
    try:
        model = apps.get_model(collection)
    except (LookupError, ValueError):  # not a model's label: typed records
        return Record.objects.filter(collection=collection).order_by().values_list("key")
    try:
        key = record_key_field(model, "the run's grid")
    except ImproperlyConfigured:
        return None
    if router.db_for_read(model) != router.db_for_read(StepEffect):
        return None
    return (
        model._default_manager.order_by()
        .annotate(grid_key=Cast(key.attname, CharField()))
        .values_list("grid_key")
    )


def run_grid(run: FlowRun, *, every_record: bool, page_number: Any) -> Grid:
    """Return one page of the run's grid; ``every_record`` adds the rows with nothing."""
    steps = list(run.steps.order_by("position"))
    collection = run_collection(run)
    sources = [
        model.objects.filter(run=run).order_by().values_list("key")
        for model in (StepEffect, RecordChange)
    ]
    if every_record and collection:
        current = current_keys(collection)
        if current is not None:
            sources.append(current)
    # One UNION of all of them: a UNION nested in another is refused by some databases.
    keys = sources[0].union(*sources[1:]).order_by("key")
    page = Paginator(keys, GRID_PAGE_SIZE).get_page(page_number)
    page_keys = [key for (key,) in page.object_list]
    effects = {
        (effect.key, effect.step): effect
        for effect in StepEffect.objects.filter(run=run, key__in=page_keys)
    }
    changes = {
        change.key: change for change in RecordChange.objects.filter(run=run, key__in=page_keys)
    }
    rows = [
        GridRow(key, [effects.get((key, step.name)) for step in steps], changes.get(key))
        for key in page_keys
    ]
    return Grid(steps, rows, page, collection, every_record)


def grid_view(model_admin: FlowRunAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """Show a page of the run's grid (``?every=1``: every record; ``?page=N``)."""
    run = model_admin.get_object(request, unquote(object_id))
    if run is None:
        return missing_object(model_admin, request, object_id)
    if not model_admin.has_view_or_change_permission(request, run):
        raise PermissionDenied
    request.current_app = model_admin.admin_site.name
    every = request.GET.get("every") == "1"
    grid = run_grid(run, every_record=every, page_number=request.GET.get("page"))
    site = model_admin.admin_site
    context = {
        **site.each_context(request),
        "title": f"{run}: what each step did to each record",
        "subtitle": None,
        "opts": model_admin.opts,
        "run": run,
        "run_url": change_url(site, FlowRun, run.pk),
        "grid": grid,
        "timeline_url": timeline_url(site, grid.collection, "") if grid.collection else None,
        "media": model_admin.media,
    }
    return TemplateResponse(request, "admin/adminflow/flowrun/grid.html", context)
