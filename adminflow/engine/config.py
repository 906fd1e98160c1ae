"""Configuration schemas: declared fields, value checking and step modes.

Steps declare ``config_types = [(name, type, description[, default]), ...]``;
this module turns those tuples into :class:`ConfigField` objects once, checks
user values against them and renders the "(type) description" strings of
``describe_config()``.
"""

from __future__ import annotations

import math
import re
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Union, get_args, get_origin

from .errors import ConfigProblem
from .files import ExistingFile, file_problem

MASK = "********"


class StepMode(StrEnum):
    """How a step (or the storer) takes part in a run."""

    INCLUDE = "include"
    """Run normally."""
    EXCLUDE = "exclude"
    """Do not run; steps depending on it treat it as complete."""
    DEBUG = "debug"
    """Run with ``debug=True``: no changes outside the flow."""


STEP_MODES = (StepMode.INCLUDE, StepMode.EXCLUDE, StepMode.DEBUG)
STORER_MODES = (StepMode.INCLUDE, StepMode.DEBUG)


class Secret:
    """A string config value that must never be shown.

    ``str()`` and ``repr()`` give a mask, so a secret that reaches a log line,
    an f-string or a traceback shows nothing; call :meth:`reveal` where the
    real value is needed (an API call).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        """Return the real value."""
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:
        # Pickling would write the value out; nothing in adminflow needs it.
        raise TypeError("Secret values cannot be pickled")


_SCALARS: dict[type, str] = {
    int: "int",
    float: "float",
    bool: "bool",
    str: "str",
    datetime: "datetime",
    date: "date",
    Secret: "secret",
    ExistingFile: "file",
}

ValidConfigTypes: Any = Union[(*_SCALARS, list)]
"""The types a step or storer may declare in ``config_types`` (also ``list[<one of these>]``)."""

_REQUIRED: Any = object()

_LARGEST_FLOAT = int(sys.float_info.max)


def type_label(kind: Any) -> str | None:
    """Return the name shown for a supported config type, or None if unsupported."""
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind is list:
        return "list"
    if get_origin(kind) is list:
        (item,) = get_args(kind) or (None,)
        if item in _SCALARS and item not in (Secret, ExistingFile):
            return f"list[{_SCALARS[item]}]"
    return None


@dataclass(frozen=True)
class ConfigField:
    """One declared configuration key of a step or storer."""

    name: str
    type: Any
    description: str
    default: Any = _REQUIRED

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    @property
    def label(self) -> str:
        return type_label(self.type) or repr(self.type)

    def describe(self) -> str:
        """Return the seed's ``"(type) description"`` form, noting any default."""
        if self.required:
            return f"({self.label}) {self.description}"
        return f"({self.label}, default {shown_value(self.default)}) {self.description}"

    @property
    def placeholder(self) -> str:
        """Return what a config template holds for this key until someone fills it in."""
        return f"<fill in: {self.label}>"


_PLACEHOLDER = re.compile(r"<fill in: [^<>\n]*>")


def placeholder_problem(field: ConfigField, value: Any) -> str | None:
    """Return what to do if ``value`` is still a template's placeholder, else None."""
    if isinstance(value, str) and _PLACEHOLDER.fullmatch(value.strip()):
        return f"still the template's placeholder: fill in {field.describe()}"
    return None


# The flow-wide settings that sit beside the step sections in every config.
FLOW_FIELDS = (
    ConfigField("num_threads", int, "how many steps may run at the same time", 4),
    ConfigField("fail_fast", bool, "start no further step once one has failed", False),
    ConfigField(
        "time_limit",
        float,
        "seconds the whole run may take before it is cancelled; 0 for no limit",
        0.0,
    ),
)


def describe_fields(description: str, fields: Sequence[ConfigField]) -> dict[str, str]:
    """Return one section of ``describe_config()``: its ``_description`` and each key's text."""
    return {"_description": description, **{field.name: field.describe() for field in fields}}


def shown_value(value: Any) -> str:
    """Return a value as it may be displayed: secrets masked, dates in ISO form."""
    if isinstance(value, Secret):
        return MASK
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(shown_value(v) for v in value) + "]"
    return safe_repr(value)


