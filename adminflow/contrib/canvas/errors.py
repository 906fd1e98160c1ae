"""What a Canvas answer that is not a success means for a step: wait, retry, or give up.

canvasapi raises a ``CanvasException`` subclass carrying the body's text
only; the status and headers are read from the response itself, which the
session keeps for the thread that asked (see :mod:`.session`).
:func:`translate` turns an error into:

- :class:`CanvasRateLimited` when Canvas's cost bucket is full: 403 with the
  body ``403 Forbidden (Rate Limit Exceeded)`` (or a 429), as Canvas's
  "Throttling" page describes; it names ``X-Rate-Limit-Remaining``;
- :class:`CanvasUnavailable` for a 5xx answer or no answer at all;
- :class:`CanvasAuthError` for a token Canvas refuses (401);
- :class:`CanvasRefused` for anything else (400, 404, 422...): a problem with
  one action, recorded on the students it was for, never retried.

The first two are :class:`adminflow.RetryableError`, so the engine calls the
step again under its retry policy after a backoff; the step then skips what
its records say is done. Messages are built from the status and Canvas's
error messages only: no header or request (the token travels in one) reaches
a log line or an error.
"""

from __future__ import annotations

import json

import requests
from canvasapi.exceptions import CanvasException

from adminflow import RetryableError


class CanvasError(Exception):
    """Base of what the Canvas steps raise about an answer from Canvas."""


class CanvasRateLimited(CanvasError, RetryableError):
    """Raise when Canvas throttled a request: its cost bucket is full; back off and retry."""


class CanvasUnavailable(CanvasError, RetryableError):
    """Raise for a 5xx answer or a lost connection: worth another attempt after a backoff."""


class CanvasAuthError(CanvasError):
    """Raise when Canvas refuses the token; no student's action is attempted after it."""


class CanvasConfigError(CanvasError):
    """Raise when a configured Canvas object (course, quiz, column...) is not there; names the key."""


class CanvasRefused(CanvasError):
    """Raise when Canvas refused one action (400, 404, 422...): the students' problem, no retry."""

    def __init__(self, action: str, status: int, answer: str) -> None:
        super().__init__(f"{action}: {answer}")
        self.status = status
        self.answer = answer
        """What Canvas answered, without the action: a student's outcome names only this."""


def canvas_message(response: requests.Response | None) -> str:
    """Return what Canvas said in an error body: its ``errors`` messages, or its text."""
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:200]
    if isinstance(body, list):  # conversations: [{"attribute": "recipients", "message": ...}]
        return "; ".join(
            f"{e.get('attribute', '')} {e.get('message', '')}".strip()
            for e in body
            if isinstance(e, dict)
        )
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            return "; ".join(
                str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
            )
        if isinstance(errors, dict):  # {"errors": {"attribute": [{"message": ...}]}}
            return json.dumps(errors)[:200]
        if "message" in body:
            return str(body["message"])
    return ""


def translate(
    exc: CanvasException | requests.RequestException,
    response: requests.Response | None,
    action: str,
) -> CanvasError:
    """Return the error a step raises for ``exc``, an answer to ``action`` (what was tried)."""
    if isinstance(exc, requests.RequestException) or response is None:
        return CanvasUnavailable(
            f"{action}: no answer from Canvas ({type(exc).__name__}); is 'base_url' right?"
        )
    status = response.status_code
    message = canvas_message(response)
    said = f"Canvas answered {status}" + (f": {message}" if message else "")
    if status == 429 or (status == 403 and "rate limit exceeded" in response.text.lower()):
        remaining = response.headers.get("X-Rate-Limit-Remaining", "not given")
        return CanvasRateLimited(
            f"{action}: Canvas throttled the request (X-Rate-Limit-Remaining {remaining}); "
            "backing off"
        )
    if status >= 500:
        return CanvasUnavailable(f"{action}: {said}")
    if status == 401:
        return CanvasAuthError(f"{action}: Canvas refused the token; check 'token' ({said})")
    return CanvasRefused(action, status, said)
