"""What a GitHub answer that is not a success means for a step: wait, retry, or give up.

PyGithub raises ``GithubException`` subclasses carrying the status, the
answer's JSON and its headers. :func:`translate` turns one into:

- :class:`GitHubRateLimited` for a primary or secondary rate limit (403 or
  429 whose message or headers say so), carrying the wait the headers name;
- :class:`GitHubUnavailable` for a 5xx answer or a dropped connection;
- :class:`GitHubAuthError` for a token GitHub refuses (401);
- :class:`GitHubRefused` for anything else, a 404 or 422 above all: a
  problem with one student's action, recorded on the student, never retried.

The first two are :class:`adminflow.RetryableError`, so the engine calls the
step again under its retry policy; the step then skips what its records say
is done. Messages are built here from the status and GitHub's message only,
so no header or request detail (the token lives in a request header) reaches
a log line or an error.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from github import GithubException

from adminflow import RetryableError

DEFAULT_RATE_LIMIT_WAIT = 60.0
"""GitHub's guidance: with neither header, wait at least a minute."""


class GitHubError(Exception):
    """Base of what the GitHub steps raise about an answer from GitHub."""


class GitHubRateLimited(GitHubError, RetryableError):
    """Raise when GitHub asked to slow down; ``wait`` is the seconds its headers name."""

    def __init__(self, message: str, wait: float) -> None:
        super().__init__(message)
        self.wait = wait


class GitHubUnavailable(GitHubError, RetryableError):
    """Raise for a 5xx answer or a lost connection: worth another attempt after a backoff."""


class GitHubAuthError(GitHubError):
    """Raise when GitHub refuses the token; no student's action is attempted after it."""


class GitHubRefused(GitHubError):
    """Raise when GitHub refused one action (404, 422, ...): the student's problem, no retry."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return str(value)
    return None


def rate_limit_wait(headers: Mapping[str, Any] | None, now: float | None = None) -> float | None:
    """Return the seconds GitHub's headers ask to wait, or None if they ask for none.

    ``retry-after`` wins; else ``x-ratelimit-remaining: 0`` means waiting until
    ``x-ratelimit-reset`` (epoch seconds).
    """
    retry_after = _header(headers, "retry-after")
    if retry_after is not None and retry_after.strip().isdigit():
        return float(retry_after)
    if _header(headers, "x-ratelimit-remaining") == "0":
        reset = _header(headers, "x-ratelimit-reset")
        if reset is not None and reset.strip().isdigit():
            return max(0.0, float(reset) - (time.time() if now is None else now))
    return None


def _message(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, Mapping):
        message = str(data.get("message") or "")
        details = [
            str(error.get("message") or error.get("code") or "")
            for error in data.get("errors") or []
            if isinstance(error, Mapping)
        ]
        return "; ".join(part for part in [message, *details] if part)
    return ""


def _is_rate_limit(exc: GithubException, message: str) -> bool:
    if exc.status == 429:
        return True
    if exc.status != 403:
        return False
    text = message.lower()
    return (
        "rate limit" in text
        or _header(exc.headers, "retry-after") is not None
        or _header(exc.headers, "x-ratelimit-remaining") == "0"
    )


def translate(exc: GithubException, action: str) -> GitHubError:
    """Return the error a step raises for ``exc``, an answer to ``action`` (what was tried)."""
    message = _message(exc)
    said = f"GitHub answered {exc.status}" + (f": {message}" if message else "")
    if _is_rate_limit(exc, message):
        wait = rate_limit_wait(exc.headers)
        wait = DEFAULT_RATE_LIMIT_WAIT if wait is None else wait
        return GitHubRateLimited(f"{action}: {said}; waiting {wait:g} s", wait)
    if exc.status >= 500:
        return GitHubUnavailable(f"{action}: {said}")
    if exc.status == 401:
        return GitHubAuthError(f"{action}: GitHub refused the token ({said})")
    return GitHubRefused(f"{action}: {said}", exc.status)
