"""The observer interface through which a run reports; the engine prints nothing.

An observer subclasses :class:`FlowObserver` and overrides what it cares
about. Calls come from worker threads, so observers must be thread-safe. An
observer that raises is logged and ignored: reporting never breaks a run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .result import RunResult, StepResult
    from .tracing import RecordEffect

internal_logger = logging.getLogger("adminflow.engine")


class FlowObserver:
    """Hear what a run does. Every method is optional."""

    def run_started(self, flow: str, steps: Sequence[StepResult]) -> None:
        """A run of ``flow`` starts; ``steps`` are all its steps, still pending."""

    def step_started(self, flow: str, step: StepResult) -> None:
        """A step's method is about to be called."""

    def step_retrying(self, flow: str, step: StepResult, error: str, delay: float) -> None:
        """An attempt of a step failed with ``error``; it is called again in ``delay`` seconds.

        ``step.attempts`` counts the calls made so far. A line saying the same
        is logged too, so observers that only read the log miss nothing.
        """

    def step_overdue(self, flow: str, step: StepResult) -> None:
        """A step has run past ``step.time_limit`` seconds and is still running.

        Called from a timer thread, at most once per step, always before the
        step's ``step_finished``. A line saying the same is logged too.
        """

    def step_records(self, flow: str, step: StepResult, effects: Sequence[RecordEffect]) -> None:
        """A step that touched records ends: what it did to each (see
        :mod:`adminflow.engine.tracing`). Called just before its ``step_finished``,
        only for a run whose storer can name its records."""

    def step_finished(self, flow: str, step: StepResult) -> None:
        """A step reached a final status, whether or not it ever started."""

    def store_started(self, flow: str) -> None:
        """Every step has ended and the records are about to be stored, in this thread.

        The last moment to write what an observer holds back: the store may
        lock the database (SQLite) until it is done.
        """

    def log(self, flow: str, step: str | None, level: int, message: str) -> None:
        """A step, the storer (``step`` is its name) or the flow (``None``) logged a line."""

    def run_finished(self, result: RunResult) -> None:
        """The run ended; ``result`` is what ``run()`` returns."""


class ObserverGroup(FlowObserver):
    """Fan every event out to several observers, isolating their failures."""

    def __init__(self, observers: Iterable[FlowObserver]) -> None:
        self.observers = tuple(observers)

    def _each(self, event: str, *args: object) -> None:
        for observer in self.observers:
            try:
                getattr(observer, event)(*args)
            except Exception:
                internal_logger.exception("observer %r failed on %s", observer, event)

    def run_started(self, flow: str, steps: Sequence[StepResult]) -> None:
        self._each("run_started", flow, steps)

    def step_started(self, flow: str, step: StepResult) -> None:
        self._each("step_started", flow, step)

    def step_retrying(self, flow: str, step: StepResult, error: str, delay: float) -> None:
        self._each("step_retrying", flow, step, error, delay)

    def step_overdue(self, flow: str, step: StepResult) -> None:
        self._each("step_overdue", flow, step)

    def step_records(self, flow: str, step: StepResult, effects: Sequence[RecordEffect]) -> None:
        self._each("step_records", flow, step, effects)

    def step_finished(self, flow: str, step: StepResult) -> None:
        self._each("step_finished", flow, step)

    def store_started(self, flow: str) -> None:
        self._each("store_started", flow)

    def log(self, flow: str, step: str | None, level: int, message: str) -> None:
        self._each("log", flow, step, level, message)

    def run_finished(self, result: RunResult) -> None:
        self._each("run_finished", result)
