"""System checks: broken flows are reported by ``manage.py check``, not at run time.

Checks of rows in the database (stored configs and specs) are tagged
``database`` and run with ``manage.py check --database default``, as Django
asks of checks that query. A row whose flow left the code is only a warning:
rows are kept for their runs, and ``migrate`` stops on errors.
"""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router

from .conf import DEFAULTS, adminflow_settings
from .engine import AdminflowError


@register()
def check_settings(**kwargs: Any) -> list[Error]:
    try:
        unknown = sorted(set(adminflow_settings.user_settings) - set(DEFAULTS))
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="adminflow.E001")]
    if not unknown:
        return []
    return [
        Error(
            f"ADMINFLOW has unknown keys: {', '.join(unknown)}",
            hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
            id="adminflow.E001",
        )
    ]


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
def check_stored_flows(databases: list[str] | None = None, **kwargs: Any) -> list[CheckMessage]:
    if not databases:
        return []
    from .models import Flow

    messages: list[CheckMessage] = []
    for alias in databases:
        if not router.allow_migrate_model(alias, Flow):
            continue
        if Flow._meta.db_table not in connections[alias].introspection.table_names():
            continue  # not migrated yet: nothing stored to check
        for row in Flow.objects.using(alias):
            message = _check_row(row)
            if message is not None:
                messages.append(message)
    return messages


def _check_row(row: Any) -> CheckMessage | None:
    """Return what is wrong with one stored flow: its spec, or its stored config."""
    from .loading import UnknownFlow, build_flow, stored_config

    try:
        flow = build_flow(row)
    except UnknownFlow as exc:
        # Rows outlive the code that registered them, on purpose: their runs stay.
        return Warning(
            str(exc),
            hint="Delete the Flow row if its runs are no longer needed, or give it a spec.",
            obj=row,
            id="adminflow.W001",
        )
    except AdminflowError as exc:
        return Error(f"flow '{row.name}' cannot be built:\n{exc}", obj=row, id="adminflow.E003")
    try:
        flow.configured(stored_config(row, flow))
    except AdminflowError as exc:
        return Error(
            f"the stored config of flow '{row.name}' is not valid:\n{exc}",
            hint="Fix the config on the Flow row, in the admin.",
            obj=row,
            id="adminflow.E004",
        )
    return None


@register()
def check_tasks_backend(**kwargs: Any) -> list[CheckMessage]:
    """Report a background-run backend that is missing, refuses the queue, or runs inline."""
    try:
        alias, queue = adminflow_settings.TASK_BACKEND, adminflow_settings.TASK_QUEUE
    except ImproperlyConfigured:
        return []  # a malformed ADMINFLOW is adminflow.E001
    try:
        from .compat import task_backends

        backend = task_backends[alias]
    except ImproperlyConfigured as exc:
        return [
            Error(
                f"background runs cannot be sent: {exc}",
                hint="Set ADMINFLOW['TASK_BACKEND'] to an alias in TASKS.",
                id="adminflow.E005",
            )
        ]
    if backend.queues and queue not in backend.queues:
        return [
            Error(
                f"ADMINFLOW['TASK_QUEUE'] is '{queue}', which the Tasks backend '{alias}' "
                f"does not accept (its QUEUES: {', '.join(sorted(backend.queues))})",
                id="adminflow.E006",
            )
        ]
    if type(backend).__name__ == "ImmediateBackend":
        return [
            Warning(
                f"the Tasks backend '{alias}' runs tasks at once, so a flow started in the "
                "admin runs inside the web request",
                hint="Use a queue with a worker, e.g. django_tasks_db.DatabaseBackend and "
                "`manage.py db_worker`.",
                id="adminflow.W002",
            )
        ]
    return []
