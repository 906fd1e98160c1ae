"""Retry policies: which step errors are worth another attempt, and how long to wait first.

A step opts in by raising :class:`RetryableError` or by naming exception
types in its class's ``retry_on``; its ``retry`` policy, which a flow config
may override as ``<step>-retry``, caps the attempts and the waits. A wait
doubles after each failed attempt up to a cap, with "equal jitter": half of
it fixed, half random, so runs that failed on one service together do not
call it again together.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .config import ConfigField, check_section, coerce
from .errors import ConfigProblem, RetryableError
from .limits import seconds_problem

RETRY_FIELDS = (
    ConfigField("max_attempts", int, "calls of the step at most, the first included"),
    ConfigField("backoff", float, "seconds to wait before the second attempt; then doubled"),
    ConfigField("max_backoff", float, "the longest wait between two attempts, in seconds"),
    ConfigField("jitter", bool, "wait a random time between half the delay and all of it"),
)

_MAX_DOUBLINGS = 63
"""Past this many doublings any backoff is beyond any cap; it keeps the float finite."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often a step is called for an error worth retrying, and the waits between calls.

    Raise ValueError for a value of the wrong type or out of range, so a bad
    policy is refused where the step class declares it.
    """

    max_attempts: int = 3
    """Calls of the step at most, the first included; 1 never retries."""
    backoff: float = 1.0
    """Seconds to wait before the second attempt; each later wait doubles."""
    max_backoff: float = 60.0
    """The longest wait between two attempts, in seconds."""
    jitter: bool = True
    """Wait a random time between half the delay and all of it."""

    def __post_init__(self) -> None:
        problems = []
        for field in RETRY_FIELDS:
            try:
                object.__setattr__(self, field.name, coerce(getattr(self, field.name), field.type))
            except ValueError as exc:
                problems.append(f"{field.name}: {exc}")
        if not problems:
            problems = [f"{name}: {message}" for name, message in range_problems(vars(self))]
        if problems:
            raise ValueError(f"bad RetryPolicy: {'; '.join(problems)}")

    def delay(self, failed_attempts: int, rng: random.Random) -> float:
        """Return the seconds to wait after ``failed_attempts`` calls have failed."""
        doublings = min(max(failed_attempts - 1, 0), _MAX_DOUBLINGS)
        delay = min(self.max_backoff, self.backoff * 2**doublings)
        return rng.uniform(delay / 2, delay) if self.jitter else delay


def range_problems(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return (key, message) for each retry setting in ``values`` that is out of range."""
    problems = []
    attempts = values.get("max_attempts")
    if isinstance(attempts, int) and attempts < 1:
        problems.append(("max_attempts", f"must be at least 1, got {attempts}"))
    for name in ("backoff", "max_backoff"):
        seconds = values.get(name)
        if isinstance(seconds, float) and (problem := seconds_problem(seconds)):
            problems.append((name, problem))
    return problems


def is_retryable(error: BaseException, retry_on: tuple[type[Exception], ...]) -> bool:
    """Return whether ``error`` is worth another attempt of a step whose class has ``retry_on``."""
    return isinstance(error, (RetryableError, *retry_on))


def configured_policy(
    path: str, policy: RetryPolicy, raw: Any
) -> tuple[RetryPolicy, dict[str, Any], list[ConfigProblem]]:
    """Return ``policy`` with the keys a config gives at ``path`` (``<step>-retry``) applied.

    Also return the keys given, checked (what a config snapshot keeps), and
    every problem: an unknown key, a wrong type, a value out of range. A
    missing or empty entry keeps the class's policy.
    """
    if raw is None:
        return policy, {}, []
    defaults = [replace(field, default=getattr(policy, field.name)) for field in RETRY_FIELDS]
    values, problems = check_section(path, defaults, raw)
    problems += [
        ConfigProblem(f"{path}.{name}", message) for name, message in range_problems(values)
    ]
    if problems:
        return policy, {}, problems
    given = {field.name: values[field.name] for field in RETRY_FIELDS if field.name in raw}
    return RetryPolicy(**values), given, []
