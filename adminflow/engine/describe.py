"""What a flow's config looks like: the seed's described dict and a YAML template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import yaml

from .config import FLOW_FIELDS, STEP_MODES, STORER_MODES, ConfigField, Secret, StepMode
from .retries import RetryPolicy
from .steps import AdminStep, Configurable

if TYPE_CHECKING:
    from .flow import AdminFlow

_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE


def describe_config(flow: AdminFlow) -> dict[str, Any]:
    """Return the config ``flow`` expects, as nested strings "(type) description"."""
    described: dict[str, Any] = {"_description": flow.description}
    for field in FLOW_FIELDS:
        described[field.name] = field.describe()
    for name, kind, cls, fields in sections(flow):
        modes = STORER_MODES if kind == "storer" else STEP_MODES
        described[f"{name}-mode"] = _describe_mode(kind, modes)
        described[name] = {"_description": cls.description}
        described[name].update({field.name: field.describe() for field in fields})
    return described


def emit_config(flow: AdminFlow) -> str:
    """Return a commented YAML template of ``flow``'s config, defaults filled in."""
    lines = [
        *_comment(f"{flow.name}: {flow.description}"),
        "# Replace each '<fill in: type>' placeholder (the keys marked 'required'):",
        "# until then the config is refused, naming each key left to fill in.",
        "",
    ]
    for field in FLOW_FIELDS:
        lines += [*_comment(field.describe()), _yaml_line(field.name, field.default)]
    lines += [
        "# Any step may also take '<step>-retry: {max_attempts, backoff, max_backoff, jitter}'",
        "# (how an error worth retrying is retried) and '<step>-time_limit' (seconds it should",
        "# take; 0 for no limit). Where a step sets them itself, its values are shown.",
    ]
    for name, kind, cls, fields in sections(flow):
        modes = STORER_MODES if kind == "storer" else STEP_MODES
        lines += ["", *_comment(f"{name} ({kind}): {cls.description}")]
        lines += [f"# {_describe_mode(kind, modes)}", _yaml_line(f"{name}-mode", "include")]
        if issubclass(cls, AdminStep):
            lines += _limit_lines(name, cls)
        if not fields:
            lines.append(_yaml_line(name, {}))
            continue
        lines.append(f"{_yaml_key(name)}:")
        for field in fields:
            lines += _comment(field.describe(), indent="  ")
            if field.required:
                lines.append(f"  {_yaml_line(field.name, field.placeholder)}  # required")
            elif isinstance(field.default, Secret):
                # Never written out; left out, the default (from the environment, say) is used.
                lines.append(f"  # {_yaml_line(field.name, None)}  # left out: its default")
            else:
                lines.append(f"  {_yaml_line(field.name, field.default)}")
    return "\n".join(lines) + "\n"


def sections(flow: AdminFlow) -> list[tuple[str, str, type[Configurable], Sequence[ConfigField]]]:
    """Return the storer and each step as (name, kind label, class, fields), in flow order."""
    found: list[tuple[str, str, type[Configurable], Sequence[ConfigField]]] = [
        (flow.record_storer_name, "storer", flow.record_storer_type, flow.storer_fields)
    ]
    found += [(n, f"{e.kind} step", e.cls, e.fields) for n, e in flow.steps.items()]
    return found


def _limit_lines(name: str, cls: type[AdminStep]) -> list[str]:
    """Return commented ``-retry`` / ``-time_limit`` lines for what a step class sets itself."""
    lines = []
    if cls.retry_on or cls.retry != RetryPolicy():
        lines.append(f"# {_yaml_line(f'{name}-retry', asdict(cls.retry))}")
    if cls.time_limit is not None:
        lines.append(f"# {_yaml_line(f'{name}-time_limit', cls.time_limit)}")
    return lines


def _comment(text: str, indent: str = "") -> list[str]:
    """Return ``text`` as YAML comment lines; a description may span several lines.

    YAML refuses control characters even in comments, so they are written escaped.
    """
    text = _NON_PRINTABLE.sub(lambda found: ascii(found.group())[1:-1], str(text))
    return [f"{indent}# {line}".rstrip() for line in text.splitlines() or [""]]


def _describe_mode(kind: str, modes: Sequence[StepMode]) -> str:
    return f"({' | '.join(modes)}) how the {kind} takes part in a run; default include"


def _yaml_key(key: str) -> str:
    return _yaml_line(key, None).rpartition(": ")[0]


def _yaml_line(key: str, value: Any) -> str:
    """Return ``key: value`` as one line of YAML, quoting whatever needs it."""
    flow_mapping = yaml.safe_dump(
        {key: value}, default_flow_style=True, width=float("inf"), sort_keys=False
    )
    return flow_mapping.strip()[1:-1]
