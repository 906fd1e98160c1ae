"""Intents: what a propagate step means to do outside, declared before it is done.

A propagate step *opts in* to plans by defining two methods instead of
``propagate_records``::

    class RemindMissing(AdminPropagateStep[Student]):
        def plan_records(self, records, logger, get_metadata):
            for student, lock in records:
                with lock:
                    if not student.github:
                        yield Intent("email", f"email {student.email}",
                                     {"to": student.email}, record=student)

        def carry_out(self, intent, logger, get_metadata):
            send_mail("GitHub username", "...", None, [intent.params["to"]])
            return {"reminded": True}

``plan_records`` decides and changes nothing outside. It may write on the
records what it *found* (an account already invited), as an update step
would, never what it will do: that is what ``carry_out`` returns. It may
also take ``set_metadata``, to publish what it plans for later steps.
``carry_out`` does one intent, from its ``params`` alone; raising marks that
intent failed. What it returns (field -> value) is written on the intent's
record once it is done: the step writes down what it did, as propagate steps
do, but only for what was really done.

The engine calls them the same way in every run, so a reviewed plan and a
plain run go through the same code:

- a plain run: ``plan_records``, then ``carry_out`` for each intent, in turn;
- debug mode: ``plan_records``, and each intent's line is logged (as
  "debug: would ..."), nothing carried out;
- a plan (``runflow --plan``): ``plan_records`` only; the intents are kept,
  with the storer's record diff (:meth:`RecordStorer.plan_store`), for review;
- an apply: ``carry_out`` for exactly the approved intents, read back from
  what was kept: no step plans again.

``params`` must be JSON (dicts, lists, strings, numbers, booleans, None):
an intent is kept in the database between the plan and the apply.

A step whose outside service takes many actions in one request (a bulk
grade update, one message to a hundred recipients) may also define
``carry_out_batch(intents, logger, get_metadata)`` and a ``batch_size``.
Plain runs and applies then call it instead of ``carry_out``, with batches
of at most ``batch_size`` intents of one :func:`batch key <batches>`, and
it returns one outcome per intent, in order: the fields to write (or None),
or the exception that intent failed with. Intents are still planned,
reviewed, deselected and recorded one by one; only the requests are shared.
A batch's outcomes are recorded when the call returns, so a step keeps a
batch to what it may safely send again should its process die mid-batch.
``carry_out`` stays the door for one intent (a batch of one will do).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .errors import StepContractError

if TYPE_CHECKING:
    from .steps import Logger

MAX_LINE = 500
"""The longest line kept for an intent, in characters."""


@dataclass
class Intent:
    """One outside action a propagate step means to take: the unit that is reviewed and done.

    ``action`` names the kind of action ("invite", "email"), for grouping and
    counting; ``line`` says in a sentence what will be done, for people;
    ``params`` is all that ``carry_out`` needs (JSON). ``record`` is the
    record it is about, if any; the storer names its key, so that an apply
    can check the record is as it was when planned. ``step`` and ``key`` are
    filled in by the engine.
    """

    action: str
    line: str
    params: dict[str, Any] = field(default_factory=dict)
    record: Any = field(default=None, compare=False, repr=False)
    key: str = ""
    step: str = ""

    def as_json(self) -> dict[str, Any]:
        """Return what is kept of the intent: everything but the record object."""
        return {
            "step": self.step,
            "key": self.key,
            "action": self.action,
            "params": self.params,
            "line": self.line,
        }


def checked_intents(step: str, planned: Iterable[Any] | None) -> list[Intent]:
    """Return the intents ``plan_records`` gave, each stamped with its step.

    Raise StepContractError naming the step for anything that is not an
    Intent, an empty action or line, or params that are not JSON.
    """
    intents = []
    for index, intent in enumerate(planned or ()):
        where = f"step '{step}' planned intent {index}"
        if not isinstance(intent, Intent):
            raise StepContractError(
                f"{where}: plan_records must yield Intent objects, got {type(intent).__name__}"
            )
        if not (isinstance(intent.action, str) and intent.action.strip()):
            raise StepContractError(f"{where}: the action must be a non-empty string")
        if not (isinstance(intent.line, str) and intent.line.strip()):
            raise StepContractError(f"{where}: the line must say what will be done")
        if not isinstance(intent.params, dict):
            raise StepContractError(f"{where}: params must be a dict")
        try:
            json.dumps(intent.params)
        except (TypeError, ValueError) as exc:
            raise StepContractError(
                f"{where} ({intent.line!r}): params must be JSON, to be kept until applied: {exc}"
            ) from exc
        intent.step = step
        intent.line = intent.line[:MAX_LINE]
        intents.append(intent)
    return intents


def checked_marks(intent: Intent, marks: Any) -> dict[str, Any]:
    """Return what carrying out ``intent`` gave to write on its record, as a dict.

    Raise StepContractError if it is anything but a mapping of field names or None.
    """
    if marks is None:
        return {}
    if not isinstance(marks, Mapping) or not all(isinstance(k, str) for k in marks):
        raise StepContractError(
            f"step '{intent.step}': carry_out must return None or a mapping of record "
            f"fields to values, got {type(marks).__name__}"
        )
    return dict(marks)


def batches(step: str, instance: Any, intents: list[Intent]) -> list[list[Intent]]:
    """Return ``intents`` in the batches ``carry_out_batch`` takes them in.

    Intents of one key (the step's ``batch_key(intent)``, else the action)
    go together, in plan order, ``batch_size`` at most. Raise
    StepContractError naming the step if ``batch_size`` is not a positive number.
    """
    size = getattr(instance, "batch_size", None)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise StepContractError(
            f"step '{step}' carries out intents in batches: {type(instance).__name__}.batch_size "
            f"must be a positive whole number, got {size!r}"
        )
    key_of = getattr(instance, "batch_key", None) or (lambda intent: intent.action)
    groups: dict[Any, list[Intent]] = {}
    for intent in intents:
        groups.setdefault(key_of(intent), []).append(intent)
    return [group[at : at + size] for group in groups.values() for at in range(0, len(group), size)]


class PlanToApply(Protocol):
    """What an apply run is given, by the layer that keeps plans: the engine carries it out.

    ``intents`` are the approved intents not done yet, by step. ``check``
    runs before anything is done and raises to refuse the apply (a record
    changed since it was planned); ``carried_out`` hears each intent's
    outcome as soon as it is known (``error`` None when done) with what it
    wrote down; ``store`` stores the approved record diff at the end.
    """

    @property
    def intents(self) -> Mapping[str, list[Intent]]: ...

    def check(self, logger: Logger) -> None: ...

    def carried_out(self, intent: Intent, error: str | None, marks: dict[str, Any]) -> None: ...

    def store(self, logger: Logger) -> None: ...
