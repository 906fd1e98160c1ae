"""One run of a configured flow: load, record phase, update phase, propagate phase, store.

The store rule follows from what each phase may do. Record and update steps
change nothing outside the flow, so when one fails (or the run is cancelled
before propagating) nothing is stored and a rerun is safe. Propagate steps
write down what they did outside (invites, emails), so once that phase has
started the records are stored even if one of them fails.

A propagate step that plans intents (see :mod:`.intents`) is called as
``plan_records`` and then ``carry_out`` per intent. A *planning* run stops
there: it keeps the intents and the storer's record diff, and stores nothing.
An *applying* run carries out the intents it is given and lets the plan
store its diff: no step plans again.

A run's time limit cancels it the same way, so the same rule applies; a
step's own time limit is only reported, as a running thread cannot be
stopped. A step whose error is worth retrying is called again, with the
same inputs, after a wait that the cancel event cuts short.
"""

from __future__ import annotations

import logging
import random
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
from .intents import Intent, PlanToApply
from .limits import Alarm, seconds_text
from .metadata import MetadataStore
from .planning import IntentsMixin
from .result import RunResult, RunStatus, StepResult, StepStatus
from .retries import is_retryable
from .steps import StepKind, plans_intents
from .tracing import RecordLock, RecordTrace

if TYPE_CHECKING:
    from .configured import ConfiguredFlow

_BROKEN = (StepStatus.FAILED, StepStatus.UPSTREAM_FAILED)


def _now() -> datetime:
    return datetime.now(UTC)


class StepLogger:
    """The ``logger`` callable a step receives; ``logger(msg)`` logs at INFO.

    ``logger.warning(msg)`` and friends are an extension of the seed's plain
    callable. Secret config values are masked in every line. Lines are also
    kept in ``kept``, if given (what the storer reports while storing).
    """

    def __init__(
        self, run: FlowExecution, source: str | None, kept: list[str] | None = None
    ) -> None:
        self._run = run
        self._source = source
        self._kept = kept

    def __call__(self, message: object, level: int = logging.INFO) -> None:
        line = self._run.emit_log(self._source, level, str(message))
        if self._kept is not None:
            self._kept.append(line)

    def debug(self, message: object) -> None:
        self(message, logging.DEBUG)

    def info(self, message: object) -> None:
        self(message, logging.INFO)

    def warning(self, message: object) -> None:
        self(message, logging.WARNING)

    def error(self, message: object) -> None:
        self(message, logging.ERROR)


