"""The config a run uses: the stored or given config, command-line style overrides, secrets.

A run's ``config_snapshot`` is its effective config with secrets masked, so
it is safe to store and show. To configure the run again elsewhere (a task
worker, a resume), each masked secret is taken from the flow's stored config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .engine import AdminFlow, ConfigProblem, ConfiguredFlow, FlowConfigError, Secret, StepMode
from .engine.config import MASK
from .loading import build_flow, stored_config
from .models import Flow, FlowRun


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
        flow.configured({})
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
        return flow.configured(base)  # refuses it, saying what a config must be
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
        configured = flow.configured(config)
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
    return flow.configured(config_of_run(flow, run))