def safe_repr(value: Any) -> str:
    """Return ``repr(value)``, or its type's name where it has none (an int of 5,000 digits)."""
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__}>"


def brief(value: Any, width: int = 60) -> str:
    """Return ``value`` as a message shows it: its repr, cut to ``width`` characters."""
    text = safe_repr(value)
    return text if len(text) <= width else f"{text[: width - 3]}..."


def parse_config_types(
    owner: str, config_types: Any
) -> tuple[list[ConfigField], list[ConfigProblem]]:
    """Turn a class's ``config_types`` declaration into fields, with any problems found."""
    fields: list[ConfigField] = []
    problems: list[ConfigProblem] = []
    if not isinstance(config_types, Sequence) or isinstance(config_types, str):
        return [], [ConfigProblem(owner, "config_types must be a list of tuples")]
    seen: set[str] = set()
    for index, entry in enumerate(config_types):
        where = f"{owner}.config_types[{index}]"
        if not isinstance(entry, tuple | list) or len(entry) not in (3, 4):
            problems.append(ConfigProblem(where, "expected (name, type, description[, default])"))
            continue
        name, kind, description, *default = entry
        if not isinstance(name, str) or not name or name.startswith("_"):
            problems.append(ConfigProblem(where, f"bad key name {name!r}"))
            continue
        if hasattr(Configs, name):
            # self.configs.<name> would return the Mapping method, not the value.
            problems.append(
                ConfigProblem(where, f"key name {name!r} is taken by configs.{name}; rename it")
            )
            continue
        if name in seen:
            problems.append(ConfigProblem(f"{owner}.{name}", "declared twice"))
            continue
        seen.add(name)
        if type_label(kind) is None:
            problems.append(
                ConfigProblem(
                    f"{owner}.{name}",
                    f"unsupported type {kind!r}; use int, float, bool, str, datetime, date, "
                    "Secret, ExistingFile, or a list of these",
                )
            )
            continue
        field = ConfigField(name, kind, str(description))
        if default:
            try:
                field = ConfigField(name, kind, str(description), coerce(default[0], kind))
            except ValueError as exc:
                problems.append(ConfigProblem(f"{owner}.{name}", f"bad default: {exc}"))
                continue
        fields.append(field)
    return fields, problems


def _describe_value(value: Any) -> str:
    if isinstance(value, Secret):
        return "a secret"
    shown = shown_value(value)
    return f"{type(value).__name__} {shown[:40]}{'...' if len(shown) > 40 else ''}"


BOOL_AS_NUMBER = "courseflow took a bool for a number, as Python counts True as 1; write a number"
UNKNOWN_KEY = "courseflow ignored keys it did not know; remove it or correct its spelling"


def _is_bool_as_number(value: Any, kind: Any) -> bool:
    """Return whether ``value`` is a bool given for a number, which courseflow accepted."""
    if get_origin(kind) is list and isinstance(value, list):
        (item,) = get_args(kind)
        return any(_is_bool_as_number(element, item) for element in value)
    return isinstance(value, bool) and kind in (int, float)


def coerce(value: Any, kind: Any) -> Any:
    """Return ``value`` as ``kind``; raise ValueError saying what was expected.

    Strings in ISO form are accepted for dates because JSON has no date type;
    ``bool`` is never taken for a number, which YAML would otherwise allow.
    """
    label = type_label(kind)
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            # JSON (and so a stored config or run) has no infinity or NaN.
            if isinstance(value, int) and abs(value) <= _LARGEST_FLOAT:
                return float(value)
            if isinstance(value, float) and math.isfinite(value):
                return value
            raise ValueError(f"expected a finite float, got {_describe_value(value)}")
    elif kind is str:
        if isinstance(value, str):
            return value
    elif kind is ExistingFile:
        if isinstance(value, str):
            return str(value)
    elif kind is Secret:
        if isinstance(value, Secret):
            return value
        if isinstance(value, str):
            return Secret(value)
    elif kind is datetime:
        if isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"expected an ISO 8601 datetime, got {brief(value)}") from None
    elif kind is date:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"expected an ISO 8601 date, got {brief(value)}") from None
    elif kind is list:
        if isinstance(value, list):
            _check_json_data(value)
            return list(value)
    elif get_origin(kind) is list and isinstance(value, list):
        (item,) = get_args(kind)
        out = []
        for index, element in enumerate(value):
            try:
                out.append(coerce(element, item))
            except ValueError as exc:
                raise ValueError(f"item {index}: {exc}") from None
        return out
    raise ValueError(f"expected {label}, got {_describe_value(value)}")


