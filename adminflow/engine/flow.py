"""AdminFlow: build a flow from step classes, configure it, run it.

Building refuses a bad step at once (duplicate name, unknown dependency,
dependency of another kind, unusable method signature). Configuring checks
everything before changing anything, and reports every problem together.

A step or storer may be given as a subscripted generic (``Storer[StudentRecord]``),
as courseflow flows do: it is checked as its class and built by calling the
alias, so the instance has the ``__orig_class__`` such classes read their
record type from.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, get_origin

from .config import (
    FLOW_FIELDS,
    STEP_MODES,
    STORER_MODES,
    ConfigField,
    Configs,
    StepMode,
    check_section,
    parse_config_types,
    parse_mode,
    redact,
    secrets_in,
)
from .configured import ConfiguredFlow, ConfiguredStep, StepEntry, config_snapshot
from .describe import describe_config, emit_config
from .errors import ConfigProblem, FlowConfigError
from .events import FlowObserver
from .limits import configured_limit, limit_problem
from .output import FlowOutput, OutputSettings
from .result import RunResult
from .retries import RetryPolicy, configured_policy
from .spec import flow_from_spec, flow_to_spec
from .steps import (
    STEP_BASES,
    AdminStep,
    CallPlan,
    Configurable,
    StepKind,
    plan_call,
    refusal_message,
    retry_problems,
)
from .storer import RecordStorer

STEP_KEY_SUFFIXES = ("-mode", "-retry", "-time_limit")
"""A step's keys beside its section: ``<step>-mode``, ``<step>-retry``, ``<step>-time_limit``."""


