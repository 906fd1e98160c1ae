"""The "Run with options" form: one run's config overrides, generated from the flow's schema.

Each key the flow declares gets a typed field (a number, a tick box, a
date, a list as YAML) with its description and its value in the stored
config (else its default); secrets are shown masked and can only be kept,
since a run queued here is executed by a task worker, which takes secrets
from the stored config alone (:func:`adminflow.runs.config.config_of_run`).
A key of type ``ExistingFile`` also takes an upload. Step modes, debug and
further YAML over the result complete it. The form checks nothing itself
beyond parsing: the config it builds is judged by the run service, exactly
as a run's, and each problem is shown at the field of its key.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from ..engine import AdminFlow, ConfigProblem, ExistingFile, Secret, StepMode
from ..engine.config import FLOW_FIELDS, MASK, STEP_MODES, STORER_MODES, ConfigField
from ..engine.describe import sections
from .flow_forms import problem_list
from .yaml_field import YAMLField, dump_yaml, line_of, load_yaml, to_json

UPLOAD_SUFFIX = ":upload"
"""Added to a file key's field name for the field that uploads the file instead."""

SECRET_KEPT = (
    "a secret is changed on the flow's page, not for one run: the task worker that executes "
    "this run reads secrets from the flow's stored config only"
)


def _typed_field(field: ConfigField) -> forms.Field:
    """Return the form field for one config key; empty means "keep the stored value"."""
    help_text = field.describe()
    options: dict[str, Any] = {"required": False, "label": field.name, "help_text": help_text}
    kind = field.type
    if kind is bool:
        return forms.BooleanField(**options)
    if kind is int:
        return forms.IntegerField(**options)
    if kind is float:
        return forms.FloatField(**options)
    if kind is date:
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **options)
    if kind is datetime:
        return forms.DateTimeField(**options)
    if kind is Secret:
        return forms.CharField(widget=forms.PasswordInput(render_value=True), **options)
    if kind is str or kind is ExistingFile:
        return forms.CharField(strip=False, widget=forms.TextInput(attrs={"size": 60}), **options)
    # A list: typed as YAML, e.g. [1, 2] or ["ann", "bob"].
    return forms.CharField(widget=forms.TextInput(attrs={"size": 60}), **options)


def _shown(field: ConfigField, value: Any) -> Any:
    """Return a config value as its form field shows it."""
    if field.type is Secret:
        return MASK if value not in (None, "") else ""
    if isinstance(value, list):
        return dump_yaml(value).strip() if value else "[]"
    if isinstance(value, Secret):  # a declared default read from the environment
        return MASK
    return value


