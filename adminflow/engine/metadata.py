"""Run metadata: names that update steps publish and propagate steps read."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from .errors import MetadataConflictError

RESTORED = "(restored)"


class MetadataStore:
    """A thread-safe name -> value map that remembers which step set each name.

    The seed leaves two steps setting one name undefined; here the second
    step fails with an error naming both, since silently keeping either value
    would hide a bug in the flow.
    """

    def __init__(self, initial: Mapping[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] = dict(initial or {})
        self._setters: dict[str, str] = dict.fromkeys(self._values, RESTORED)

    def get(self, name: str) -> Any:
        """Return the value set under ``name``, or None if nothing was."""
        with self._lock:
            return self._values.get(name)

    def setter_for(self, step: str) -> Callable[[str, Any], None]:
        """Return the ``set_metadata`` callable handed to ``step``."""

        def set_metadata(name: str, value: Any) -> None:
            with self._lock:
                setter = self._setters.setdefault(name, step)
                if setter != step:
                    raise MetadataConflictError(name, setter, step)
                self._values[name] = value

        return set_metadata

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._values)
