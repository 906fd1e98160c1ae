"""Small step, storer and observer classes shared by the engine tests.

Steps are made by factories that wrap a plain function, so each test states
what its steps do in a line or two. The function receives a :class:`Call`
holding exactly what the engine passed; for record steps its return value is
the new record list (``None`` keeps the records as they were).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from adminflow import (
    AdminPropagateStep,
    AdminRecordStep,
    AdminUpdateStep,
    FlowObserver,
    RecordStorer,
)

WAIT = 5
"""Seconds a test's Event or Barrier waits before declaring the engine broken."""


@dataclass
class Call:
    """What one call of a step method received."""

    step: Any
    records: Any
    logger: Any
    get_metadata: Any = None
    set_metadata: Any = None
    debug: bool = False


StepFn = Callable[[Call], Any]


class Trace:
    """A thread-safe list of events, for asserting what ran and in which order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Any] = []

    def add(self, event: Any) -> None:
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[Any]:
        with self._lock:
            return list(self._events)

    def __contains__(self, event: Any) -> bool:
        return event in self.events


def _class_body(description: str, config_types: Sequence[tuple[Any, ...]], validate: Any) -> dict:
    body: dict[str, Any] = {"description": description, "config_types": list(config_types)}
    if validate is not None:
        body["validate"] = validate
    return body


def record_step(
    fn: StepFn | None = None,
    *,
    description: str = "a record step",
    config_types: Sequence[tuple[Any, ...]] = (),
    validate: Callable[[Any], Any] | None = None,
) -> type[AdminRecordStep]:
    """Return a record step class whose ``new_records`` calls ``fn``."""

    def new_records(self, curr_records, logger, set_metadata, debug=False):
        out = fn(Call(self, curr_records, logger, None, set_metadata, debug)) if fn else None
        return curr_records if out is None else out

    body = _class_body(description, config_types, validate)
    body["new_records"] = new_records
    return type("RecordStep", (AdminRecordStep,), body)


def update_step(
    fn: StepFn | None = None,
    *,
    description: str = "an update step",
    config_types: Sequence[tuple[Any, ...]] = (),
    validate: Callable[[Any], Any] | None = None,
) -> type[AdminUpdateStep]:
    """Return an update step class whose ``update_records`` calls ``fn``."""

    def update_records(self, records, logger, get_metadata, set_metadata, debug=False):
        if fn:
            fn(Call(self, records, logger, get_metadata, set_metadata, debug))

    body = _class_body(description, config_types, validate)
    body["update_records"] = update_records
    return type("UpdateStep", (AdminUpdateStep,), body)


def propagate_step(
    fn: StepFn | None = None,
    *,
    description: str = "a propagate step",
    config_types: Sequence[tuple[Any, ...]] = (),
    validate: Callable[[Any], Any] | None = None,
) -> type[AdminPropagateStep]:
    """Return a propagate step class whose ``propagate_records`` calls ``fn``."""

    def propagate_records(self, records, logger, get_metadata, debug=False):
        if fn:
            fn(Call(self, records, logger, get_metadata, None, debug))

    body = _class_body(description, config_types, validate)
    body["propagate_records"] = propagate_records
    return type("PropagateStep", (AdminPropagateStep,), body)


def with_policy(cls: type, **attributes: Any) -> type:
    """Return a subclass of step class ``cls`` with class attributes such as ``retry_on``."""
    return type(cls.__name__, (cls,), attributes)


def flaky(failures: Sequence[BaseException]) -> StepFn:
    """Return a step function that raises each of ``failures`` in turn, then succeeds."""
    left = list(failures)

    def fn(call: Call) -> None:
        if left:
            raise left.pop(0)

    return fn


def failing(message: str = "boom") -> StepFn:
    """Return a step function that raises RuntimeError(message)."""

    def fn(call: Call) -> None:
        raise RuntimeError(message)

    return fn


def refusing(message: str) -> Callable[[Any], None]:
    """Return a ``validate`` method that refuses every config with ValueError(message)."""

    def validate(step: Any) -> None:
        raise ValueError(message)

    return validate


def tracing(trace: Trace, name: str) -> StepFn:
    """Return a step function that only notes that ``name`` ran."""

    def fn(call: Call) -> None:
        trace.add(name)

    return fn


@dataclass
class Box:
    """Everything a storer class saw; the test reads it after the run."""

    records: list[Any] = field(default_factory=list)
    loads: int = 0
    stored: list[list[Any]] = field(default_factory=list)
    debug_stores: list[list[Any]] = field(default_factory=list)
    load_error: BaseException | None = None
    store_error: BaseException | None = None
    configs: list[Any] = field(default_factory=list)


def make_storer(
    records: Sequence[Any] = (),
    *,
    load_error: BaseException | None = None,
    store_error: BaseException | None = None,
    takes_debug: bool = False,
    description: str = "keeps records in memory",
    config_types: Sequence[tuple[Any, ...]] = (),
) -> type[RecordStorer]:
    """Return a fresh in-memory storer class; its ``box`` attribute shows what happened.

    A stored list becomes the records the next run loads, like a real storer.
    """
    box = Box(list(records), load_error=load_error, store_error=store_error)

    def get_records(self, logger):
        box.loads += 1
        box.configs.append(self.configs)
        logger(f"loading {len(box.records)} records")
        if box.load_error is not None:
            raise box.load_error
        return list(box.records)

    def store(rec_list, logger):
        if box.store_error is not None:
            raise box.store_error
        box.stored.append(list(rec_list))
        box.records = list(rec_list)
        logger(f"stored {len(rec_list)} records")

    if takes_debug:

        def set_records(self, rec_list, logger, debug=False):
            if debug:
                box.debug_stores.append(list(rec_list))
                logger(f"debug: would store {len(rec_list)} records")
                return
            store(rec_list, logger)

    else:

        def set_records(self, rec_list, logger):
            store(rec_list, logger)

    body = {
        "description": description,
        "config_types": list(config_types),
        "get_records": get_records,
        "set_records": set_records,
        "box": box,
    }
    return type("MemoryStorer", (RecordStorer,), body)


class Recorder(FlowObserver):
    """An observer that keeps every event as a tuple, thread-safely."""

    def __init__(self) -> None:
        self.trace = Trace()

    @property
    def events(self) -> list[tuple[Any, ...]]:
        return self.trace.events

    def run_started(self, flow, steps):
        self.trace.add(("run_started", flow, tuple((s.name, str(s.status)) for s in steps)))

    def step_started(self, flow, step):
        self.trace.add(("step_started", step.name))

    def step_retrying(self, flow, step, error, delay):
        self.trace.add(("step_retrying", step.name, step.attempts, error, delay))

    def step_overdue(self, flow, step):
        self.trace.add(("step_overdue", step.name))

    def step_finished(self, flow, step):
        self.trace.add(("step_finished", step.name, str(step.status)))

    def store_started(self, flow):
        self.trace.add(("store_started", flow))

    def log(self, flow, step, level, message):
        self.trace.add(("log", step, level, message))

    def run_finished(self, result):
        self.trace.add(("run_finished", str(result.status)))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [event for event in self.events if event[0] == kind]

    def logs(self) -> list[tuple[Any, int, str]]:
        return [event[1:] for event in self.of("log")]
