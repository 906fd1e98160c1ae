"""How a run calls propagate steps that plan intents: plan, keep, carry out, apply.

A mix-in of :class:`~.runner.FlowExecution`, kept apart as its own idea: a
step that plans intents (see :mod:`.intents`) is called as ``plan_records``
and then ``carry_out`` per intent; a planning run keeps the intents and the
storer's record diff; an applying run carries out a kept plan's intents and
lets the plan store its diff.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .config import redact
from .errors import AdminflowError
from .intents import Intent, PlanToApply, carry_out, checked_intents
from .retries import is_retryable

if TYPE_CHECKING:
    from .configured import ConfiguredFlow
    from .events import ObserverGroup
    from .result import RunResult, StepResult
    from .runner import StepLogger


class IntentsFailed(AdminflowError):
    """Raise when some of a step's intents failed; the others were carried out."""

    def __init__(self, step: str, failures: list[str], total: int) -> None:
        self.failures = failures
        more = f"; and {len(failures) - 3} more" if len(failures) > 3 else ""
        super().__init__(
            f"{len(failures)} of {total} intents failed: {'; '.join(failures[:3])}{more}"
        )


class IntentsMixin:
    """Calling steps that plan intents; what it uses of the FlowExecution is declared here."""

    plan: ConfiguredFlow
    planning: bool
    applying: PlanToApply | None
    planned: dict[str, list[Intent]]
    done_intents: dict[int, Intent]
    intents_lock: threading.Lock | None
    cancel_event: threading.Event
    locked_records: list[tuple[Any, threading.Lock]]
    records: list[Any]
    steps: dict[str, StepResult]
    result: RunResult
    observer: ObserverGroup
    flow: str
    fail: Callable[[str], None]
    step_logger: Callable[..., StepLogger]
    record_locks: tuple[list[Any], dict[int, threading.Lock]] | None
    """This phase's records list and each record's lock, by the record's id."""

    def run_intents(self, name: str, arguments: dict[str, Any]) -> None:
        """Plan a step's intents (or take the plan's), then carry them out, keep them, or log them.

        Each intent is carried out in turn; one that raises is failed and the
        others still run, after which the step fails naming how many failed.
        An error worth retrying stops the step at once, for the engine to call
        it again: the intents carried out already are not carried out twice.
        """
        step = self.plan.steps[name]
        logger, get_metadata = arguments["logger"], arguments["get_metadata"]
        if self.applying is not None:
            intents = self.applying.intents.get(name, [])
        else:
            planned = step.entry.call.call(step.instance, self.locked_records, arguments)
            intents = checked_intents(name, planned)
        if arguments["debug"]:
            for intent in intents:
                logger(f"debug: would {intent.line}")
            return
        if self.intents_lock is not None:
            with self.intents_lock:
                self.planned[name] = intents
            logger(f"planned {len(intents)} intents")
            return
        failures: list[str] = []
        todo = [intent for intent in intents if id(intent) not in self.done_intents]
        for index, intent in enumerate(todo):
            if self.cancel_event.is_set():
                raise IntentsFailed(
                    name, [*failures, f"{len(todo) - index} not carried out: cancelled"], len(todo)
                )
            error = self.carry_out_one(step, intent, logger, get_metadata)
            if error is None:
                self.done_intents[id(intent)] = intent
            else:
                failures.append(f"{intent.line}: {error}")
        if failures:
            raise IntentsFailed(name, failures, len(todo))

    def carry_out_one(
        self, step: Any, intent: Intent, logger: StepLogger, get_metadata: Any
    ) -> str | None:
        """Carry out one intent, writing down on its record what it returns; return its error.

        An error worth retrying is raised instead, after telling the plan, so
        that the engine retries the step.
        """
        try:
            marks = carry_out(step.instance, intent, logger, get_metadata)
        except Exception as exc:
            error = redact(f"{type(exc).__name__}: {exc}", self.plan.secrets)
            logger.warning(f"could not {intent.line}: {error}")
            if self.applying is not None:
                self.applying.carried_out(intent, error, {})
            if is_retryable(exc, step.entry.cls.retry_on):
                raise
            return error
        if intent.record is not None and marks:
            with self.lock_of(intent.record):
                for field_name, value in marks.items():
                    setattr(intent.record, field_name, value)
        if self.applying is not None:
            self.applying.carried_out(intent, None, marks)
        return None

    def lock_of(self, record: Any) -> threading.Lock:
        """Return the lock of ``record`` in this phase's list, found by identity in a map
        built once per list (a search per intent would grow with records x intents)."""
        known = self.record_locks
        if known is None or known[0] is not self.locked_records:
            known = (self.locked_records, {id(r): lock for r, lock in self.locked_records})
            self.record_locks = known  # two threads may build it at once: the same map
        lock = known[1].get(id(record))
        return lock if lock is not None else threading.Lock()  # a record no longer listed

    def make_plan(self) -> None:
        """Keep the planned intents in step order and the storer's record diff; store nothing."""
        storer = self.plan.storer
        log = self.step_logger(self.plan.storer_name, self.result.storer_report)
        intents = [i for name in self.steps if name in self.planned for i in self.planned[name]]
        try:
            for intent in intents:
                if intent.record is not None and not intent.key:
                    intent.key = str(storer.record_key(intent.record))
            touched = list(dict.fromkeys(i.key for i in intents if i.key))
            self.result.record_diff = storer.plan_store(self.records, log, touched)
        except Exception as exc:
            self.fail(
                f"storer '{self.plan.storer_name}' could not plan the store: "
                f"{type(exc).__name__}: {exc}"
            )
            return
        self.result.intents = intents

    def store_applied(self) -> None:
        """Store the applied plan's record diff, as the plan says; always, as an apply acted."""
        assert self.applying is not None
        log = self.step_logger(self.plan.storer_name, self.result.storer_report)
        self.observer.store_started(self.flow)
        try:
            self.applying.store(log)
            self.result.stored = True
        except Exception as exc:
            self.fail(
                f"storer '{self.plan.storer_name}' could not store the plan's records: "
                f"{type(exc).__name__}: {exc}"
            )