class AdminFlow:
    """A course-administration flow: a record storer and three phases of steps."""

    def __init__(
        self,
        name: str,
        description: str,
        record_storer_type: type[RecordStorer[Any]] | Any,
        record_storer_name: str = "records",
        *,
        default_config: Mapping[str, Any] | None = None,
        trace_records: bool = False,
    ) -> None:
        problems = []
        if not isinstance(name, str) or not name.strip():
            raise FlowConfigError(str(name), ["a flow needs a non-empty name"])
        if not isinstance(record_storer_name, str) or not record_storer_name.strip():
            problems.append(ConfigProblem("record_storer_name", "must be a non-empty string"))
        storer_class = class_of(record_storer_type)
        if not (inspect.isclass(storer_class) and issubclass(storer_class, RecordStorer)):
            problems.append(
                ConfigProblem(
                    str(record_storer_name),
                    f"{record_storer_type!r} is not a RecordStorer subclass",
                )
            )
            storer_fields: list[ConfigField] = []
        else:
            storer_fields, schema_problems = parse_config_types(
                str(record_storer_name), storer_class.config_types
            )
            problems += schema_problems
        if problems:
            raise FlowConfigError(name, problems)
        self.name = name
        self.description = description
        self.record_storer_type: type[RecordStorer[Any]] = storer_class
        """The storer's class; ``storer_factory`` is what builds it (a generic alias, say)."""
        self.storer_factory: Any = record_storer_type
        self.record_storer_name = record_storer_name
        self.storer_fields = tuple(storer_fields)
        self.default_config: dict[str, Any] = dict(default_config or {})
        """The config ``run()`` uses when ``config()`` was never called."""
        self.trace_records = bool(trace_records)
        """Find which step changed which field of each record: it costs a snapshot of a
        record each time a step takes its lock (see :mod:`adminflow.engine.tracing`)."""
        self._steps: dict[str, StepEntry] = {}
        self._configured: ConfiguredFlow | None = None
        self._output = OutputSettings()
        self._metadata: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"<AdminFlow {self.name!r}: {len(self._steps)} steps>"

    @property
    def steps(self) -> Mapping[str, StepEntry]:
        """The steps in the order they were added."""
        return dict(self._steps)

    # Building

    def add_record_step(self, name: str, step: type[AdminStep] | Any) -> None:
        """Add a record step; record steps run one after another in the order added."""
        self._add(StepKind.RECORD, name, step, ())

    def add_update_step(
        self, name: str, step: type[AdminStep] | Any, depends_on: Sequence[str] = ()
    ) -> None:
        """Add an update step that starts once the update steps it depends on are done."""
        self._add(StepKind.UPDATE, name, step, depends_on)

    def add_propagate_step(
        self, name: str, step: type[AdminStep] | Any, depends_on: Sequence[str] = ()
    ) -> None:
        """Add a propagate step that starts once the propagate steps it depends on are done."""
        self._add(StepKind.PROPAGATE, name, step, depends_on)

    def _add(self, kind: StepKind, name: str, step: Any, depends_on: Sequence[str]) -> None:
        problems = self._naming_problems(name)
        if problems:
            raise FlowConfigError(self.name, problems)
        base = STEP_BASES[kind]
        cls = class_of(step)
        if not (inspect.isclass(cls) and issubclass(cls, Configurable)):
            raise FlowConfigError(
                self.name, [ConfigProblem(name, f"{step!r} is not a {base.__name__} subclass")]
            )
        if isinstance(cls, type) and issubclass(cls, AdminStep) and not issubclass(cls, base):
            problems.append(
                ConfigProblem(name, f"{cls.__name__} is a {cls.kind} step, not a {kind} step")
            )
        problems += self._dependency_problems(kind, name, depends_on)
        contract = _step_contract(cls, kind)  # type: ignore[arg-type]
        if contract is None:  # read again, for messages that name this step
            problems += parse_config_types(name, cls.config_types)[1]
            problems += _method_plan(name, cls, kind)[1]
            problems += retry_problems(name, cls)
        if problems or contract is None:
            raise FlowConfigError(self.name, problems)
        fields, call = contract
        self._steps[name] = StepEntry(name, kind, cls, tuple(depends_on), tuple(fields), call, step)  # type: ignore[arg-type]
        self._configured = None

    def _naming_problems(self, name: str) -> list[ConfigProblem]:
        if not isinstance(name, str) or not name.strip():
            return [ConfigProblem("", f"a step needs a non-empty name, got {name!r}")]
        if name in self._steps:
            return [ConfigProblem(name, f"a {self._steps[name].kind} step named '{name}' exists")]
        reserved = {self.record_storer_name, *(f.name for f in FLOW_FIELDS)}
        if name in reserved or name.endswith(STEP_KEY_SUFFIXES) or name.startswith("_"):
            return [ConfigProblem(name, "this name is taken by the storer or a flow setting")]
        return []

    def _dependency_problems(
        self, kind: StepKind, name: str, depends_on: Sequence[str]
    ) -> list[ConfigProblem]:
        if isinstance(depends_on, str) or not isinstance(depends_on, Sequence | set | frozenset):
            return [
                ConfigProblem(name, f"depends_on must be a list of step names, got {depends_on!r}")
            ]
        if kind is StepKind.RECORD and depends_on:
            return [ConfigProblem(name, "record steps run in order and take no depends_on")]
        problems = []
        for dependency in depends_on:
            other = self._steps.get(dependency)
            if other is None:
                problems.append(
                    ConfigProblem(
                        name,
                        f"depends on '{dependency}', which is not a step of this flow "
                        "(add a dependency before the steps that depend on it)",
                    )
                )
            elif other.kind is not kind:
                problems.append(
                    ConfigProblem(
                        name,
                        f"{kind} step '{name}' cannot depend on {other.kind} step "
                        f"'{dependency}': dependencies must be of the same kind",
                    )
                )
        if len(set(depends_on)) != len(depends_on):
            problems.append(
                ConfigProblem(name, f"depends_on lists a step twice: {list(depends_on)}")
            )
        return problems

    # Configuring

    def config(self, config: Mapping[str, Any]) -> None:
        """Check ``config`` and build the steps; on any problem raise and change nothing."""
        self._configured = self.with_config(config)

    def with_config(self, config: Mapping[str, Any]) -> ConfiguredFlow:
        """Return the flow configured with ``config``, leaving this object untouched.

        Raise FlowConfigError listing every problem: unknown, missing or wrongly
        typed keys, bad modes, an excluded storer, fewer than one thread, and
        each step's own ``validate()`` refusal.
        """
        if not isinstance(config, Mapping):
            raise FlowConfigError(
                self.name, [f"the config must be a mapping, got {type(config).__name__}"]
            )
        problems = self._unknown_keys(config)
        settings, flow_problems = check_section(
            "", FLOW_FIELDS, {f.name: config[f.name] for f in FLOW_FIELDS if f.name in config}
        )
        problems += flow_problems
        if isinstance(settings.get("num_threads"), int) and settings["num_threads"] < 1:
            problems.append(ConfigProblem("num_threads", "must be at least 1"))
        if "time_limit" in settings and (problem := limit_problem(settings["time_limit"])):
            problems.append(ConfigProblem("time_limit", problem))

        storer = self.record_storer_name
        storer_mode = self._mode(f"{storer}-mode", config, STORER_MODES, problems)
        storer_values, section_problems = check_section(
            storer, self.storer_fields, config.get(storer)
        )
        problems += section_problems
        # Sections whose own keys are fine are built and validated even when other
        # sections have problems, so one error lists every validate() refusal too.
        checked = set() if section_problems else {storer}
        values: dict[str, dict[str, Any]] = {storer: storer_values}
        modes: dict[str, StepMode] = {}
        limits: dict[str, tuple[RetryPolicy, float | None, dict[str, Any]]] = {}
        for name, entry in self._steps.items():
            modes[name] = self._mode(f"{name}-mode", config, STEP_MODES, problems)
            limits[name] = self._limits(name, entry, config, problems)
            excluded = modes[name] is StepMode.EXCLUDE
            values[name], section_problems = check_section(
                name, entry.fields, config.get(name), require=not excluded
            )
            problems += section_problems
            if not section_problems and not excluded:
                checked.add(name)
        secrets = [s for section in values.values() for s in secrets_in(section)]

        storer_instance = (
            self._build(storer, self.storer_factory, storer_values, problems)
            if storer in checked
            else None
        )
        steps = {
            name: ConfiguredStep(
                entry,
                modes[name],
                self._build(name, entry.factory, values[name], problems)  # type: ignore[arg-type]
                if name in checked
                else None,
                retry=limits[name][0],
                time_limit=limits[name][1],
            )
            for name, entry in self._steps.items()
        }
        if problems:
            raise FlowConfigError(self.name, self._redacted(problems, secrets))
        given = {name: limit[2] for name, limit in limits.items()}
        snapshot = config_snapshot(settings, storer, storer_mode, modes, values, given)
        assert isinstance(storer_instance, RecordStorer)
        return ConfiguredFlow(
            self, settings, storer_mode, storer_instance, steps, snapshot, secrets, values
        )

    def _unknown_keys(self, config: Mapping[str, Any]) -> list[ConfigProblem]:
        storer = self.record_storer_name
        known = {"_description", *(f.name for f in FLOW_FIELDS), storer, f"{storer}-mode"}
        known |= {f"{s}{suffix}" for s in self._steps for suffix in ("", *STEP_KEY_SUFFIXES)}
        settings = ", ".join(f.name for f in FLOW_FIELDS)
        return [
            ConfigProblem(
                str(key),
                f"unknown key (expected {settings}, a step or storer name, '<name>-mode', "
                "or a step's '<name>-retry' or '<name>-time_limit')",
            )
            for key in config
            if key not in known
        ]

    @staticmethod
    def _limits(
        name: str, entry: StepEntry, config: Mapping[str, Any], problems: list[ConfigProblem]
    ) -> tuple[RetryPolicy, float | None, dict[str, Any]]:
        """Return a step's retry policy and time limit: its class's, as the config overrides them.

        Also return the override keys the config gives, checked, for the snapshot.
        """
        retry_key, limit_key = f"{name}-retry", f"{name}-time_limit"
        retry, given_retry, retry_problems = configured_policy(
            retry_key, entry.cls.retry, config.get(retry_key)
        )
        time_limit, limit_problems = configured_limit(
            limit_key, entry.cls.time_limit, config.get(limit_key)
        )
        problems += retry_problems + limit_problems
        given: dict[str, Any] = {retry_key: given_retry} if given_retry else {}
        if config.get(limit_key) is not None and not limit_problems:
            given[limit_key] = time_limit or 0.0
        return retry, time_limit, given

    def _mode(
        self,
        key: str,
        config: Mapping[str, Any],
        allowed: Sequence[StepMode],
        problems: list[ConfigProblem],
    ) -> StepMode:
        mode = parse_mode(key, config.get(key), allowed)
        if isinstance(mode, StepMode):
            return mode
        if allowed is STORER_MODES and config.get(key) == StepMode.EXCLUDE:
            mode = ConfigProblem(key, "the storer cannot be excluded; use include or debug")
        problems.append(mode)
        return StepMode.INCLUDE

    @staticmethod
    def _build(
        name: str, factory: Any, values: dict[str, Any], problems: list[ConfigProblem]
    ) -> Configurable | None:
        """Construct a step or storer and run its validate(); record a refusal as a problem."""
        try:
            instance = factory(Configs(values))
            verdict = instance.validate()
        except Exception as exc:
            problems.append(ConfigProblem(name, refusal_message(exc)))
            return None
        if verdict is False:
            problems.append(ConfigProblem(name, refusal_message(None)))
            return None
        return instance  # type: ignore[no-any-return]

    @staticmethod
    def _redacted(problems: list[ConfigProblem], secrets: Sequence[str]) -> list[ConfigProblem]:
        return [ConfigProblem(p.path, redact(p.message, secrets), p.courseflow) for p in problems]

    # Running

    def run(
        self,
        *,
        observers: Iterable[FlowObserver] = (),
        cancel_event: threading.Event | None = None,
    ) -> RunResult:
        """Run with the config given to ``config()``, else with ``default_config``.

        Without observers the run reports through Python ``logging`` as
        ``silent()``, ``verbose()`` and ``logfile()`` set (see :mod:`.output`).
        Raise FlowConfigError if that config is not valid. Step failures do not
        raise: they are in the result.
        """
        if self._configured is None:
            self.config(self.default_config)
        assert self._configured is not None
        if not (observers := tuple(observers)):
            output = FlowOutput(self._output)
            observers = (output,) if output.listening else ()
        result = self._configured.run(observers=observers, cancel_event=cancel_event)
        self._metadata = dict(result.metadata)
        return result

    # What courseflow code reads and sets on a flow

    @property
    def configured(self) -> bool:
        """Return whether the flow has a config to run with: ``config()`` or a run set one."""
        return self._configured is not None

    @property
    def configs(self) -> dict[str, Any]:
        """Return the effective config (each section as ``Configs``); empty before ``config()``."""
        return dict(self._configured.configs) if self._configured else {}

    @property
    def step_modes(self) -> dict[str, StepMode]:
        """Return each step's mode in the current config; empty before ``config()``."""
        if self._configured is None:
            return {}
        return {name: step.mode for name, step in self._configured.steps.items()}

    @property
    def record_storer(self) -> RecordStorer[Any] | None:
        """Return the storer built by ``config()``, or None before it."""
        return self._configured.storer if self._configured else None

    @property
    def step_metadata(self) -> dict[str, Any]:
        """Return the metadata the steps set in the last ``run()`` of this object."""
        return dict(self._metadata)

    def get_metadata(self, name: str) -> Any:
        """Return one piece of the last run's metadata; a missing name reads as None."""
        return self._metadata.get(name)

    def silent(self) -> None:
        """Print nothing when run without observers (a log file still gets every line)."""
        self._output = replace(self._output, silent=True, verbose=False)

    def verbose(self) -> None:
        """Print every line the steps and storer log, not only progress, when run without observers."""
        self._output = replace(self._output, silent=False, verbose=True)

    def logfile(self, path: str | Path) -> None:
        """Also append every line of a run without observers to the file at ``path``."""
        self._output = replace(self._output, logfile=str(path))

    # As data

    @classmethod
    def from_spec(
        cls, spec: Any, step_types: Mapping[str, type] | None = None, *, imports: bool = True
    ) -> AdminFlow:
        """Build a flow from a spec naming registered step types (see ``engine.spec``)."""
        return flow_from_spec(cls, spec, step_types, imports=imports)

    def to_spec(self, step_types: Mapping[str, type] | None = None) -> dict[str, Any]:
        """Return this flow as a spec that ``from_spec`` builds again."""
        return flow_to_spec(self, step_types)

    # Describing

    def describe_config(self) -> dict[str, Any]:
        """Return the config this flow expects, as nested strings "(type) description"."""
        return describe_config(self)

    def emit_config(self) -> str:
        """Return a commented YAML template of the config, defaults filled in."""
        return emit_config(self)


