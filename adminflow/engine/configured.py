"""A configured flow: checked config, built steps, ready to run any number of times."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from .config import FLOW_FIELDS, MASK, ConfigField, Configs, Secret, StepMode
from .events import FlowObserver
from .intents import PlanToApply
from .result import RunResult
from .retries import RetryPolicy
from .runner import FlowExecution
from .steps import AdminStep, CallPlan, StepKind, plans_intents
from .storer import RecordStorer, missing_plan_methods

if TYPE_CHECKING:
    from .flow import AdminFlow


@dataclass(frozen=True)
class StepEntry:
    """A step as added to a flow: its class, kind, dependencies and what its method takes."""

    name: str
    kind: StepKind
    cls: type[AdminStep]
    depends_on: tuple[str, ...]
    fields: tuple[ConfigField, ...]
    call: CallPlan
    factory: Any
    """What the step was added as, which builds it: ``cls``, or a generic alias of it."""


@dataclass(frozen=True)
class ConfiguredStep:
    entry: StepEntry
    mode: StepMode
    instance: AdminStep | None
    """None when the step is excluded: it is never built."""
    retry: RetryPolicy
    """The class's retry policy with the config's ``<step>-retry`` keys applied."""
    time_limit: float | None
    """Seconds the step should take (None: no limit), from the class or ``<step>-time_limit``."""


class ConfiguredFlow:
    """A flow with a checked configuration and built steps: ready to run, any number of times.

    ``AdminFlow.with_config()`` returns one without touching the flow itself,
    so one registered flow can serve concurrent runs with different configs.
    """

    def __init__(
        self,
        flow: AdminFlow,
        settings: Mapping[str, Any],
        storer_mode: StepMode,
        storer: RecordStorer[Any],
        steps: dict[str, ConfiguredStep],
        snapshot: dict[str, Any],
        secrets: Sequence[str],
        values: Mapping[str, Mapping[str, Any]],
    ) -> None:
        self.name = flow.name
        self.description = flow.description
        self.storer_name = flow.record_storer_name
        self.trace_records: bool = getattr(flow, "trace_records", False)
        """Attribute each field change to the step that made it (adminflow.engine.tracing)."""
        # A storer that declares ``debug`` decides what a debug load and store mean.
        self.load_takes_debug = _takes_debug(storer.get_records)
        self.store_takes_debug = _takes_debug(storer.set_records)
        self.num_threads: int = settings["num_threads"]
        self.fail_fast: bool = settings["fail_fast"]
        self.time_limit: float = settings["time_limit"]
        """Seconds the run may take before it is cancelled; 0 for no limit."""
        self.storer_mode = storer_mode
        self.storer = storer
        self.steps = steps
        self.snapshot = snapshot
        """The effective config with secrets masked: safe to show or persist."""
        self.secrets = tuple(secrets)
        self.configs: Mapping[str, Any] = {
            **{field.name: settings[field.name] for field in FLOW_FIELDS},
            f"{self.storer_name}-mode": storer_mode,
            **{f"{name}-mode": step.mode for name, step in steps.items()},
            **{name: Configs(section) for name, section in values.items()},
        }
        """The effective config, each section as ``Configs``, secrets as ``Secret``."""

    def phase_graph(self, kind: StepKind) -> dict[str, tuple[str, ...]]:
        """Return the included steps of one phase, each with the included steps it waits for.

        Record steps form a chain, since each sees what the one before returned.
        An excluded dependency counts as complete, but what it depended on
        still holds: with a -> b -> c and b excluded, c waits for a, so
        excluding a step never lets another start earlier than its inputs.
        """
        included = [
            name
            for name, step in self.steps.items()
            if step.entry.kind is kind and step.mode is not StepMode.EXCLUDE
        ]
        if kind is StepKind.RECORD:
            return {name: tuple(included[i - 1 : i]) for i, name in enumerate(included)}
        keep = set(included)
        waits: dict[str, tuple[str, ...]] = {}

        def included_ancestors(name: str) -> tuple[str, ...]:
            if name not in waits:
                found: dict[str, None] = {}
                for dependency in self.steps[name].entry.depends_on:
                    if dependency in keep:
                        found[dependency] = None
                    else:
                        found.update(dict.fromkeys(included_ancestors(dependency)))
                waits[name] = tuple(found)
            return waits[name]

        for name, step in self.steps.items():  # in insertion order: memoised bottom-up
            if step.entry.kind is kind:
                included_ancestors(name)
        return {name: waits[name] for name in included}

    def not_opted_in(self) -> list[str]:
        """Return the propagate steps that would run and do not plan intents, in flow order."""
        return [
            name
            for name, step in self.steps.items()
            if step.entry.kind is StepKind.PROPAGATE
            and step.mode is not StepMode.EXCLUDE
            and not plans_intents(step.entry.cls)
        ]

    def plan_refusal(self) -> str | None:
        """Return why this flow, as configured, cannot be planned; None if it can."""
        reasons = []
        if steps := self.not_opted_in():
            reasons.append(
                f"these propagate steps do not plan intents (they define propagate_records, "
                f"not plan_records and carry_out): {', '.join(steps)}"
            )
        if missing := missing_plan_methods(self.storer):
            reasons.append(
                f"storer '{self.storer_name}' ({type(self.storer).__name__}) cannot plan a "
                f"store (it does not implement {', '.join(missing)})"
            )
        if not reasons:
            return None
        return f"flow '{self.name}' cannot be planned: {'; '.join(reasons)}"

    def run(
        self,
        *,
        observers: Iterable[FlowObserver] = (),
        cancel_event: threading.Event | None = None,
        initial_metadata: dict[str, Any] | None = None,
        planning: bool = False,
        applying: PlanToApply | None = None,
    ) -> RunResult:
        """Run the flow once and return its result; never raises for a step's failure.

        ``planning`` makes the run a plan: the propagate steps declare their
        intents and nothing is done or stored (refused, as the run's error, if
        :meth:`plan_refusal` says why). ``applying`` carries out a kept plan
        instead of loading and planning (see :mod:`.intents`).
        """
        return FlowExecution(
            self, observers, cancel_event, initial_metadata, planning=planning, applying=applying
        ).run()


def _takes_debug(method: Any) -> bool:
    return "debug" in inspect.signature(method).parameters


def _jsonable(value: Any) -> Any:
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def config_snapshot(
    settings: Mapping[str, Any],
    storer: str,
    storer_mode: StepMode,
    modes: Mapping[str, StepMode],
    values: Mapping[str, Mapping[str, Any]],
    limits: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Return the effective config with secrets masked and dates as text: safe to persist.

    A step's ``-retry`` and ``-time_limit`` keys (``limits``) are kept only
    where the config gave them: without them the step class decides.
    """
    snapshot: dict[str, Any] = {field.name: settings[field.name] for field in FLOW_FIELDS}
    snapshot[f"{storer}-mode"] = str(storer_mode)
    snapshot[storer] = {k: _jsonable(v) for k, v in values[storer].items()}
    for name, mode in modes.items():
        snapshot[f"{name}-mode"] = str(mode)
        snapshot[name] = {k: _jsonable(v) for k, v in values[name].items()}
        snapshot.update(limits.get(name, {}))
    return snapshot
