"""The record storer: where a flow's records come from and go back to."""

from __future__ import annotations

from typing import Generic, TypeVar

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
