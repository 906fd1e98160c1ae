"""System checks: broken flows are reported by ``manage.py check``, not at run time.

Checks of rows in the database (stored configs and specs) are tagged
``database`` and run with ``manage.py check --database default``, as Django
asks of checks that query. ``migrate`` runs them too, on the database it
migrates, and stops on any error; rows that only data can fix must not stop
it, so the rule for what a row holds is:

- a row whose flow left the code is a warning (W001): rows are kept for
  their runs;
- a flow never configured (its row stores no config, the flow has no default
  config, and it needs keys that have no default) is a warning (W004): a new
  site is not broken because nobody has given it a course id yet; a run of
  it is refused with the same message. A disabled flow is not reported: the
  warning is a nudge to configure a flow someone means to run, and a flow
  registered with ``enabled=False`` waits, quiet, until staff enable it;
- a flow that requires a plan but cannot be planned (a propagate step plans no
  intents) is a warning (W005): every run of it is refused, naming the steps;
- a stored config that no longer validates, after a code change, is an error
  (E004) for ``check --database``, but is not reported inside ``migrate``
  (adminflow's ``migrate`` command runs its checks inside
  :func:`stored_configs_spared`): a data migration may be what fixes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router
from django.db.models import QuerySet

from .conf import DEFAULTS, adminflow_settings
from .engine import AdminflowError
from .states import PlanPolicy


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
            flow.with_config(flow.default_config)
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


def _stored_flows(databases: list[str] | None) -> Iterator[QuerySet[Any]]:
    """Yield the Flow rows of each database asked for that holds them."""
    from .models import Flow

    for alias in databases or ():
        if not router.allow_migrate_model(alias, Flow):
            continue
        if Flow._meta.db_table not in connections[alias].introspection.table_names():
            continue  # not migrated yet: nothing stored to check
        yield Flow.objects.using(alias)


@register(Tags.database)  # type: ignore[type-var]  # django-stubs' check type requires app_configs
def check_stored_flows(databases: list[str] | None = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    for rows in _stored_flows(databases):
        for row in rows:
            message = _check_row(row)
            if message is not None:
                messages.append(message)
    return messages


@register(Tags.database)  # type: ignore[type-var]  # django-stubs' check type requires app_configs
def check_notification_links(
    databases: list[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn that notices will link to run pages by path alone while SITE_URL is blank."""
    try:
        if adminflow_settings.SITE_URL:
            return []
    except ImproperlyConfigured:
        return []  # a malformed ADMINFLOW is adminflow.E001
    names = sorted(
        name
        for rows in _stored_flows(databases)
        for name in rows.exclude(notify_emails="").values_list("name", flat=True)
    )
    if not names:
        return []
    return [
        Warning(
            f"flows {', '.join(names)} email run notices, but ADMINFLOW['SITE_URL'] is "
            "blank: their links to the run pages will be paths without the site's address",
            hint="Set ADMINFLOW['SITE_URL'] to the site's address, e.g. "
            "'https://course.example.edu'.",
            id="adminflow.W003",
        )
    ]


@register(Tags.database)  # type: ignore[type-var]  # django-stubs' check type requires app_configs
def check_schedules(databases: list[str] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Report stored schedules that are not cron expressions.

    The admin refuses them, but a data migration or a queryset update does
    not ask it; the scheduler then stops such a schedule and says so once.
    """
    from .schedule.cron import cron_problem

    messages: list[CheckMessage] = []
    for rows in _stored_flows(databases):
        for row in rows.exclude(schedule="").only("name", "schedule"):
            if problem := cron_problem(row.schedule):
                messages.append(
                    Error(
                        f"flow '{row.name}' has an invalid schedule, so it is never run "
                        f"on schedule: {problem}",
                        hint="Correct or clear the schedule on the Flow row, in the admin.",
                        obj=row,
                        id="adminflow.E007",
                    )
                )
    return messages


_stored_configs_spared: ContextVar[bool] = ContextVar("stored_configs_spared", default=False)


@contextmanager
def stored_configs_spared() -> Iterator[None]:
    """Leave stored configs that no longer validate (E004) out of the checks run inside.

    A context variable, not a tag of E004's own: ``migrate`` runs the checks
    of every tag (naming the tags it runs would leave out the checks that have
    none), and ``check --database`` must still run this one.
    """
    token = _stored_configs_spared.set(True)
    try:
        yield
    finally:
        _stored_configs_spared.reset(token)


def _check_row(row: Any) -> CheckMessage | None:
    """Return what is wrong with one stored flow: its spec, or its stored config."""
    from .runs.config import FlowNotConfigured, UnknownFlow, build_flow, configure_stored

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
        configured = configure_stored(row, flow)
    except FlowNotConfigured as exc:
        if not row.enabled:
            return None  # nobody runs it yet; enabling it brings the warning back
        return Warning(exc.summary, hint=exc.hint, obj=row, id="adminflow.W004")
    except AdminflowError as exc:
        if _stored_configs_spared.get():
            return None
        return Error(
            f"the stored config of flow '{row.name}' is not valid:\n{exc}",
            hint="Fix the config on the Flow row, in the admin.",
            obj=row,
            id="adminflow.E004",
        )
    if row.plan_required != PlanPolicy.NEVER and (refusal := configured.plan_refusal()):
        return Warning(
            f"flow '{row.name}' requires a plan, so every run of it is refused: {refusal}",
            hint="Set its 'plan required' to never, or make its propagate steps plan intents.",
            obj=row,
            id="adminflow.W005",
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
