"""Find the AdminFlow behind a name or a ``Flow`` row, registered in code or defined as data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.db import router

from .engine import AdminFlow, AdminflowError, ConfigProblem, FlowConfigError
from .engine.spec import parse_spec_text
from .models import Flow
from .registry import flow_registry, step_registry


class UnknownFlow(AdminflowError):
    """Raise for a flow name that is neither registered nor stored with a spec."""


def sync_flow_rows(using: str | None = None, apps: Apps = global_apps, **kwargs: Any) -> None:
    """Create a ``Flow`` row for each registered flow that has none.

    Rows are never deleted or changed here: a flow removed from code keeps its
    runs, and a stored config stays as it was edited. Connected to
    ``post_migrate``, whose ``apps`` is the migrated state: when that state has
    no ``Flow`` (``migrate adminflow zero``) there is no table to write to.
    Safe to call at any time.
    """
    try:
        flow_model = apps.get_model("adminflow", "Flow")
    except LookupError:
        return
    database = using or router.db_for_write(flow_model)
    if not router.allow_migrate_model(database, flow_model):
        return
    existing = set(
        flow_model.objects.using(database)
        .filter(name__in=list(flow_registry))
        .values_list("name", flat=True)
    )
    flow_model.objects.using(database).bulk_create(
        [
            flow_model(name=name, description=flow.description, config=flow.default_config)
            for name, flow in flow_registry.items()
            if name not in existing
        ],
        ignore_conflicts=True,
    )


def get_flow_row(name: str) -> Flow:
    """Return the row of flow ``name``, creating it for a registered flow that lacks one.

    Raise UnknownFlow, listing the known names, for any other name.
    """
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


def build_flow(row: Flow, *, imports: bool = True) -> AdminFlow:
    """Return the AdminFlow a row stands for: its spec if it has one, else the registered flow.

    The spec may be a mapping or YAML/JSON text, and may leave out its name
    (the row's is used); one naming another flow is refused, since its runs
    would be recorded under the wrong name.
    Raise FlowConfigError for a broken spec, UnknownFlow for a row with no
    spec whose flow is no longer registered. ``imports=False`` (for a spec
    someone is editing) refuses step types named by a path that is not
    registered, instead of importing it.
    """
    if row.spec:
        spec = parse_spec_text(row.spec) if isinstance(row.spec, str) else row.spec
        if isinstance(spec, Mapping):
            spec = {"name": row.name, **spec}
        flow = AdminFlow.from_spec(spec, step_registry, imports=imports)
        if flow.name != row.name:
            raise FlowConfigError(
                row.name,
                [ConfigProblem("name", f"the spec names flow '{flow.name}', not '{row.name}'")],
            )
        return flow
    if row.name in flow_registry:
        return flow_registry[row.name]
    raise UnknownFlow(
        f"flow '{row.name}' has no spec and is no longer registered by any installed app"
    )


def stored_config(row: Flow, flow: AdminFlow) -> Any:
    """Return the config a run uses when none is given: the row's, else the flow's default.

    Whatever the row holds is returned for ``flow.configured()`` to judge, so
    a stored config that is not a mapping is reported, not crashed on.
    """
    config = row.config or flow.default_config
    return dict(config) if isinstance(config, Mapping) else config
