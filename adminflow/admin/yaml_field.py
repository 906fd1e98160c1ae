"""A form field for JSON data edited as YAML, and where a config path sits in YAML text.

Staff read and write configs as the YAML that ``runflow --config`` takes;
the database keeps JSON. So the field parses with the engine's safe, bounded
loader (:mod:`adminflow.engine.documents`: no tag builds an object, no alias
bomb gets through), turns dates into ISO text (which the config types
accept) and refuses what JSON cannot hold.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

import yaml
from django import forms
from django.core.exceptions import ValidationError

from ..engine.documents import load_yaml as load_yaml_data
from ..engine.yaml_errors import yaml_problem


class YAMLText(str):
    """Text as the user typed it, redisplayed unchanged when the form has errors."""


def dump_yaml(value: Any) -> str:
    """Return ``value`` as block-style YAML, keys in their stored order; ``None`` as nothing."""
    if value is None:
        return ""
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100)


def load_yaml(text: str) -> Any:
    """Return the data in ``text``; raise ValidationError saying where the YAML is broken."""
    try:
        return load_yaml_data(text)
    except yaml.YAMLError as exc:
        where, problem = yaml_problem(exc)
        raise ValidationError(
            "Not valid YAML%(where)s: %(problem)s",
            code="invalid",
            params={"where": where, "problem": problem},
        ) from None


def to_json(value: Any, path: str = "") -> Any:
    """Return ``value`` with dates as ISO text; raise ValidationError for non-JSON data."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        converted = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(
                    "%(path)s: keys must be text, got %(key)r (quote it)",
                    code="invalid",
                    params={"path": path or "top level", "key": key},
                )
            converted[key] = to_json(item, f"{path}.{key}" if path else key)
        return converted
    if isinstance(value, list):
        return [to_json(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(
            "%(path)s: %(value)s cannot be stored: JSON has no infinity or NaN",
            code="invalid",
            params={"path": path or "top level", "value": value},
        )
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValidationError(
        "%(path)s: a %(type)s cannot be stored; use text, numbers, booleans, lists or mappings",
        code="invalid",
        params={"path": path or "top level", "type": type(value).__name__},
    )


class YAMLField(forms.Field):
    """Edit JSON-compatible data as YAML; cleans to the data, ``None`` when left empty."""

    widget = forms.Textarea(
        attrs={
            "class": "adminflow-yaml vLargeTextField",
            "rows": 20,
            "spellcheck": "false",
            # A YAML line wrapped on screen reads as two lines; the editor numbers lines.
            "wrap": "off",
        }
    )

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values:
            return None
        if not isinstance(value, str):
            return value
        return to_json(load_yaml(value))

    def bound_data(self, data: Any, initial: Any) -> Any:
        return initial if self.disabled or data is None else YAMLText(data)

    def prepare_value(self, value: Any) -> Any:
        return value if isinstance(value, YAMLText) else dump_yaml(value)

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(data) != initial
        except ValidationError:
            return True


_PATH_TOKEN = re.compile(r"\[(\d+)\]\.?")


def line_of(text: str, path: str) -> int | None:
    """Return the 1-based line of the key ``path`` names (``add.numbers``, ``steps[2].type``).

    A key that is missing gives the line of its nearest enclosing key, so a
    "missing required key" problem points at the section it belongs in.
    Return None when the text is not YAML or the path is the whole document.
    """
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    rest = path
    while rest and node is not None:
        node, rest, found = _step_into(node, rest)
        line = found if found is not None else line
    return line


def _step_into(node: yaml.Node, rest: str) -> tuple[yaml.Node | None, str, int | None]:
    """Follow the first key or index of ``rest`` from ``node``: (child, rest, line of key)."""
    index = _PATH_TOKEN.match(rest)
    if index and isinstance(node, yaml.SequenceNode):
        position = int(index.group(1))
        if position < len(node.value):
            child = node.value[position]
            return child, rest[index.end() :], child.start_mark.line + 1
        return None, "", None
    if isinstance(node, yaml.MappingNode):
        # The longest matching key wins: step names may contain dots.
        for key, child in sorted(node.value, key=lambda pair: -len(str(pair[0].value))):
            name = str(key.value)
            if rest == name:
                return None, "", key.start_mark.line + 1
            if rest.startswith((f"{name}.", f"{name}[")):
                after = rest[len(name) :].removeprefix(".")
                return child, after, key.start_mark.line + 1
    return None, "", None
