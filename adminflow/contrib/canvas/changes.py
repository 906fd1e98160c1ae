"""Propagate steps that decide first and act second: every change to Canvas is data first.

A step's :meth:`ChangeStep.changes` works out, from the records alone (and
reads of Canvas, if it must), the list of :class:`Change` it means to make:
the student's key, an action name, JSON-able parameters and a readable line.
Nothing is sent while deciding. Each action is then carried out by the
step's method of that name, which takes the session and the changes of that
action (so Canvas's bulk endpoints can take many at once) and returns each
student's outcome; :meth:`ChangeStep.marks` says which fields of the student
that outcome sets, and they are written as soon as it is known. A method needs nothing but the change's
parameters: the changes of a reviewed plan could be carried out as they are.

In debug mode the changes are logged (``debug: would <line>``), none is
carried out, and nothing is written on a record.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .base import CanvasStep
from .errors import CanvasRefused
from .session import CanvasSession

DONE = "done"


def failed(reason: object) -> str:
    return f"failed: {reason}"


@dataclass(frozen=True)
class Change:
    """One change a step means to make in Canvas for one student."""

    key: str
    """The student's record key."""
    action: str
    """The name of the step's method that carries it out."""
    params: dict[str, Any] = field(hash=False)
    """Everything that method needs; JSON-able."""
    line: str
    """What it does, for people: ``post grade 1 for s123 to assignment 42``."""


def chunks(items: list[Change], size: int) -> Iterator[list[Change]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ChangeStep(CanvasStep):
    """Base of the Canvas propagate steps: decide the changes, then carry each action out."""

    actions: ClassVar[tuple[str, ...]] = ()
    """The step's action names, in the order they are carried out; each is a method."""
    summary: ClassVar[str] = "Canvas changes"

    def changes(
        self, records: list[tuple[Any, threading.Lock]], logger: Callable[..., Any]
    ) -> list[Change]:
        """Return the changes the records call for; send nothing."""
        raise NotImplementedError

    def marks(self, record: Any, change: Change, outcome: str) -> dict[str, Any]:
        """Return the fields (name -> value) a change's outcome sets on its student.

        Called under the student's lock, with the record as it is now.
        """
        raise NotImplementedError

    def propagate_records(
        self,
        records: list[tuple[Any, threading.Lock]],
        logger: Callable[..., Any],
        get_metadata: Callable[[str], Any],
        debug: bool = False,
    ) -> None:
        changes = self.changes(records, logger)
        counts: dict[str, int] = {}
        if debug:
            for change in changes:
                logger(f"debug: would {change.line}")
            counts["would"] = len(changes)
        elif changes:
            session = self.session(get_metadata)
            session.course()  # a refused token or unknown course stops the step here
            self.carry_out(session, changes, records, logger, counts)
        shown = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        logger(f"{self.summary}: {shown or 'nothing to do'}")

    def carry_out(
        self,
        session: CanvasSession,
        changes: list[Change],
        records: list[tuple[Any, threading.Lock]],
        logger: Callable[..., Any],
        counts: dict[str, int],
    ) -> None:
        """Carry out ``changes`` action by action; write each outcome on its student at once.

        Outcomes are written as they come, so a step the engine calls again
        (after a throttle or a 5xx) finds what was done and does not repeat it.
        """
        by_key = {}
        for record, lock in records:
            with lock:
                by_key[str(getattr(record, self.key_field))] = (record, lock)

        def report(change: Change, outcome: str) -> None:
            record, lock = by_key[change.key]
            with lock:
                for name, value in self.marks(record, change, outcome).items():
                    setattr(record, name, value)
            if outcome.startswith("failed"):
                logger.warning(f"could not {change.line}: {outcome.removeprefix('failed: ')}")
                kind = "failed"
            else:
                kind = change.action.replace("_", " ")
            counts[kind] = counts.get(kind, 0) + 1

        for action in self.actions:
            batch = [change for change in changes if change.action == action]
            if batch:
                getattr(self, action)(session, batch, report)


Report = Callable[[Change, str], None]
"""How an action method hands back each change's outcome, as soon as it is known."""


def refusal_is_outcome(batch: list[Change], report: Report, send: Callable[[], None]) -> None:
    """Call ``send``; if Canvas refuses it, report the refusal as each change's outcome.

    A refusal (400, 404, 422...) concerns the students of that request only;
    a throttle, a 5xx or a refused token propagates and stops the step.
    """
    try:
        send()
    except CanvasRefused as exc:
        for change in batch:
            report(change, failed(exc.answer))
