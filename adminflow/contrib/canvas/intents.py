"""Propagate steps that plan first and act second: every change to Canvas is an intent first.

A step's ``plan_records`` works out, from the records alone, one
:class:`adminflow.Intent` per student and change (join a group, post a
grade, send a message), its params all that is needed to carry it out;
nothing is sent while planning, and nothing is read from Canvas. So a run
can be planned, reviewed student by student, and applied.

Canvas takes many changes in one request (a bulk grade update, one message
to a hundred recipients), so the steps carry intents out in batches, with
the engine's ``carry_out_batch`` (see :mod:`adminflow.engine.intents`):
the engine hands over the intents still to do, ``batch_size`` at most of
one ``batch_key``, and each student's outcome comes back on its own. A
deselected intent is simply not in any batch; a resumed apply's batches
hold only what was not done. ``carry_out`` is a batch of one.

Each outcome is written on the student by ``marks``: the value Canvas now
has, or ``failed: <Canvas's answer>`` when Canvas refused the request (400,
404, 422...), which is that student's outcome, not a failed intent: a rerun
tries it again. A throttle, a 5xx or a refused token is the batch's error:
the engine retries the step (throttle, 5xx) or fails it, and nothing
reported before the error is done again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any, ClassVar

from adminflow import Intent
from adminflow.engine.steps import Logger

from .base import CanvasStep
from .errors import CanvasRefused
from .session import CanvasSession

Report = Callable[[Intent, str], None]
"""How a step's ``send`` hands back each intent's outcome, as soon as it is known."""


def failed(reason: object) -> str:
    return f"failed: {reason}"


class CanvasIntents(CanvasStep):
    """Base of the Canvas propagate steps: plan per student, carry out per batch."""

    batch_size: ClassVar[int] = 100
    """Intents carried out together: at most this many students share a request."""
    summary: ClassVar[str] = "Canvas changes"

    def marks(self, intent: Intent, outcome: str) -> dict[str, Any]:
        """Return the fields (name -> value) an intent's outcome sets on its student."""
        raise NotImplementedError

    def send(self, session: CanvasSession, intents: list[Intent], report: Report) -> None:
        """Carry out a batch of intents; report each one's outcome as soon as it is known."""
        raise NotImplementedError

    def batch_key(self, intent: Intent) -> Hashable:
        """Return what intents must share to go in one batch: by default, their action."""
        return intent.action

    def planned(self, intents: list[Intent], logger: Logger) -> list[Intent]:
        """Log how many changes of each action were planned; return the intents."""
        counts = Counter(intent.action for intent in intents)
        shown = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
        logger(f"{self.summary}: {shown or 'nothing to do'}")
        return intents

    def carry_out_batch(
        self,
        intents: list[Intent],
        logger: Logger,
        get_metadata: Callable[[str], Any],
    ) -> list[dict[str, Any] | Exception]:
        """Send a batch; return each intent's marks, or the error that stopped the batch.

        The outcomes reported before an error stand: those students are done.
        """
        outcomes: dict[int, dict[str, Any]] = {}

        def report(intent: Intent, outcome: str) -> None:
            if outcome.startswith("failed"):
                logger.warning(f"could not {intent.line}: {outcome.removeprefix('failed: ')}")
            outcomes[id(intent)] = self.marks(intent, outcome)

        try:
            session = self.session(get_metadata)
            session.course()  # a refused token or unknown course stops the batch here
            self.send(session, intents, report)
        except Exception as exc:
            return [outcomes.get(id(intent), exc) for intent in intents]
        return [outcomes[id(intent)] for intent in intents]

    def carry_out(
        self, intent: Intent, logger: Logger, get_metadata: Callable[[str], Any]
    ) -> dict[str, Any]:
        """Carry out one intent, as a batch of one."""
        (outcome,) = self.carry_out_batch([intent], logger, get_metadata)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def refusal_is_outcome(batch: list[Intent], report: Report, send: Callable[[], None]) -> None:
    """Call ``send``; if Canvas refuses it, report the refusal as each intent's outcome.

    A refusal (400, 404, 422...) concerns the students of that request only;
    a throttle, a 5xx or a refused token propagates and stops the batch.
    """
    try:
        send()
    except CanvasRefused as exc:
        for intent in batch:
            report(intent, failed(exc.answer))
