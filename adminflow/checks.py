"""System checks: broken flows are reported by ``manage.py check``, not at run time.

Checks of rows in the database (stored configs and specs) are tagged
``database`` and run with ``manage.py check --database default``, as Django
asks of checks that query.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register
from django.db import DatabaseError

from .conf import DEFAULTS, adminflow_settings
from .engine import AdminflowError


@register()
def check_settings(**kwargs: Any) -> list[Error]:
    unknown = sorted(set(adminflow_settings.user_settings) - set(DEFAULTS))
    return (
        [
            Error(
                f"ADMINFLOW has unknown keys: {', '.join(unknown)}",
                hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                id="adminflow.E001",
            )
        ]
        if unknown
        else []
    )


@register()
def check_registered_flows(**kwargs: Any) -> list[Error]:
    from .registry import flow_registry

    errors = []
    for name, flow in flow_registry.items():
        if not flow.default_config:
            continue  # the config will come from the Flow row: checked with --database
        try:
            flow.configured(flow.default_config)
        except AdminflowError as exc:
            errors.append(
                Error(
                    f"the default config of flow '{name}' is not valid:\n{exc}",
                    hint="Fix default_config where the flow is defined, or store a config "
                    "on its Flow row.",
                    obj=flow,
                    id="adminflow.E002",
                )
            )
    return errors


@register(Tags.database)
def check_stored_flows(databases: list[str] | None = None, **kwargs: Any) -> list[Error]:
    if not databases:
        return []
    from .loading import build_flow, stored_config
    from .models import Flow

    errors = []
    try:
        rows = list(Flow.objects.all())
    except DatabaseError:
        return []  # not migrated yet: nothing stored to check
    for row in rows:
        try:
            flow = build_flow(row)
        except AdminflowError as exc:
            errors.append(
                Error(f"flow '{row.name}' cannot be built:\n{exc}", obj=row, id="adminflow.E003")
            )
            continue
        try:
            flow.configured(stored_config(row, flow))
        except AdminflowError as exc:
            errors.append(
                Error(
                    f"the stored config of flow '{row.name}' is not valid:\n{exc}",
                    obj=row,
                    id="adminflow.E004",
                )
            )
    return errors