class RunOptionsForm(forms.Form):
    """Options for one run of ``flow`` over its stored config ``base``."""

    debug = forms.BooleanField(
        required=False,
        label="Debug run",
        help_text="Every step in debug mode: nothing outside changes and the storer writes "
        "nothing, saying what it would have written.",
    )
    more = YAMLField(
        required=False,
        label="More overrides (YAML)",
        help_text="Applied over the values above, in the config's own shape, e.g. "
        "<code>num_threads: 1</code> or a step's <code>&lt;step&gt;-retry</code>.",
    )

    def __init__(self, flow: AdminFlow, base: Mapping[str, Any], *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.flow = flow
        self.base = copy.deepcopy(dict(base))
        self.schema: dict[str, tuple[str | None, ConfigField]] = {}
        """Each typed field's name: (its section, or None for a flow setting; its key)."""
        self.groups: list[tuple[str, str, list[str]]] = [("Run", "", ["debug"])]
        settings = []
        for field in FLOW_FIELDS:
            self._add(None, field, self.base.get(field.name, field.default))
            settings.append(field.name)
        self.groups.append(("Flow settings", "", settings))
        for name, kind, cls, fields in sections(flow):
            section = self.base.get(name)
            section = section if isinstance(section, Mapping) else {}
            modes = STORER_MODES if kind == "storer" else STEP_MODES
            mode_key = f"{name}-mode"
            self.fields[mode_key] = forms.ChoiceField(
                choices=[(mode, mode) for mode in modes],
                initial=self.base.get(mode_key) or StepMode.INCLUDE,
                label="mode",
                help_text="include: run it; exclude: skip it; debug: no changes outside",
            )
            names = [mode_key]
            for field in fields:
                default = None if field.required else field.default
                self._add(name, field, section.get(field.name, default))
                names.append(f"{name}.{field.name}")
                if field.type is ExistingFile:
                    upload = f"{name}.{field.name}{UPLOAD_SUFFIX}"
                    self.fields[upload] = forms.FileField(
                        required=False,
                        label=f"or upload {field.name}",
                        help_text="Saved on the server for this run; the run reads it.",
                    )
                    names.append(upload)
            self.groups.append((f"{name} ({kind})", cls.description, names))
        self.groups.append(("More", "", ["more"]))
        self.fields["more"].widget.attrs["rows"] = 6

    def _add(self, section: str | None, field: ConfigField, value: Any) -> None:
        name = field.name if section is None else f"{section}.{field.name}"
        self.fields[name] = _typed_field(field)
        self.initial[name] = _shown(field, value)
        self.schema[name] = (section, field)

    def fieldsets(self) -> Iterator[tuple[str, str, list[forms.BoundField]]]:
        """Yield each group of fields: the run, the flow settings, each section, more YAML."""
        for title, description, names in self.groups:
            yield title, description, [self[name] for name in names]

    def uploads(self) -> dict[str, Any]:
        """Return each uploaded file by the config path of the key it is for."""
        return {
            name.removesuffix(UPLOAD_SUFFIX): upload
            for name, upload in self.cleaned_data.items()
            if name.endswith(UPLOAD_SUFFIX) and upload
        }

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        for name, (_section, field) in self.schema.items():
            value = cleaned.get(name)
            if field.type is Secret and value not in (None, "", MASK):
                self.add_error(name, SECRET_KEPT)
            elif _is_list(field) and isinstance(value, str) and value.strip():
                try:
                    cleaned[name] = to_json(load_yaml(value))
                except ValidationError as exc:
                    self.add_error(name, exc)
        more = cleaned.get("more")
        for name, (section, field) in self.schema.items():
            given = more.get(section) if isinstance(more, Mapping) and section else None
            if field.type is not Secret or not isinstance(given, dict):
                continue
            if given.get(field.name) == MASK:
                del given[field.name]  # the mask stands for the stored secret: keep it
            elif given.get(field.name) is not None:
                self.add_error("more", f"{name}: {SECRET_KEPT}")
        return cleaned

    def overrides(self, files: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return the run's config and what differs from the stored one (the overrides).

        ``files`` gives, by config path, where an uploaded file was saved.
        Only values that differ from what the stored config (else the
        default) gives are overrides; the config is the stored one with them.
        """
        config = copy.deepcopy(self.base)
        changed: dict[str, Any] = {}
        for name, (section, field) in self.schema.items():
            value = files.get(name, self._given(name, field))
            if value is None:
                continue
            target = config if section is None else _section(config, section)
            current = target.get(field.name, None if field.required else field.default)
            if isinstance(current, date):
                current = current.isoformat()
            if value != current:
                target[field.name] = value
                _set(changed, section, field.name, value)
        for name, _kind, _cls, _fields in sections(self.flow):
            key = f"{name}-mode"
            mode = self.cleaned_data[key]
            if mode != (self.base.get(key) or StepMode.INCLUDE):
                config[key] = changed[key] = mode
        more = self.cleaned_data.get("more")
        if isinstance(more, Mapping):
            _merge(config, more)
            _merge(changed, more)
        elif more is not None:
            config = more  # not a mapping: the run service says what a config must be
        # A section the YAML named without changing anything in it is no override.
        return config, {key: value for key, value in changed.items() if value != {}}

    def _given(self, name: str, field: ConfigField) -> Any:
        """Return the JSON value typed for a key; None for "keep the stored value"."""
        value = self.cleaned_data.get(name)
        if field.type is Secret or value is None or (value == "" and _is_list(field)):
            return None
        if isinstance(value, date):
            return value.isoformat()
        return value

    def show_problems(self, problems: list[ConfigProblem]) -> None:
        """Show each of the run service's problems at the field of its key, if it has one."""
        text = self.data.get(self.add_prefix("more"), "")
        in_yaml, elsewhere = [], []
        for problem in problems:
            if problem.path in self.fields and problem.path not in self.errors:
                self.add_error(problem.path, problem.message)
            elif text and problem.path and line_of(text, problem.path):
                in_yaml.append(problem)
            else:
                elsewhere.append(problem)
        if in_yaml:
            self.add_error("more", problem_list(in_yaml, text))
        if elsewhere:
            self.add_error(None, problem_list(elsewhere, text))


def _is_list(field: ConfigField) -> bool:
    return field.type is list or getattr(field.type, "__origin__", None) is list


def _section(config: dict[str, Any], name: str) -> dict[str, Any]:
    if not isinstance(config.get(name), dict):
        config[name] = {}
    return config[name]


def _set(changed: dict[str, Any], section: str | None, key: str, value: Any) -> None:
    (changed if section is None else changed.setdefault(section, {}))[key] = value


def _merge(target: dict[str, Any], more: Mapping[str, Any]) -> None:
    """Merge ``more`` into ``target``: a section key by key, anything else replaced."""
    for key, value in more.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            target[key].update(value)
        else:
            target[key] = copy.deepcopy(value)