def _check_json_data(value: Any, path: str = "") -> None:
    """Raise ValueError unless ``value`` is JSON data, which a run's stored config can hold."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_data(item, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"at {path}: keys must be text, got {brief(key)}")
            _check_json_data(item, f"{path}.{key}" if path else key)
    elif not (
        value is None
        or isinstance(value, str | bool | int)
        or (isinstance(value, float) and math.isfinite(value))
    ):
        raise ValueError(
            f"at {path}: expected text, numbers, booleans, null, lists or mappings, "
            f"got {_describe_value(value)}"
        )


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def check_section(
    path: str, fields: Sequence[ConfigField], raw: Any, *, require: bool = True
) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """Check one step's (or the storer's) config section against its fields.

    Return the coerced values and every problem: missing (when ``require``),
    unknown and wrongly typed keys. ``_description`` keys are ignored.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        return {}, [ConfigProblem(path, f"expected a mapping of keys, got {type(raw).__name__}")]
    values: dict[str, Any] = {}
    problems: list[ConfigProblem] = []
    known = {field.name for field in fields}
    for key in raw:
        if key not in known and key != "_description":
            expected = ", ".join(sorted(known)) or "none"
            problems.append(
                ConfigProblem(_join(path, key), f"unknown key (expected: {expected})", UNKNOWN_KEY)
            )
    for field in fields:
        if field.name in raw and (waiting := placeholder_problem(field, raw[field.name])):
            problems.append(ConfigProblem(_join(path, field.name), waiting))
        elif field.name in raw:
            try:
                values[field.name] = coerce(raw[field.name], field.type)
            except ValueError as exc:
                note = BOOL_AS_NUMBER if _is_bool_as_number(raw[field.name], field.type) else ""
                problems.append(ConfigProblem(_join(path, field.name), str(exc), note))
        elif field.required:
            # An excluded step may leave required keys out; they get no value at all.
            if require:
                problems.append(
                    ConfigProblem(
                        _join(path, field.name), f"missing required key {field.describe()}"
                    )
                )
        else:
            values[field.name] = field.default
        # A file of a step that will not run need not exist.
        missing = None
        if require and field.type is ExistingFile and field.name in values:
            missing = file_problem(values[field.name])
        if missing:
            problems.append(ConfigProblem(_join(path, field.name), missing))
    return values, problems


def parse_mode(path: str, raw: Any, allowed: Sequence[StepMode]) -> StepMode | ConfigProblem:
    """Return the mode named by ``raw`` (None means include) or the problem with it."""
    if raw is None:
        return StepMode.INCLUDE
    if isinstance(raw, StepMode) and raw in allowed:
        return raw
    if isinstance(raw, str) and raw in {mode.value for mode in allowed}:
        return StepMode(raw)
    choices = " | ".join(mode.value for mode in allowed)
    return ConfigProblem(path, f"expected one of {choices}, got {brief(raw)}")


class Configs(Mapping[str, Any]):
    """The checked config of one step, read as attributes: ``self.configs.path``."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_values", types.MappingProxyType(dict(values)))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            known = ", ".join(sorted(self._values)) or "none"
            raise AttributeError(f"no config key {name!r} (known: {known})") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("configs are read-only; set the step's own attributes instead")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={shown_value(v)}" for k, v in self._values.items())
        return f"Configs({shown})"


def secrets_in(values: Mapping[str, Any]) -> list[str]:
    """Return the revealed values of every secret in ``values``."""
    return [v.reveal() for v in values.values() if isinstance(v, Secret) and v.reveal()]


def redact(text: str, secrets: Sequence[str]) -> str:
    """Return ``text`` with every secret value replaced by the mask."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