def class_of(kind: Any) -> Any:
    """Return the class a subscripted generic (``Storer[Record]``) stands for, else ``kind``."""
    origin = get_origin(kind)
    return origin if inspect.isclass(origin) else kind


@functools.lru_cache(maxsize=1024)
def _step_contract(
    cls: type[AdminStep], kind: StepKind
) -> tuple[tuple[ConfigField, ...], CallPlan] | None:
    """Return a step class's config fields and call plan, or None if anything is unsound.

    Cached per class: reading signatures and schemas dominates building a
    large flow, and a large flow reuses a few step classes many times.
    """
    fields, schema_problems = parse_config_types(cls.__name__, cls.config_types)
    call, call_problems = _method_plan(cls.__name__, cls, kind)
    if schema_problems or call_problems or call is None or retry_problems(cls.__name__, cls):
        return None
    return tuple(fields), call


PLANNED_ARGUMENTS = ("logger", "get_metadata")
"""What ``plan_records`` is called with after the records, by name; and ``set_metadata``
if it takes it, for a step that publishes what it plans (e.g. who it will remind)."""


def _method_plan(
    owner: str, cls: Any, kind: StepKind
) -> tuple[CallPlan | None, list[ConfigProblem]]:
    """Return how a step's method is called, or why it cannot be.

    A propagate step that opted in to plans (it defines ``plan_records`` and
    ``carry_out``) needs no ``propagate_records``; one that defines only one
    of the two is refused, naming the other.
    """
    base = STEP_BASES[kind]
    if kind is StepKind.PROPAGATE:
        defined = [
            name
            for name in ("plan_records", "carry_out")
            if getattr(cls, name, None) not in (None, getattr(base, name))
        ]
        if len(defined) == 2:
            taken = inspect.signature(cls.plan_records).parameters
            extra = ("set_metadata",) if "set_metadata" in taken else ()
            return CallPlan("plan_records", (), PLANNED_ARGUMENTS + extra), []
        if len(defined) == 1:
            missing = "carry_out" if defined == ["plan_records"] else "plan_records"
            return None, [
                ConfigProblem(
                    owner,
                    f"{cls.__name__} defines {defined[0]}() but not {missing}(): a step that "
                    "plans intents needs both",
                )
            ]
    return plan_call(owner, cls, base.method_name, base)
