"""Flows as data: build an AdminFlow from a spec (dict, YAML, JSON) and back.

A spec names its storer and steps by type name: a name in ``step_types``
(the Django layer passes its step registry) or a dotted import path. With
``imports=False`` a dotted path may only name one of ``step_types``, and
nothing is imported: the admin reads specs that way, so that editing a flow
cannot make the server import whatever module a spec names. Every fault is
reported with its place in the spec (``steps[2].depends_on[0]``)::

    name: roster-sync
    description: Keep the roster in step with the registrar.
    settings: {num_threads: 4, time_limit: 600}
    storer: {type: RosterStorer, name: roster, config: {...}}
    steps:
      - {name: import-roster, type: ImportRoster, kind: record, retry: {max_attempts: 5}}
      - {name: assign-groups, type: AssignGroups, kind: update, depends_on: [check]}
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from graphlib import CycleError, TopologicalSorter
from typing import TYPE_CHECKING, Any

import yaml

from .config import FLOW_FIELDS, brief
from .documents import load_json, load_yaml
from .errors import ConfigProblem, FlowConfigError
from .steps import AdminStep, StepKind
from .storer import RecordStorer
from .yaml_errors import yaml_problem

if TYPE_CHECKING:  # for annotations only: the flow module imports this one
    from .flow import AdminFlow

SPEC_KEYS = {"name", "description", "settings", "storer", "steps"}
STORER_KEYS = {"type", "name", "config", "mode"}
STEP_KEYS = {"name", "type", "kind", "depends_on", "config", "mode", "retry", "time_limit"}
INLINE_KEYS = ("mode", "retry", "time_limit")
"""A storer's or step's keys that stand beside its section in a config, as ``<name>-<key>``."""
SETTINGS = tuple(field.name for field in FLOW_FIELDS)


def _import_dotted(path: str) -> Any:
    """Return what ``package.module.Name`` names; raise ImportError for anything else."""
    module_name, _, attribute = path.rpartition(".")
    # importlib takes ".x" as relative and refuses NUL with errors other than ImportError.
    if not module_name or not all(part.isidentifier() for part in path.split(".")):
        raise ImportError("not a dotted path of Python names")
    return getattr(importlib.import_module(module_name), attribute)


class _SpecReader:
    """Collect every problem in one spec instead of stopping at the first."""

    def __init__(self, step_types: Mapping[str, type] | None, imports: bool) -> None:
        self.step_types = step_types or {}
        self.imports = imports
        # Without imports, a path is looked up among the given types, never imported.
        self.paths = {
            f"{cls.__module__}.{cls.__qualname__}": cls for cls in self.step_types.values()
        }
        self.problems: list[ConfigProblem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def mapping(self, path: str, value: Any, keys: set[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            got = "nothing" if value is None else type(value).__name__
            self.problem(path, f"expected a mapping, got {got}")
            return {}
        for key in value:
            if key not in keys:
                self.problem(
                    f"{path}.{key}" if path else str(key),
                    f"unknown key (expected: {', '.join(sorted(keys))})",
                )
        return value

    def name(self, path: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            self.problem(path, f"expected a non-empty name, got {brief(value)}")
            return ""
        return value

    def resolve(self, path: str, type_name: Any, base: type, label: str) -> type | None:
        if not isinstance(type_name, str) or not type_name:
            self.problem(path, f"expected a registered type name, got {brief(type_name)}")
            return None
        cls = self.step_types.get(type_name) or self.paths.get(type_name)
        if cls is None and "." in type_name and not self.imports:
            self.problem(
                path,
                f"'{type_name}' is not a registered step type; a spec edited here names "
                "registered types only, never a module to import",
            )
            return None
        if cls is None and "." in type_name:
            try:
                cls = _import_dotted(type_name)
            except (ImportError, AttributeError) as exc:
                self.problem(path, f"cannot import '{type_name}': {exc}")
                return None
            except Exception as exc:  # the module itself failed while importing
                self.problem(path, f"cannot import '{type_name}': {type(exc).__name__}: {exc}")
                return None
        if cls is None:
            known = ", ".join(sorted(self.step_types)) or "none registered"
            self.problem(path, f"unknown type '{type_name}' (known: {known})")
            return None
        if not (inspect.isclass(cls) and issubclass(cls, base)):
            self.problem(path, f"'{type_name}' is not a {label} class ({base.__name__})")
            return None
        return cls


def parse_spec_text(text: str | bytes) -> Any:
    """Return the data in a spec written as JSON or YAML; raise FlowConfigError if unreadable."""
    try:
        return load_json(text)
    except (ValueError, yaml.YAMLError):
        pass  # not JSON, or too big: YAML (a superset of most JSON) has the final word
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        where, problem = yaml_problem(exc)
        raise FlowConfigError(
            "<spec>", [ConfigProblem("", f"the spec is not valid YAML or JSON{where}: {problem}")]
        ) from None


def flow_from_spec(
    flow_class: type[AdminFlow],
    spec: Any,
    step_types: Mapping[str, type] | None = None,
    *,
    imports: bool = True,
) -> AdminFlow:
    """Build the ``flow_class`` flow a spec describes; raise FlowConfigError listing every fault.

    ``spec`` is a mapping, or JSON or YAML text of one. ``imports=False``
    refuses dotted paths that do not name one of ``step_types``. The flow
    class is given rather than imported, as the flow module imports this one
    (``AdminFlow.from_spec`` is the way in).
    """
    if isinstance(spec, str | bytes):
        spec = parse_spec_text(spec)
    reader = _SpecReader(step_types, imports)
    if not isinstance(spec, Mapping):
        raise FlowConfigError(
            "<spec>", [f"a flow spec must be a mapping, got {type(spec).__name__}"]
        )
    spec = reader.mapping("", spec, SPEC_KEYS)
    flow_name = reader.name("name", spec.get("name"))
    description = spec.get("description", "")
    if not isinstance(description, str):
        reader.problem("description", "expected a string")
    settings = reader.mapping("settings", spec.get("settings", {}), set(SETTINGS))
    default_config: dict[str, Any] = dict(settings)

    storer = reader.mapping("storer", spec.get("storer"), STORER_KEYS)
    storer_cls = reader.resolve("storer.type", storer.get("type"), RecordStorer, "record storer")
    storer_name = reader.name("storer.name", storer.get("name", "records"))
    _section(storer, storer_name, default_config)

    steps = spec.get("steps", [])
    if not isinstance(steps, list):
        reader.problem("steps", f"expected a list, got {type(steps).__name__}")
        steps = []
    entries = _read_steps(reader, steps, default_config)
    ordered = _order(reader, entries)
    if reader.problems:
        raise FlowConfigError(flow_name or "<spec>", reader.problems)
    assert storer_cls is not None
    flow = _build(
        reader, flow_class, flow_name, description, storer_cls, storer_name, default_config
    )
    for entry in ordered if flow is not None else ():
        _add_step(reader, flow, entry)  # type: ignore[arg-type]  # not None: see the loop
    if flow is None or reader.problems:
        raise FlowConfigError(flow_name, reader.problems)
    return flow


def _build(
    reader: _SpecReader,
    flow_class: type[AdminFlow],
    name: str,
    description: str,
    storer_cls: type,
    storer_name: str,
    default_config: dict[str, Any],
) -> AdminFlow | None:
    """Return the empty flow, or None with the storer's faults (its config_types) recorded."""
    try:
        return flow_class(name, description, storer_cls, storer_name, default_config=default_config)
    except FlowConfigError as exc:
        for problem in exc.problems:
            reader.problem("storer", str(problem))
        return None


