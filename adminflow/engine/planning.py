"""How a run calls propagate steps that plan intents: plan, keep, carry out, apply.

A mix-in of :class:`~.runner.FlowExecution`, kept apart as its own idea: a
step that plans intents (see :mod:`.intents`) is called as ``plan_records``
and then ``carry_out`` per intent (or ``carry_out_batch`` per batch); a planning run keeps the intents and the
storer's record diff; an applying run carries out a kept plan's intents and
lets the plan store its diff.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .config import redact
from .errors import AdminflowError, StepContractError
from .intents import Intent, PlanToApply, batches, checked_intents, checked_marks
from .retries import is_retryable
from .tracing import RecordLock

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
    locked_records: list[tuple[Any, RecordLock]]
    records: list[Any]
    steps: dict[str, StepResult]
    result: RunResult
    observer: ObserverGroup
    flow: str
    fail: Callable[[str], None]
    step_logger: Callable[..., StepLogger]
    record_locks: tuple[list[Any], dict[int, RecordLock]] | None
    """This phase's records list and each record's lock, by the record's id."""

    def run_intents(self, name: str, arguments: dict[str, Any]) -> None:
        """Plan a step's intents (or take the plan's), then carry them out, keep them, or log them.

        Each intent is carried out in turn (or each batch, by a step that
        defines ``carry_out_batch``), and its outcome recorded at once; one
        that raises is failed and the others still run, after which the step
        fails naming how many failed. An error worth retrying stops the step
        once its batch is recorded, for the engine to call it again: the
        intents carried out already are not carried out twice. A cancel
        stops it between batches.
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
        left = len(todo)
        for batch in self.batches_of(name, step, todo):
            if self.cancel_event.is_set():
                failures.append(f"{left} not carried out: cancelled")
                break
            retry = None
            for intent, outcome in zip(
                batch, self.outcomes(step, batch, logger, get_metadata), strict=True
            ):
                error = self.settle(intent, outcome, logger)
                if error is None:
                    self.done_intents[id(intent)] = intent
                else:
                    failures.append(f"{intent.line}: {error}")
                    if is_retryable(outcome, step.entry.cls.retry_on):
                        retry = retry or outcome
            if retry is not None:
                # Worth retrying: the engine calls the step again; what was done is not redone.
                raise retry
            left -= len(batch)
        if failures:
            raise IntentsFailed(name, failures, len(todo))

    @staticmethod
    def batches_of(name: str, step: Any, todo: list[Intent]) -> list[list[Intent]]:
        """Return the intents as the step carries them out: in batches, or one at a time."""
        if getattr(step.entry.cls, "carry_out_batch", None) is None:
            return [[intent] for intent in todo]
        return batches(name, step.instance, todo)

    @staticmethod
    def outcomes(
        step: Any, batch: list[Intent], logger: StepLogger, get_metadata: Any
    ) -> list[Any]:
        """Carry out a batch; return each intent's outcome: what it returned, or its exception.

        An exception the step raises is the outcome of every intent of the batch.
        """
        instance = step.instance
        try:
            if getattr(step.entry.cls, "carry_out_batch", None) is None:
                return [instance.carry_out(batch[0], logger, get_metadata)]
            outcomes = list(instance.carry_out_batch(list(batch), logger, get_metadata))
        except Exception as exc:
            return [exc] * len(batch)
        if len(outcomes) != len(batch):
            error = StepContractError(
                f"step '{batch[0].step}': carry_out_batch must return one outcome per intent, "
                f"got {len(outcomes)} for {len(batch)}"
            )
            return [error] * len(batch)
        return outcomes

    def settle(self, intent: Intent, outcome: Any, logger: StepLogger) -> str | None:
        """Record one intent's outcome: write its marks on its record, tell the plan.

        Return its error (None if done): the exception it failed with, or a
        contract error for marks that are not a mapping of fields.
        """
        if not isinstance(outcome, BaseException):
            try:
                marks = checked_marks(intent, outcome)
            except StepContractError as exc:
                outcome = exc
        if isinstance(outcome, BaseException):
            error = redact(f"{type(outcome).__name__}: {outcome}", self.plan.secrets)
            logger.warning(f"could not {intent.line}: {error}")
            if self.applying is not None:
                self.applying.carried_out(intent, error, {})
            return error
        if intent.record is not None and marks:
            with self.lock_of(intent.record):
                for field_name, value in marks.items():
                    setattr(intent.record, field_name, value)
        if self.applying is not None:
            self.applying.carried_out(intent, None, marks)
        return None

    def lock_of(self, record: Any) -> RecordLock:
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
                    intent.key = storer.record_key(intent.record) or ""
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
