"""Run metadata as stored on ``FlowRun.metadata``, and back.

A value that survives a JSON round trip unchanged is kept as it is, so a
resumed run gets it back exactly; anything else is kept as its repr, with
secrets masked: readable, never restored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..engine.config import redact

REPR_KEY = "__repr__"
"""Marks a stored metadata value kept only as its repr: shown, but never restored."""


def metadata_to_json(metadata: Mapping[str, Any], secrets: Sequence[str]) -> dict[str, Any]:
    """Return run metadata fit for a JSONField.

    A value that survives a JSON round trip unchanged is kept as it is, so a
    resumed run gets it back exactly. Anything else (a tuple, a date, an
    object, a Secret, a value containing a secret) is kept as
    ``{"__repr__": "..."}`` with secrets masked: readable, never restored.
    """
    return {str(name): _storable(value, secrets) for name, value in metadata.items()}


def metadata_from_json(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Return the values of stored metadata that can be restored exactly."""
    return {
        name: value
        for name, value in stored.items()
        if not (isinstance(value, dict) and set(value) == {REPR_KEY})
    }


def _storable(value: Any, secrets: Sequence[str]) -> Any:
    try:
        text = json.dumps(value, allow_nan=False)
        exact = json.loads(text) == value
    except Exception:  # not serialisable, or an __eq__ that refuses: keep the repr
        exact = False
    if exact and not any(secret in text for secret in secrets):
        return value
    return {REPR_KEY: redact(repr(value), secrets)}
