"""The record storer: where a flow's records come from and go back to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
        raise NotImplementedError(f"{type(self).__name__} does not support plans")

    def plan_store(
        self, rec_list: list[T], logger: Logger, touched: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Return what storing ``rec_list`` would change, writing nothing: the record diff.

        One JSON dict per record added, changed or removed, and per key in
        ``touched`` (records the plan's intents are about) left unchanged:
        ``key``, ``action`` (added, changed, removed, unchanged), ``before``,
        ``after`` and ``fingerprint`` (the record's stored state now, which
        an apply checks). A storer that implements it and the other
        :data:`PLAN_METHODS` supports plans; the defaults refuse them.
        """
        raise NotImplementedError(f"{type(self).__name__} does not support plans")

    def stale_keys(self, entries: Sequence[Mapping[str, Any]]) -> list[str]:
        """Return the keys of planned records changed since they were planned.

        ``entries`` are the diff entries of :meth:`plan_store` an apply
        checks; called after ``get_records``. Part of plan support.
        """
        raise NotImplementedError(f"{type(self).__name__} does not support plans")

    def store_planned(
        self,
        records: list[T],
        entries: Sequence[dict[str, Any]],
        marks: dict[str, dict[str, Any]],
        logger: Logger,
    ) -> None:
        """Store ``records`` (as ``get_records`` loaded them) with a plan's diff and marks made.

        ``entries`` are the approved diff entries to make, ``marks`` the
        fields carried-out intents wrote, by record key. Part of plan support.
        """
        raise NotImplementedError(f"{type(self).__name__} does not support plans")


PLAN_METHODS = ("record_key", "plan_store", "stale_keys", "store_planned")
"""What a storer implements to support plans: plan a store, check it, and make it."""


def missing_plan_methods(storer: RecordStorer[Any]) -> list[str]:
    """Return the plan methods ``storer`` leaves to the base, which refuses them."""
    return [
        name for name in PLAN_METHODS if getattr(type(storer), name) is getattr(RecordStorer, name)
    ]
