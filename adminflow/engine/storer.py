"""The record storer: where a flow's records come from and go back to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from .steps import Configurable, Logger

T = TypeVar("T")


class RecordStorer(Configurable, Generic[T]):
    """Load the records at the start of a run and store them at the end.

    Subclasses implement both methods. ``set_records`` may also accept
    ``debug``: in debug mode a storer that does must write nothing and log
    what it would have written; one that does not is simply not called.
    """

    def get_records(self, logger: Logger) -> list[T]:
        """Return the records the flow starts from."""
        raise NotImplementedError

    def set_records(self, rec_list: list[T], logger: Logger) -> None:
        """Store the records as they are at the end of the run, all or nothing."""
        raise NotImplementedError

    def record_key(self, record: T) -> str | None:
        """Return the key that names ``record`` in a plan (None for a new record without one).

        Only storers that support plans (see :meth:`plan_store`) implement it.
        """
        raise NotImplementedError

    def plan_store(
        self, rec_list: list[T], logger: Logger, touched: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Return what storing ``rec_list`` would change, writing nothing: the record diff.

        One JSON dict per record added, changed or removed, and per key in
        ``touched`` (records the plan's intents are about) left unchanged:
        ``key``, ``action`` (added, changed, removed, unchanged), ``before``,
        ``after`` and ``fingerprint`` (the record's stored state now, which
        an apply checks). A storer that implements it (and ``record_key``)
        supports plans; the default refuses them.
        """
        raise NotImplementedError


def supports_plans(storer: RecordStorer[Any]) -> bool:
    """Return whether a storer can plan a store: it implements ``plan_store``."""
    return type(storer).plan_store is not RecordStorer.plan_store
