"""The database storers a site has registered, as the admin needs to know them.

A storer counts if a registered flow stores through it, or if it is registered
as a step type, so that a flow defined as data on a ``Flow`` row can name it.
The admin asks on each request rather than once at start-up: registries are
filled by ``ready()`` but tests and sites may register flows later, and the
answer is a walk over a few dozen classes, without a query.
"""

from __future__ import annotations

import inspect

from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models

from ..registry import flow_registry, step_registry
from ..storage import DjangoRecordStorer


def registered_storers() -> list[type[DjangoRecordStorer]]:
    """Return every DjangoRecordStorer class of a registered flow or step type, once each."""
    candidates = [flow.record_storer_type for flow in flow_registry.values()]
    candidates += step_registry.values()
    found: list[type[DjangoRecordStorer]] = []
    for cls in candidates:
        if inspect.isclass(cls) and issubclass(cls, DjangoRecordStorer) and cls not in found:
            found.append(cls)
    return found


def typed_storer_registered() -> bool:
    """Return whether a registered storer keeps typed records in adminflow's ``Record`` table."""
    return any(storer.record_type is not None for storer in registered_storers())


def record_key_field(model: type[models.Model], owner: str) -> models.Field:
    """Return the field by which the registered storers of ``model`` key its records.

    That is the key their ``RecordChange`` rows carry (as text). ``owner``
    names who asks, in messages. Raise ImproperlyConfigured if no registered
    storer keeps ``model``'s records, or if two key them by different fields.
    """
    label = model._meta.label
    keys: dict[models.Field, list[str]] = {}
    for storer in registered_storers():
        if storer.model is model:
            keys.setdefault(_key_field(storer, model), []).append(storer.__qualname__)
    if not keys:
        raise ImproperlyConfigured(
            f"{owner}: no registered flow or storer type keeps {label} records in the "
            "database, so it cannot tell which field their history is keyed by: "
            "set record_key_field on it"
        )
    if len(keys) > 1:
        found = "; ".join(
            f"{field.name} by {', '.join(storers)}" for field, storers in keys.items()
        )
        raise ImproperlyConfigured(
            f"{owner}: the registered storers of {label} key its records by different "
            f"fields ({found}): set record_key_field on it to the one to show"
        )
    return next(iter(keys))


def _key_field(storer: type[DjangoRecordStorer], model: type[models.Model]) -> models.Field:
    """Return the field ``storer`` keys ``model``'s records by: its key_field, else the pk."""
    if storer.key_field is None:
        return model._meta.pk
    try:
        return model._meta.get_field(storer.key_field)  # type: ignore[return-value]  # a concrete field: the storer checked it
    except FieldDoesNotExist:
        raise ImproperlyConfigured(
            f"storer {storer.__qualname__}: key_field '{storer.key_field}' is not a field "
            f"of {model._meta.label}"
        ) from None
