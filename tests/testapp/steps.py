"""Steps and a storer over plain numbers, registered for the test suite.

Everything is deterministic and in memory. The ``Numbers`` storer keeps each
collection's values in a class-level dict, and ``Total`` reports "outside the
flow" by appending to a class-level list, so a test sees what a run stored and
what it did outside, and that a debug run did neither. Call
:func:`reset_numbers` before a test that runs these steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import adminflow
from adminflow import AdminPropagateStep, AdminRecordStep, AdminUpdateStep, RecordStorer


@dataclass
class Number:
    """The record these steps work on."""

    value: int


@adminflow.register_step
class Numbers(RecordStorer[Number]):
    description = "Numbers kept in memory, one list per collection."
    config_types = [("collection", str, "which list of numbers to load and store", "numbers")]

    collections: ClassVar[dict[str, list[int]]] = {}
    """What each collection holds, as stored by the last run that stored it."""

    def get_records(self, logger: Any) -> list[Number]:
        values = self.collections.get(self.configs.collection, [])
        logger(f"loaded {len(values)} numbers from '{self.configs.collection}'")
        return [Number(value) for value in values]

    def set_records(self, rec_list: list[Number], logger: Any, debug: bool = False) -> None:
        values = [record.value for record in rec_list]
        if debug:
            logger(f"debug: would store {values} in '{self.configs.collection}'")
            return
        self.collections[self.configs.collection] = values
        logger(f"stored {values} in '{self.configs.collection}'")


@adminflow.register_step
class AddNumbers(AdminRecordStep[Number]):
    description = "Add the configured numbers to the records."
    config_types = [
        ("numbers", list[int], "the numbers to add"),
        ("debug_numbers", list[int], "the numbers added instead in debug mode", []),
    ]

    def new_records(
        self, curr_records: list[Number], logger: Any, set_metadata: Any, debug: bool = False
    ) -> list[Number]:
        values = self.configs.debug_numbers if debug else self.configs.numbers
        logger(f"adding {values}")
        set_metadata("added", len(values))
        return [*curr_records, *(Number(value) for value in values)]


@adminflow.register_step
class Double(AdminUpdateStep[Number]):
    description = "Double every number."

    def update_records(
        self,
        records: list[tuple[Number, Any]],
        logger: Any,
        get_metadata: Any,
        set_metadata: Any,
        debug: bool = False,
    ) -> None:
        for record, lock in records:
            with lock:
                record.value *= 2
        set_metadata("doubled", len(records))
        logger(f"doubled {len(records)} numbers")


@adminflow.register_step
class Increment(AdminUpdateStep[Number]):
    description = "Add a fixed amount to every number."
    config_types = [("by", int, "how much to add to every number", 1)]

    def update_records(
        self,
        records: list[tuple[Number, Any]],
        logger: Any,
        get_metadata: Any,
        set_metadata: Any,
        debug: bool = False,
    ) -> None:
        for record, lock in records:
            with lock:
                record.value += self.configs.by
        logger(f"added {self.configs.by} to {len(records)} numbers")


@adminflow.register_step
class Total(AdminPropagateStep[Number]):
    description = "Report the sum of the numbers (to Total.reports, standing in for the world)."
    config_types = [("label", str, "the name the total is reported under", "total")]

    reports: ClassVar[list[tuple[str, int]]] = []
    """Every ``(label, total)`` reported outside the flow, oldest first."""

    def propagate_records(
        self,
        records: list[tuple[Number, Any]],
        logger: Any,
        get_metadata: Any,
        debug: bool = False,
    ) -> None:
        total = 0
        for record, lock in records:
            with lock:
                total += record.value
        if debug:
            logger(f"debug: would report {self.configs.label} = {total}")
            return
        self.reports.append((self.configs.label, total))
        logger(f"reported {self.configs.label} = {total} ({get_metadata('doubled')} doubled)")


def reset_numbers() -> None:
    """Forget every stored collection and every reported total."""
    Numbers.collections.clear()
    Total.reports.clear()
