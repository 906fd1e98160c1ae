"""What a run runs: the flow behind a name or a ``Flow`` row, and the config it runs with.

A flow is registered in code or defined as data (a spec on its row). A run's
config is the stored or given config with command-line style overrides. A
run's ``config_snapshot`` is its effective config with secrets masked, so it
is safe to store and show; to configure the run again elsewhere (a task
worker, a resume), each masked secret is taken from the flow's stored config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.db import router

from ..engine import (
    AdminFlow,
    AdminflowError,
    ConfigProblem,
    ConfiguredFlow,
    FlowConfigError,
    Secret,
    StepMode,
)
from ..engine.config import MASK
from ..engine.spec import parse_spec_text
from ..models import Flow, FlowRun
from ..registry import flow_registry, step_registry

# Flows


class UnknownFlow(AdminflowError):
    """Raise for a flow name that is neither registered nor stored with a spec."""


def sync_flow_rows(using: str | None = None, apps: Apps = global_apps, **kwargs: Any) -> None:
    """Create a ``Flow`` row for each registered flow that has none.

    Rows are never deleted or changed here: a flow removed from code keeps its
    runs, and a stored config stays as it was edited. A new row is enabled
    unless the flow was registered with ``enabled=False``. Connected to
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
            flow_model(
                name=name,
                description=flow.description,
                config=flow.default_config,
                enabled=flow_registry.starts_enabled(name),
            )
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
            defaults={
                "description": flow.description,
                "config": flow.default_config,
                "enabled": flow_registry.starts_enabled(name),
            },
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

    Whatever the row holds is returned for ``flow.with_config()`` to judge, so
    a stored config that is not a mapping is reported, not crashed on.
    """
    config = row.config or flow.default_config
    return dict(config) if isinstance(config, Mapping) else config


# Configs


class FlowNotConfigured(FlowConfigError):
    """Raise for a flow that was never configured and cannot run without a config.

    Neither its ``Flow`` row nor the flow itself gives it a config (the row's
    ``config`` is empty and the flow has no ``default_config``), and it needs
    keys that have no default: a course id, a roster path. Nothing is wrong
    with the site; someone has still to configure the flow. The message is
    built here alone, for a refused run and for ``adminflow.W004`` alike.
    """

    @property
    def summary(self) -> str:
        """Return what is wrong: the flow, and every problem of the config it was to run with."""
        problems = "\n".join(f"  - {problem}" for problem in self.problems)
        return (
            f"flow '{self.flow}' has never been configured (its Flow row stores no config "
            f"and the flow has no default config):\n{problems}"
        )

    @property
    def hint(self) -> str:
        """Return how to configure the flow."""
        return (
            "Store its config on the flow's page in the admin, or give one to a run: "
            f"`manage.py runflow {self.flow} --config FILE`."
        )

    def _format(self) -> str:
        return f"{self.summary}\n{self.hint}"


def configure_flow(
    row: Flow,
    *,
    config: Mapping[str, Any] | None = None,
    debug: bool = False,
    modes: Mapping[str, str] | None = None,
    num_threads: int | None = None,
) -> ConfiguredFlow:
    """Return the flow of ``row`` configured as a run would be; write nothing.

    ``config`` replaces the stored config; the other arguments override it
    as :func:`configure` says. Raise FlowConfigError listing every problem
    (FlowNotConfigured for a flow never configured and run with no config).
    """
    flow = build_flow(row)
    if config is None:
        return configure_stored(row, flow, debug=debug, modes=modes, num_threads=num_threads)
    return configure(flow, config, debug=debug, modes=modes, num_threads=num_threads)


def configure_stored(
    row: Flow,
    flow: AdminFlow,
    *,
    debug: bool = False,
    modes: Mapping[str, str] | None = None,
    num_threads: int | None = None,
) -> ConfiguredFlow:
    """Return ``flow`` (the flow of ``row``) configured with the row's stored config.

    The other arguments override it as :func:`configure` says. Raise
    FlowNotConfigured if the flow was never configured and needs a config,
    FlowConfigError for any other problem.
    """
    base = stored_config(row, flow)
    try:
        return configure(flow, base, debug=debug, modes=modes, num_threads=num_threads)
    except FlowConfigError as exc:
        if _never_configured(row, flow):
            raise FlowNotConfigured(flow.name, exc.problems) from None
        raise


def _never_configured(row: Flow, flow: AdminFlow) -> bool:
    """Return whether ``flow`` needs a config that nobody has given it yet.

    Its row stores none and it has no default config, so :func:`stored_config`
    hands out an empty one; and that does not configure it. A config that was
    given and went bad is another thing: someone has to correct it.
    """
    if row.config or flow.default_config:
        return False
    try:
        flow.with_config({})
    except FlowConfigError:
        return True
    return False


def configure(
    flow: AdminFlow,
    base: Mapping[str, Any],
    *,
    debug: bool = False,
    modes: Mapping[str, str] | None = None,
    num_threads: int | None = None,
) -> ConfiguredFlow:
    """Return ``flow`` configured with ``base`` and overrides; raise FlowConfigError.

    ``debug`` puts the storer and every step that is not excluded in debug
    mode; ``modes`` ({step: mode}) then sets single steps' modes.
    """
    if not isinstance(base, Mapping):
        return flow.with_config(base)  # refuses it, saying what a config must be
    config = dict(base)
    if num_threads is not None:
        config["num_threads"] = num_threads
    if debug:
        config[f"{flow.record_storer_name}-mode"] = StepMode.DEBUG
        for name in flow.steps:
            if config.get(f"{name}-mode") != StepMode.EXCLUDE:
                config[f"{name}-mode"] = StepMode.DEBUG
    known = {flow.record_storer_name, *flow.steps}
    unknown = [
        ConfigProblem(name, f"no step named '{name}' (steps: {', '.join(flow.steps)})")
        for name in modes or {}
        if name not in known
    ]
    config.update({f"{name}-mode": mode for name, mode in (modes or {}).items() if name in known})
    try:
        configured = flow.with_config(config)
    except FlowConfigError as exc:
        raise FlowConfigError(flow.name, [*unknown, *exc.problems]) from None
    if unknown:
        raise FlowConfigError(flow.name, unknown)
    return configured


def config_of_run(flow: AdminFlow, run: FlowRun) -> dict[str, Any]:
    """Return the config ``run`` was started with, its masked secrets restored.

    Each secret comes from the flow's stored config, else its declared
    default. One with neither was given only when the run started (e.g. by
    ``runflow --config``): raise FlowConfigError, as it cannot be rebuilt.
    """
    source = stored_config(run.flow, flow)
    config = {
        key: dict(value) if isinstance(value, Mapping) else value
        for key, value in run.config_snapshot.items()
    }
    sections = {flow.record_storer_name: flow.storer_fields}
    sections.update({name: entry.fields for name, entry in flow.steps.items()})
    problems = []
    for section, fields in sections.items():
        values = config.get(section)
        stored = source.get(section)
        stored = stored if isinstance(stored, Mapping) else {}
        for field in fields:
            if field.type is not Secret or not isinstance(values, dict):
                continue
            if values.get(field.name) != MASK:
                continue
            if isinstance(stored.get(field.name), str | Secret):
                values[field.name] = stored[field.name]
            elif not field.required:
                del values[field.name]
            else:
                problems.append(
                    ConfigProblem(
                        f"{section}.{field.name}",
                        "this secret is not in the flow's stored config, so the run "
                        "can only be executed by the process that started it",
                    )
                )
    if problems:
        raise FlowConfigError(flow.name, problems)
    return config


def configure_again(run: FlowRun) -> ConfiguredFlow:
    """Return the ConfiguredFlow of a run loaded from the database."""
    flow = build_flow(run.flow)
    return flow.with_config(config_of_run(flow, run))
