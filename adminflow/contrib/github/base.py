"""What every GitHub step shares: its config, its session, and per-student outcomes.

Each action a step takes for a student ends in an outcome written on the
student's record, in a field the step class names: ``"done"``, ``"already"``
(GitHub was already so; nothing was sent) or ``"failed: <reason>"``. A step
skips every action whose field says done or already, so a rerun after a
half-failed run repeats only what did not happen, and nothing is done twice.
The outcome is written as soon as the action ends, so a step the engine
calls again (after a rate limit or a 5xx) starts where the last attempt
stopped, and the propagate phase stores what was done even when a step fails.

The propagate steps plan intents (see :mod:`adminflow.engine.intents`):
``plan_records`` reads GitHub and the records and declares each write it
means to send, with all it needs in the intent's params; ``carry_out``
(:class:`GitHubIntents`) sends one and returns the outcome to write. So a
run of the GitHub flows can be planned, reviewed and approved first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from adminflow import Intent, RetryPolicy, Secret
from adminflow.engine.steps import Logger

from .errors import GitHubRefused
from .session import GitHubSession, run_key, session_for

DONE = "done"
ALREADY = "already"
FINISHED = (DONE, ALREADY)

GITHUB_CONFIG = [
    ("org", str, "the course's GitHub organization"),
    ("token", Secret, "a GitHub token that administers the organization"),
    ("api_url", str, "GitHub's REST API address", "https://api.github.com"),
    (
        "write_spacing",
        float,
        "seconds between two writes of the run (GitHub asks for at least 1)",
        1.0,
    ),
]
"""The config keys every GitHub step takes, before its own."""


def failed(reason: object) -> str:
    return f"failed: {reason}"


def is_active(record: Any) -> bool:
    """Return whether a record is a student still in the course (``is_enrolled``, if it has it)."""
    return bool(getattr(record, "is_enrolled", True))


class GitHubStep:
    """Mix-in of the GitHub steps: config, validation, retries and the run's session.

    Secondary rate limits and 5xx answers raise :class:`adminflow.RetryableError`
    subclasses: the engine calls the step again under ``retry``, after at
    least the wait GitHub named (the session holds every request back until
    then). A flow config may change the policy as ``<step>-retry``.
    """

    retry: ClassVar[RetryPolicy] = RetryPolicy(max_attempts=5, backoff=1.0, max_backoff=60.0)
    configs: Any

    def validate(self) -> None:
        if not self.configs.org.strip():
            raise ValueError("no GitHub organization: set 'org'")
        if not self.configs.token.reveal():
            raise ValueError("no GitHub token: set 'token' (e.g. from $GITHUB_TOKEN)")
        if not self.configs.api_url.startswith(("https://", "http://")):
            raise ValueError(f"api_url must be an http(s) address, got {self.configs.api_url!r}")

    def session(self, get_metadata: Callable[..., Any]) -> GitHubSession:
        """Return the run's session, its token and organization checked before any action."""
        configs = self.configs
        session = session_for(
            run_key(get_metadata),
            configs.api_url.rstrip("/"),
            configs.org,
            configs.token,
            configs.write_spacing,
        )
        session.check_access()
        return session


class GitHubIntents(GitHubStep):
    """Mix-in of the GitHub propagate steps: carry out one intent, return its outcome.

    A refusal of this one action (404, 422...) is the student's outcome,
    written as ``failed: <reason>``; any other error (rate limit, 5xx, bad
    token) fails the intent and stops the step, for the engine to retry or
    report.
    """

    outcome_field: ClassVar[str]

    def carry_out(
        self, intent: Intent, logger: Logger, get_metadata: Callable[[str], Any]
    ) -> dict[str, Any]:
        session = self.session(get_metadata)
        try:
            return self.send(session, intent)
        except GitHubRefused as exc:
            logger.warning(f"could not {intent.line}: {exc}")
            return {self.outcome_field: failed(exc)}

    def send(self, session: GitHubSession, intent: Intent) -> dict[str, Any]:
        """Send the intent's writes; return the record fields to write (its outcome first)."""
        raise NotImplementedError


class Outcomes:
    """Count a step's outcomes and write each on its student, under the student's lock."""

    def __init__(self, logger: Logger) -> None:
        self.logger = logger
        self.counts: dict[str, int] = {}

    def pending(
        self, records: list[tuple[Any, threading.Lock]], field: str
    ) -> Iterator[tuple[Any, threading.Lock]]:
        """Yield the records whose ``field`` does not yet say done or already."""
        for record, lock in records:
            with lock:
                finished = getattr(record, field) in FINISHED
            if not finished:
                yield record, lock

    def act(
        self,
        record: Any,
        lock: threading.Lock,
        field: str,
        intent: str,
        action: Callable[[], str],
    ) -> str:
        """Do ``action`` and write what it returns (done, already, a value) in ``field``.

        A refusal of this one action (404, 422...) is the student's outcome;
        any other error (rate limit, 5xx, bad token) leaves the field as it
        was and stops the step, for the engine to retry or report.
        """
        try:
            outcome = action()
        except GitHubRefused as exc:
            outcome = failed(exc)
            self.logger.warning(f"could not {intent}: {exc}")
        with lock:
            setattr(record, field, outcome)
        self.count(outcome if outcome in FINISHED or outcome.startswith("failed") else DONE)
        return outcome

    def planned(self, intents: list[Intent]) -> list[Intent]:
        """Count the intents planned, as "to do"; return them."""
        if intents:
            self.counts["to do"] = self.counts.get("to do", 0) + len(intents)
        return intents

    def note(self, record: Any, lock: threading.Lock, field: str, outcome: str) -> None:
        """Write an outcome found without acting (GitHub already so), in a plan too."""
        with lock:
            setattr(record, field, outcome)
        self.count(outcome)

    def count(self, outcome: str) -> None:
        outcome = "failed" if outcome.startswith("failed") else outcome
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    def summary(self, what: str) -> None:
        shown = ", ".join(f"{n} {outcome}" for outcome, n in sorted(self.counts.items()))
        self.logger(f"{what}: {shown or 'nothing to do'}")
