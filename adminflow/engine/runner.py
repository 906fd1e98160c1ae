"""One run of a configured flow: load, record phase, update phase, propagate phase, store.

The store rule follows from what each phase may do. Record and update steps
change nothing outside the flow, so when one fails (or the run is cancelled
before propagating) nothing is stored and a rerun is safe. Propagate steps
write down what they did outside (invites, emails), so once that phase has
started the records are stored even if one of them fails.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterable
from datetime import UTC, datetime
from time import perf_counter
from typing import TYPE_CHECKING, Any

from .config import StepMode, redact
from .errors import StepContractError
from .events import FlowObserver, ObserverGroup
from .executor import ThreadedExecutor
from .metadata import MetadataStore
from .result import RunResult, RunStatus, StepResult, StepStatus
from .steps import StepKind

if TYPE_CHECKING:
    from .configured import ConfiguredFlow

_BROKEN = (StepStatus.FAILED, StepStatus.UPSTREAM_FAILED)


def _now() -> datetime:
    return datetime.now(UTC)


class StepLogger:
    """The ``logger`` callable a step receives; ``logger(msg)`` logs at INFO.

    ``logger.warning(msg)`` and friends are an extension of the seed's plain
    callable. Secret config values are masked in every line.
    """

    def __init__(self, run: FlowRun, source: str | None) -> None:
        self._run = run
        self._source = source

    def __call__(self, message: object, level: int = logging.INFO) -> None:
        self._run.emit_log(self._source, level, str(message))

    def debug(self, message: object) -> None:
        self(message, logging.DEBUG)

    def info(self, message: object) -> None:
        self(message, logging.INFO)

    def warning(self, message: object) -> None:
        self(message, logging.WARNING)

    def error(self, message: object) -> None:
        self(message, logging.ERROR)


class FlowRun:
    """The state of one run; built by ``ConfiguredFlow.run`` and used once."""

    def __init__(
        self,
        plan: ConfiguredFlow,
        observers: Iterable[FlowObserver],
        cancel_event: threading.Event | None,
        initial_metadata: dict[str, Any] | None,
    ) -> None:
        self.plan = plan
        self.flow = plan.name
        self.observer = ObserverGroup(observers)
        self.cancel_event = cancel_event or threading.Event()
        self.metadata = MetadataStore(initial_metadata)
        self.steps = {
            name: StepResult(name, step.entry.kind, step.mode, step.entry.depends_on)
            for name, step in plan.steps.items()
        }
        self.records: list[Any] = []
        self.locked_records: list[tuple[Any, threading.Lock]] = []
        self.result = RunResult(self.flow, RunStatus.SUCCEEDED, self.steps)

    def emit_log(self, source: str | None, level: int, message: str) -> None:
        self.observer.log(self.flow, source, level, redact(message, self.plan.secrets))

    def run(self) -> RunResult:
        result = self.result
        result.started_at = _now()
        started = perf_counter()
        for step in self.steps.values():
            if step.mode is StepMode.EXCLUDE:
                step.status = StepStatus.EXCLUDED
        self.observer.run_started(self.flow, list(self.steps.values()))
        try:
            self.execute()
        except Exception as exc:  # an engine fault must still end the run with a result
            self.fail(f"the run stopped unexpectedly: {type(exc).__name__}: {exc}")
        self.end_pending(StepStatus.SKIPPED)
        result.metadata = self.metadata.snapshot()
        result.records_out = len(self.records)
        result.duration = perf_counter() - started
        result.finished_at = _now()
        result.status, reason = self.final_status()
        result.error = result.error or reason
        self.observer.run_finished(result)
        return result

    def execute(self) -> None:
        storer = self.plan.storer_name
        try:
            loaded = self.plan.storer.get_records(StepLogger(self, storer))
            self.records = list(loaded)
        except Exception as exc:
            self.fail(f"storer '{storer}' could not load records: {type(exc).__name__}: {exc}")
            return
        self.result.records_in = len(self.records)
        with ThreadedExecutor(self.plan.num_threads, thread_name_prefix=self.flow) as executor:
            for kind in StepKind:
                # Returning before the propagate phase stores nothing: nothing outside changed.
                if self.has_failed():
                    return
                if self.cancel_event.is_set():
                    self.end_pending(StepStatus.CANCELLED)
                    return
                self.run_phase(executor, kind)
        self.store()

    def run_phase(self, executor: ThreadedExecutor, kind: StepKind) -> None:
        graph = self.plan.phase_graph(kind)
        if kind is not StepKind.RECORD:
            self.locked_records = [(record, threading.Lock()) for record in self.records]
        executor.run_graph(
            graph,
            self.run_step,
            cancel_event=self.cancel_event,
            fail_fast=self.plan.fail_fast,
            on_not_started=self.end_unstarted,
        )
        if kind is not StepKind.RECORD:
            self.records = [record for record, _lock in self.locked_records]

    def run_step(self, name: str) -> bool:
        result = self.steps[name]
        result.status = StepStatus.RUNNING
        result.started_at = _now()
        self.observer.step_started(self.flow, result)
        started = perf_counter()
        try:
            self.call_step(name)
            result.status = StepStatus.SUCCEEDED
        except BaseException as exc:
            result.status = StepStatus.FAILED
            result.error = redact(f"{type(exc).__name__}: {exc}", self.plan.secrets)
            result.traceback = redact(traceback.format_exc(), self.plan.secrets)
        result.duration = perf_counter() - started
        result.finished_at = _now()
        self.observer.step_finished(self.flow, result)
        return result.status is StepStatus.SUCCEEDED

    def call_step(self, name: str) -> None:
        step = self.plan.steps[name]
        arguments = {
            "logger": StepLogger(self, name),
            "get_metadata": self.metadata.get,
            "set_metadata": self.metadata.setter_for(name),
            "debug": step.mode is StepMode.DEBUG,
        }
        if step.entry.kind is StepKind.RECORD:
            records = step.entry.call.call(step.instance, self.records, arguments)
            if not isinstance(records, list):
                raise StepContractError(
                    f"record step '{name}' returned {type(records).__name__}; "
                    "new_records must return the list of records"
                )
            self.records = records
        else:
            step.entry.call.call(step.instance, self.locked_records, arguments)

    def end_unstarted(self, name: str, status: StepStatus) -> None:
        self.steps[name].status = status
        self.observer.step_finished(self.flow, self.steps[name])

    def end_pending(self, status: StepStatus) -> None:
        for step in self.steps.values():
            if step.status is StepStatus.PENDING:
                self.end_unstarted(step.name, status)

    def store(self) -> None:
        storer = self.plan.storer
        log = StepLogger(self, self.plan.storer_name)
        try:
            if self.plan.storer_mode is StepMode.INCLUDE:
                storer.set_records(self.records, log)
                self.result.stored = True
            elif self.plan.store_takes_debug:
                storer.set_records(self.records, log, debug=True)
            else:
                log(f"debug mode: would store {len(self.records)} records; nothing was written")
        except Exception as exc:
            self.fail(
                f"storer '{self.plan.storer_name}' could not store records: "
                f"{type(exc).__name__}: {exc}"
            )

    def fail(self, error: str) -> None:
        self.result.error = redact(error, self.plan.secrets)
        self.result.traceback = redact(traceback.format_exc(), self.plan.secrets)

    def has_failed(self) -> bool:
        return self.result.error is not None or any(
            step.status in _BROKEN for step in self.steps.values()
        )

    def final_status(self) -> tuple[RunStatus, str | None]:
        if self.has_failed():
            failed = [s.name for s in self.steps.values() if s.status is StepStatus.FAILED]
            return RunStatus.FAILED, f"failed steps: {', '.join(failed)}"
        cancelled = [s.name for s in self.steps.values() if s.status is StepStatus.CANCELLED]
        if cancelled:
            return (
                RunStatus.CANCELLED,
                f"cancelled before these steps started: {', '.join(cancelled)}",
            )
        return RunStatus.SUCCEEDED, None