class FlowExecution(IntentsMixin):
    """The state of one run of a configured flow; built by ``ConfiguredFlow.run``, used once.

    Not called a run: ``FlowRun`` is the Django model that records one.
    """

    def __init__(
        self,
        plan: ConfiguredFlow,
        observers: Iterable[FlowObserver],
        cancel_event: threading.Event | None,
        initial_metadata: dict[str, Any] | None,
        *,
        planning: bool = False,
        applying: PlanToApply | None = None,
    ) -> None:
        self.plan = plan
        self.planning = planning
        self.applying = applying
        self.planned: dict[str, list[Intent]] = {}
        # Intents carried out, by id: an apply's retry skips them. Held, so no id is reused.
        self.done_intents: dict[int, Intent] = {}
        # Only a plan collects intents from several threads; other runs make no lock for it.
        self.intents_lock = threading.Lock() if planning else None
        self.record_locks = None
        self.flow = plan.name
        self.observer = ObserverGroup(observers)
        self.cancel_event = cancel_event or threading.Event()
        self.metadata = MetadataStore(initial_metadata)
        self.steps = {
            name: StepResult(
                name, step.entry.kind, step.mode, step.entry.depends_on, time_limit=step.time_limit
            )
            for name, step in plan.steps.items()
        }
        self.records: list[Any] = []
        self.locked_records: list[tuple[Any, RecordLock]] = []
        self.result = RunResult(self.flow, RunStatus.RUNNING, self.steps)
        self.rng = random.Random()  # the jitter of this run's retries
        self.clock: Alarm | None = None  # the run's time limit, if it has one
        self.running_at_limit: list[str] = []
        self.trace = RecordTrace.of(
            plan.storer,
            diff_fields=plan.trace_records,
            redact=lambda text: redact(text, plan.secrets),
        )

    def step_logger(self, source: str | None, kept: list[str] | None = None) -> StepLogger:
        return StepLogger(self, source, kept)

    def emit_log(self, source: str | None, level: int, message: str) -> str:
        """Send a log line to the observers, secrets masked; return it as they got it."""
        line = redact(message, self.plan.secrets)
        if self.trace is None:
            self.observer.log(self.flow, source, level, line)
            return line
        token = self.trace.reporting(self.trace.line_record(source, line))
        try:
            self.observer.log(self.flow, source, level, line)
        finally:
            self.trace.reported(token)
        return line

    def run(self) -> RunResult:
        result = self.result
        result.started_at = _now()
        started = perf_counter()
        for step in self.steps.values():
            if step.mode is StepMode.EXCLUDE:
                step.status = StepStatus.EXCLUDED
        self.observer.run_started(self.flow, list(self.steps.values()))
        if self.plan.time_limit > 0:
            name = f"{self.flow}:time-limit"
            self.clock = Alarm(self.plan.time_limit, self.time_up, name).start()
        try:
            self.execute()
        except Exception as exc:  # an engine fault must still end the run with a result
            self.fail(f"the run stopped unexpectedly: {type(exc).__name__}: {exc}")
        finally:
            self.stop_clock()
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
        if self.planning and (refusal := self.plan.plan_refusal()):
            self.fail(refusal)
            return
        if self.applying is not None:
            try:
                self.applying.check(StepLogger(self, None))
            except Exception as exc:
                self.fail(f"the plan cannot be applied: {exc}")
                return
        else:
            self.load()
            if self.has_failed():
                return
        with ThreadedExecutor(self.plan.num_threads, thread_name_prefix=self.flow) as executor:
            for kind in StepKind:
                # Returning before the propagate phase stores nothing: nothing outside changed.
                if self.has_failed():
                    return
                if self.cancel_event.is_set():
                    self.end_pending(StepStatus.CANCELLED)
                    return
                self.run_phase(executor, kind)
        self.stop_clock()  # storing is all-or-nothing: the time limit may not cut it short
        if self.planning:
            if not self.has_failed():
                self.make_plan()
        elif self.applying is not None:
            self.store_applied()
        else:
            self.store()

    def load(self) -> None:
        storer = self.plan.storer_name
        debug = {"debug": True} if self.storer_debug(self.plan.load_takes_debug) else {}
        try:
            loaded = self.plan.storer.get_records(StepLogger(self, storer), **debug)
            self.records = list(loaded)
        except Exception as exc:
            self.fail(f"storer '{storer}' could not load records: {type(exc).__name__}: {exc}")
            return
        self.result.records_in = len(self.records)
        if self.trace is not None:
            self.trace.loaded(self.records)

    def run_phase(self, executor: ThreadedExecutor, kind: StepKind) -> None:
        graph = self.plan.phase_graph(kind)
        if not graph:
            # No step of this phase runs, so none needs the records: a lock per record
            # would be made, and the record list copied, for nothing.
            return
        if kind is not StepKind.RECORD:
            if self.trace is not None and self.trace.diff_fields:
                self.locked_records = self.trace.locked(self.records)
            else:
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
        if self.trace is not None:
            self.trace.step_started(name)
        started = perf_counter()
        watch = None
        if result.time_limit is not None:
            watch = Alarm(
                result.time_limit, lambda: self.report_overdue(result), f"{self.flow}:{name}:limit"
            ).start()
        try:
            failure = self.call_with_retries(name)
        finally:
            if watch is not None:
                watch.stop()  # before step_finished, so no overdue report can follow it
        if failure is None:
            result.status = StepStatus.SUCCEEDED
        else:
            self.record_failure(result, *failure)
        result.duration = perf_counter() - started
        result.finished_at = _now()
        if self.trace is not None and (effects := self.trace.step_ended(name)):
            self.observer.step_records(self.flow, result, effects)
        self.observer.step_finished(self.flow, result)
        return result.status is StepStatus.SUCCEEDED

    def call_with_retries(self, name: str) -> tuple[BaseException, str] | None:
        """Call a step until it succeeds, fails with an error not worth retrying, or runs out.

        Return None once it succeeds, else its last error and a note saying why
        it was not retried when it could have been. Each failed attempt of a
        step that may retry is logged with its error.
        """
        step = self.plan.steps[name]
        result = self.steps[name]
        policy = step.retry
        while True:
            result.attempts += 1
            try:
                self.call_step(name)
                return None
            except BaseException as exc:
                error = exc
            text = f"{type(error).__name__}: {error}"
            attempt = f"attempt {result.attempts} of {policy.max_attempts} failed: {text}"
            if not (isinstance(error, Exception) and is_retryable(error, step.entry.cls.retry_on)):
                if result.attempts > 1:
                    self.emit_log(name, logging.WARNING, f"{attempt}; not worth retrying")
                return error, ""
            if result.attempts >= policy.max_attempts:
                if policy.max_attempts > 1:
                    self.emit_log(name, logging.WARNING, f"{attempt}; giving up")
                return error, ""
            delay = policy.delay(result.attempts, self.rng)
            self.emit_log(name, logging.WARNING, f"{attempt}; retrying in {delay:.2f} s")
            self.observer.step_retrying(self.flow, result, redact(text, self.plan.secrets), delay)
            if self.cancel_event.wait(delay):
                stopped = (
                    "the run's time limit was reached"
                    if self.result.timed_out
                    else "the run was cancelled"
                )
                return error, f"; not retried: {stopped}"

    def record_failure(self, result: StepResult, error: BaseException, note: str) -> None:
        after = f" (after {result.attempts} attempts)" if result.attempts > 1 else ""
        result.status = StepStatus.FAILED
        result.error = redact(f"{type(error).__name__}: {error}{after}{note}", self.plan.secrets)
        result.traceback = redact("".join(traceback.format_exception(error)), self.plan.secrets)

    def report_overdue(self, result: StepResult) -> None:
        """Say that a step ran past its time limit; it goes on, as a thread cannot be stopped."""
        assert result.time_limit is not None
        result.overdue = True
        self.emit_log(
            result.name,
            logging.WARNING,
            f"still running after its time limit of {seconds_text(result.time_limit)}; "
            "it keeps running, as a thread cannot be stopped",
        )
        self.observer.step_overdue(self.flow, result)

    def time_up(self) -> None:
        """Cancel the run, as its time limit has passed; running steps finish."""
        self.running_at_limit = [
            step.name for step in self.steps.values() if step.status is StepStatus.RUNNING
        ]
        self.result.timed_out = True  # before the cancel, so whoever sees the cancel sees why
        self.emit_log(
            None,
            logging.WARNING,
            f"the run's time limit of {seconds_text(self.plan.time_limit)} was reached: "
            "no new step starts; running steps finish",
        )
        self.cancel_event.set()

    def stop_clock(self) -> None:
        if self.clock is not None:
            self.clock.stop()

    def call_step(self, name: str) -> None:
        step = self.plan.steps[name]
        arguments = {
            "logger": StepLogger(self, name),
            "get_metadata": self.metadata.get,
            "set_metadata": self.metadata.setter_for(name),
            "debug": step.mode is StepMode.DEBUG,
        }
        if step.entry.kind is StepKind.RECORD:
            before = self.trace.before_record_step(self.records) if self.trace else None
            records = step.entry.call.call(step.instance, self.records, arguments)
            if not isinstance(records, list):
                raise StepContractError(
                    f"record step '{name}' returned {type(records).__name__}; "
                    "new_records must return the list of records"
                )
            if self.trace is not None and before is not None:
                self.trace.after_record_step(before, records)
            self.records = records
        elif step.entry.kind is StepKind.PROPAGATE and plans_intents(step.entry.cls):
            self.run_intents(name, arguments)
        else:
            step.entry.call.call(step.instance, self.locked_records, arguments)

    def end_unstarted(self, name: str, status: StepStatus) -> None:
        self.steps[name].status = status
        self.observer.step_finished(self.flow, self.steps[name])

    def end_pending(self, status: StepStatus) -> None:
        for step in self.steps.values():
            if step.status is StepStatus.PENDING:
                self.end_unstarted(step.name, status)

    def storer_debug(self, takes_debug: bool) -> bool:
        """Return whether to pass ``debug=True``: the storer is in debug mode and declares it.

        As courseflow does, ``debug`` is passed only in debug mode; the storer
        decides what a debug load or store means.
        """
        return takes_debug and self.plan.storer_mode is StepMode.DEBUG

    def store(self) -> None:
        storer = self.plan.storer
        log = StepLogger(self, self.plan.storer_name, self.result.storer_report)
        self.observer.store_started(self.flow)
        try:
            if self.plan.storer_mode is StepMode.INCLUDE:
                storer.set_records(self.records, log)
                self.result.stored = True
            elif self.storer_debug(self.plan.store_takes_debug):
                storer.set_records(self.records, log, debug=True)  # type: ignore[call-arg]  # a storer that takes debug
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
        failed = [s.name for s in self.steps.values() if s.status is StepStatus.FAILED]
        cancelled = [s.name for s in self.steps.values() if s.status is StepStatus.CANCELLED]
        if self.result.timed_out:
            return RunStatus.FAILED, self.time_up_reason(failed, cancelled)
        if self.has_failed():
            return RunStatus.FAILED, f"failed steps: {', '.join(failed)}"
        if cancelled:
            return (
                RunStatus.CANCELLED,
                f"cancelled before these steps started: {', '.join(cancelled)}",
            )
        if self.planning:
            return RunStatus.PLANNED, None
        return RunStatus.SUCCEEDED, None

    def time_up_reason(self, failed: list[str], cancelled: list[str]) -> str:
        reason = f"the run's time limit of {seconds_text(self.plan.time_limit)} was reached"
        if self.running_at_limit:
            reason += f" while these steps were running: {', '.join(self.running_at_limit)}"
        if cancelled:
            reason += f"; cancelled before these steps started: {', '.join(cancelled)}"
        if failed:
            reason += f"; failed steps: {', '.join(failed)}"
        return reason
