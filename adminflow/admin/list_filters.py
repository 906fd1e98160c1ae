"""List filters that offer only what the user may see."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from ..models import Flow


class VisibleFlowFilter(admin.RelatedFieldListFilter):
    """Filter by flow, offering only the flows the user may see: a flow limited to other
    groups is not even named (:mod:`adminflow.access`). One query, however many runs."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list[Any]:
        flows = Flow.objects.visible_to(request.user).order_by("name")
        return [(pk, name) for pk, name in flows.values_list("pk", "name")]
