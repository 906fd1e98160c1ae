"""Time limits: a run's, after which it is cancelled, and a step's, past which it is reported.

Each is a one-shot timer thread, not a poll. A run's sets the cancel event,
so the usual cooperative cancellation applies; a step's only reports it,
because a Python thread cannot be stopped from outside.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from .config import coerce
from .errors import ConfigProblem


def seconds_text(seconds: float) -> str:
    """Return a number of seconds as people write it: ``30 s``, ``0.5 s``."""
    return f"{seconds:g} s"


def seconds_problem(seconds: Any) -> str | None:
    """Return why ``seconds`` is not a wait or a time limit, or None.

    It must be a number, 0 or more, that a thread can wait for: past
    ``threading.TIMEOUT_MAX`` (centuries) waiting raises OverflowError.
    """
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
        or seconds < 0
    ):
        return f"must be a number of seconds, 0 or more, got {seconds!r}"
    if seconds > threading.TIMEOUT_MAX:
        return f"must be at most {threading.TIMEOUT_MAX:.0f} seconds, got {seconds!r}"
    return None


def limit_problem(seconds: Any) -> str | None:
    """Return why ``seconds`` is not a time limit (0 for no limit), or None."""
    problem = seconds_problem(seconds)
    return f"{problem} (0 for no limit)" if problem else None


def configured_limit(
    path: str, default: float | None, raw: Any
) -> tuple[float | None, list[ConfigProblem]]:
    """Return the time limit a config gives at ``path`` (``<step>-time_limit``), else ``default``.

    0 means no limit, so a config can lift a limit the step class declares.
    """
    if raw is None:
        return default, []
    try:
        seconds = coerce(raw, float)
    except ValueError as exc:
        return default, [ConfigProblem(path, str(exc))]
    if (problem := limit_problem(seconds)) is not None:
        return default, [ConfigProblem(path, problem)]
    return seconds or None, []


class Alarm:
    """Call ``action`` once, ``seconds`` after ``start()``, on a daemon thread, unless stopped."""

    def __init__(self, seconds: float, action: Callable[[], None], name: str) -> None:
        self._timer = threading.Timer(seconds, action)
        self._timer.name = name
        self._timer.daemon = True

    def start(self) -> Alarm:
        self._timer.start()
        return self

    def stop(self) -> None:
        """Make sure ``action`` never runs, or has finished if it was going off right now.

        Joining the thread means no alarm outlives what it watched, and an
        event it reports never arrives after the end it would contradict.
        """
        self._timer.cancel()
        if self._timer.ident is not None and self._timer is not threading.current_thread():
            self._timer.join()
