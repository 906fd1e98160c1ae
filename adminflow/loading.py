"""Find the AdminFlow behind a name or a ``Flow`` row, registered in code or defined as data."""

from __future__ import annotations

from typing import Any

from django.db import router

from .engine import AdminFlow, AdminflowError
from .models import Flow
from .registry import flow_registry, step_registry


class UnknownFlow(AdminflowError):
    """Raise for a flow name that is neither registered nor stored with a spec."""


def sync_flow_rows(using: str | None = None, **kwargs: Any) -> None:
    """Create a ``Flow`` row for each registered flow that has none.

    Rows are never deleted here: a flow removed from code keeps its runs.
    Connected to ``post_migrate``, and safe to call at any time.
    """
    database = using or router.db_for_write(Flow)
    existing = set(
        Flow.objects.using(database)
        .filter(name__in=list(flow_registry))
        .values_list("name", flat=True)
    )
    Flow.objects.using(database).bulk_create(
        [
            Flow(name=name, description=flow.description, config=flow.default_config)
            for name, flow in flow_registry.items()
            if name not in existing
        ],
        ignore_conflicts=True,
    )


def get_flow_row(name: str) -> Flow:
    """Return the row of flow ``name``, creating it for a registered flow that lacks one."""
    row = Flow.objects.filter(name=name).first()
    if row is not None:
        return row
    if name in flow_registry:
        flow = flow_registry[name]
        row, _created = Flow.objects.get_or_create(
            name=name,
            defaults={"description": flow.description, "config": flow.default_config},
        )
        return row
    known = ", ".join(sorted({*flow_registry, *Flow.objects.values_list("name", flat=True)}))
    raise UnknownFlow(f"no flow named '{name}' (known: {known or 'none'})")


def build_flow(row: Flow) -> AdminFlow:
    """Return the AdminFlow a row stands for: its spec if it has one, else the registered flow."""
    if row.spec:
        return AdminFlow.from_spec(row.spec, step_registry)
    if row.name in flow_registry:
        return flow_registry[row.name]
    raise UnknownFlow(
        f"flow '{row.name}' has no spec and is no longer registered by any installed app"
    )


def stored_config(row: Flow, flow: AdminFlow) -> dict[str, Any]:
    """Return the config a run uses when none is given: the row's, else the flow's default."""
    return dict(row.config) if row.config else dict(flow.default_config)