def _add_step(reader: _SpecReader, flow: AdminFlow, entry: dict[str, Any]) -> None:
    """Add one step as any caller would, recording any fault at the step's place in the spec.

    Only the flow sees some faults (a reserved name, an unusable method
    signature or ``config_types``); they are reported with the others.
    """
    name, cls, kind = entry["name"], entry["cls"], entry["kind"]
    try:
        if kind is StepKind.RECORD:
            flow.add_record_step(name, cls)  # _read_steps refused any depends_on
        elif kind is StepKind.UPDATE:
            flow.add_update_step(name, cls, entry["depends_on"])
        else:
            flow.add_propagate_step(name, cls, entry["depends_on"])
    except FlowConfigError as exc:
        for problem in exc.problems:
            reader.problem(entry["path"], str(problem))


def _section(source: Mapping[str, Any], name: str, config: dict[str, Any]) -> None:
    """Fold a storer's or step's inline ``config``, ``mode`` and limits into the flow config."""
    if "config" in source:
        config[name] = source["config"]
    for key in INLINE_KEYS:
        if key in source:
            config[f"{name}-{key}"] = source[key]


def _read_steps(
    reader: _SpecReader, steps: list[Any], default_config: dict[str, Any]
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(steps):
        path = f"steps[{index}]"
        step = reader.mapping(path, raw, STEP_KEYS)
        name = reader.name(f"{path}.name", step.get("name"))
        if name in seen:
            reader.problem(f"{path}.name", f"'{name}' is already the name of steps[{seen[name]}]")
            continue
        if name:
            seen[name] = index
        cls = reader.resolve(f"{path}.type", step.get("type"), AdminStep, "step")
        kind = cls.kind if cls is not None else None  # type: ignore[attr-defined]
        if "kind" in step and step["kind"] not in list(StepKind):
            reader.problem(
                f"{path}.kind",
                f"expected one of {' | '.join(StepKind)}, got {brief(step['kind'])}",
            )
        elif "kind" in step and cls is not None and step["kind"] != kind:
            reader.problem(
                f"{path}.kind",
                f"'{step.get('type')}' is a {kind} step, not {brief(step['kind'])}",
            )
        depends_on = step.get("depends_on", [])
        if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
            reader.problem(f"{path}.depends_on", "expected a list of step names")
            depends_on = []
        elif depends_on and kind is StepKind.RECORD:
            reader.problem(
                f"{path}.depends_on", "record steps run in the order listed and take no depends_on"
            )
            depends_on = []
        _section(step, name, default_config)
        if name and cls is not None:
            entries.append(
                {"name": name, "cls": cls, "kind": kind, "depends_on": depends_on, "path": path}
            )
    return entries


def _order(reader: _SpecReader, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the steps in an order where each comes after its dependencies.

    A spec may list steps in any order; the flow needs dependencies first.
    Unknown dependencies, ones of another kind, and cycles are reported here.
    """
    by_name = {entry["name"]: entry for entry in entries}
    graph: dict[str, list[str]] = {}
    for entry in entries:
        graph[entry["name"]] = []
        for position, dependency in enumerate(entry["depends_on"]):
            path = f"{entry['path']}.depends_on[{position}]"
            other = by_name.get(dependency)
            if other is None:
                reader.problem(path, f"'{dependency}' is not a step of this spec")
            elif other["kind"] is not entry["kind"]:
                reader.problem(
                    path,
                    f"{entry['kind']} step '{entry['name']}' cannot depend on "
                    f"{other['kind']} step '{dependency}'",
                )
            else:
                graph[entry["name"]].append(dependency)
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        reader.problem("steps", f"depends_on forms a cycle: {cycle}")
        return []
    # Keep the spec's own order, moving a step only as far as its dependencies
    # require: a spec listed dependencies-first comes back exactly as written.
    ordered: dict[str, dict[str, Any]] = {}

    def place(name: str) -> None:
        if name not in ordered:
            for dependency in graph[name]:
                place(dependency)
            ordered[name] = by_name[name]

    for entry in entries:
        place(entry["name"])
    return list(ordered.values())


def flow_to_spec(flow: AdminFlow, step_types: Mapping[str, type] | None = None) -> dict[str, Any]:
    """Return the spec that ``flow_from_spec`` turns back into this flow."""
    names = {cls: name for name, cls in (step_types or {}).items()}

    def type_name(cls: type) -> str:
        return names.get(cls) or f"{cls.__module__}.{cls.__qualname__}"

    config = flow.default_config
    settings = {k: config[k] for k in SETTINGS if k in config}
    spec: dict[str, Any] = {"name": flow.name, "description": flow.description}
    if settings:
        spec["settings"] = settings
    spec["storer"] = {
        "type": type_name(flow.record_storer_type),
        "name": flow.record_storer_name,
        **_inline(config, flow.record_storer_name),
    }
    spec["steps"] = [
        {
            "name": name,
            "type": type_name(entry.cls),
            "kind": str(entry.kind),
            **({"depends_on": list(entry.depends_on)} if entry.depends_on else {}),
            **_inline(config, name),
        }
        for name, entry in flow.steps.items()
    ]
    return spec


def _inline(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    inline = {}
    if name in config:
        inline["config"] = config[name]
    for key in INLINE_KEYS:
        if f"{name}-{key}" in config:
            inline[key] = config[f"{name}-{key}"]
    return inline
