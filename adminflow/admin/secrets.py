"""Keep secrets out of the flow pages: mask them for display, put them back on save.

A stored config (or a data-defined flow's spec) holds secret values in the
clear, since a worker must be able to use them. The admin never renders
one: each value of a ``Secret``-typed key is shown as the mask, and a mask
that comes back in a submitted form means "keep the stored value".
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from ..engine import AdminFlow, ConfigProblem, Secret
from ..engine.config import MASK

# A section is one step's (or the storer's) key-value mapping: name -> (path, values).
Sections = dict[str, tuple[str, dict[str, Any]]]


def secret_keys(flow: AdminFlow | None) -> dict[str, set[str]] | None:
    """Return each section's ``Secret``-typed keys; None if the flow could not be built.

    Without the flow nobody knows which keys are secret, so the callers
    then treat every text value of every section as one.
    """
    if flow is None:
        return None
    sections = {flow.record_storer_name: flow.storer_fields}
    sections.update({name: entry.fields for name, entry in flow.steps.items()})
    return {
        name: {field.name for field in fields if field.type is Secret}
        for name, fields in sections.items()
    }


def config_sections(config: Any) -> Sections:
    """Return the step and storer sections of a config: its mapping values."""
    if not isinstance(config, dict):
        return {}
    return {key: (key, value) for key, value in config.items() if isinstance(value, dict)}


def spec_sections(spec: Any) -> Sections:
    """Return the inline ``config`` of a spec's storer and of each of its steps, by name."""
    if not isinstance(spec, dict):
        return {}
    found: Sections = {}
    storer = spec.get("storer")
    if isinstance(storer, dict) and isinstance(storer.get("config"), dict):
        found[str(storer.get("name", "records"))] = ("storer.config", storer["config"])
    steps = spec.get("steps")
    for index, step in enumerate(steps if isinstance(steps, list) else ()):
        if isinstance(step, dict) and isinstance(step.get("config"), dict):
            found[str(step.get("name"))] = (f"steps[{index}].config", step["config"])
    return found


def _is_secret(keys: Mapping[str, set[str]] | None, section: str, key: str, value: Any) -> bool:
    if keys is None:
        return isinstance(value, str)
    return key in keys.get(section, ()) and value is not None


def masked(
    data: Any, sections_of: Callable[[Any], Sections], keys: Mapping[str, set[str]] | None
) -> Any:
    """Return a copy of ``data`` (a config or spec) with every secret value replaced by the mask."""
    data = copy.deepcopy(data)
    for name, (_path, values) in sections_of(data).items():
        for key, value in values.items():
            if _is_secret(keys, name, key, value):
                values[key] = MASK
    return data


def restore_secrets(
    submitted: Any,
    stored: Any,
    sections_of: Callable[[Any], Sections],
    keys: Mapping[str, set[str]] | None,
) -> list[ConfigProblem]:
    """Put the stored value back wherever ``submitted`` (changed in place) holds a secret's mask.

    ``keys`` are the secret keys the form was shown with (see :func:`masked`).
    Return a problem for each mask that stands for nothing stored, since
    saving the mask itself would make it the secret.
    """
    stored_sections = sections_of(stored)
    problems = []
    for name, (path, values) in sections_of(submitted).items():
        old = stored_sections.get(name, ("", {}))[1]
        for key, value in values.items():
            if value != MASK or not _is_secret(keys, name, key, value):
                continue
            if isinstance(old.get(key), str) and old[key] != MASK:
                values[key] = old[key]
            else:
                problems.append(
                    ConfigProblem(
                        f"{path}.{key}",
                        f"'{MASK}' stands for a stored secret, and none is stored here: "
                        "type the secret itself",
                    )
                )
    return problems
