"""What every Canvas step shares: its config, validation, retries and the run's session.

Students are matched to Canvas by their Canvas user id, which the roster
import records on each student (``user_id_field``); the other steps act only
on students who have one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit

from adminflow import RetryPolicy, Secret

from .session import CanvasSession, run_key, session_for

CANVAS_CONFIG = [
    ("base_url", str, "the Canvas address, e.g. https://canvas.example.edu (without /api/v1)"),
    ("token", Secret, "a Canvas access token of a teacher or admin of the course"),
    ("course_id", int, "the course's Canvas id: the number after /courses/ in its address"),
]
"""The config keys every Canvas step takes, before its own."""


def is_active(record: Any) -> bool:
    """Return whether a record is a student still in the course (``is_enrolled``, if it has it)."""
    return bool(getattr(record, "is_enrolled", True))


def url_problem(url: str) -> str | None:
    """Return why ``url`` cannot be a Canvas address, or None if it can."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"base_url must be a Canvas address such as https://canvas.example.edu, got {url!r}"
    if "/api/" in f"{parts.path}/":
        return f"base_url must be the Canvas address without /api/v1, got {url!r}"
    return None


class CanvasStep:
    """Mix-in of the Canvas steps: config checks, retries and the run's session.

    Throttling (403 "Rate Limit Exceeded") and 5xx answers raise
    :class:`adminflow.RetryableError` subclasses, so the engine calls the
    step again under ``retry``, waiting longer each time; a flow config may
    change the policy as ``<step>-retry``.
    """

    retry: ClassVar[RetryPolicy] = RetryPolicy(max_attempts=5, backoff=2.0, max_backoff=60.0)
    user_id_field: ClassVar[str] = "canvas_user_id"
    """Read (written by the roster import): the student's Canvas user id."""
    key_field: ClassVar[str] = "netid"
    """Read: the student's key, as the flow's storer keys records; changes name students by it."""
    configs: Any

    def validate(self) -> None:
        if problem := url_problem(self.configs.base_url):
            raise ValueError(problem)
        if not self.configs.token.reveal().strip():
            raise ValueError("token is empty: set 'token' to a Canvas access token")
        if self.configs.course_id < 1:
            raise ValueError(
                f"course_id must be a Canvas course id (a positive number), "
                f"got {self.configs.course_id}"
            )

    def session(self, get_metadata: Callable[..., Any]) -> CanvasSession:
        """Return the run's session for this step's Canvas address, token and course."""
        configs = self.configs
        return session_for(
            run_key(get_metadata),
            configs.base_url.strip().rstrip("/"),
            configs.token,
            configs.course_id,
        )
