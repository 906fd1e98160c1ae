"""One Canvas client per flow run, shared by the run's Canvas steps and threads.

canvasapi's ``Requester`` keeps one ``requests.Session`` and a cache of the
latest answers, both changed without a lock. :class:`ThreadRequester` is one
object to canvasapi (every canvasapi object of the run holds it) that hands
each thread a ``Requester`` of its own, so threads never share a session or
its state. A response hook on each thread's session gives the run's
:class:`~.pacing.Pacer` every answer's quota header and keeps the thread's
latest answer, whose status and body :func:`~.errors.translate` reads.

Sessions are found through the run itself, as the GitHub steps find theirs:
the engine hands every step of a run the same metadata store, so
:func:`session_for` keys sessions on it, weakly, and closes them when the
run's store is dropped. Steps with the same address, token and course share
one session and one pacer: Canvas counts its bucket per token.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from canvasapi.course import Course
from canvasapi.exceptions import CanvasException
from canvasapi.requester import Requester

from adminflow import Secret

from .errors import CanvasConfigError, CanvasRateLimited, CanvasRefused, translate
from .pacing import Pacer

T = TypeVar("T")


class ThreadRequester(Requester):
    """canvasapi's Requester, giving each thread its own Requester (and HTTP session)."""

    def __init__(self, base_url: str, access_token: str, observe: Callable[..., None]) -> None:
        super().__init__(base_url, access_token)
        self._session.close()  # never used: each thread gets a session of its own
        self._observe = observe
        self._local = threading.local()
        self._made: list[Requester] = []
        self._made_lock = threading.Lock()

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        self._local.response = None
        return self._own().request(*args, **kwargs)

    def _own(self) -> Requester:
        own = getattr(self._local, "requester", None)
        if own is None:
            own = Requester(self.original_url, self.access_token)
            own._session.hooks["response"].append(self._seen)
            self._local.requester = own
            with self._made_lock:
                self._made.append(own)
        return own

    def _seen(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._local.response = response
        self._observe(response)

    def last_response(self) -> requests.Response | None:
        """Return the answer to this thread's latest request, if one came."""
        return getattr(self._local, "response", None)

    def close(self) -> None:
        with self._made_lock:
            for own in self._made:
                own._session.close()


class CanvasSession:
    """An authenticated client for one course, with the run's pacing."""

    def __init__(self, base_url: str, token: Secret, course_id: int) -> None:
        self.course_id = course_id
        self.pacer = Pacer()
        self.requester = ThreadRequester(base_url, token.reveal(), self.pacer.observe)
        self._checked = threading.Lock()
        self._course: Course | None = None

    def close(self) -> None:
        self.requester.close()

    def _call(self, action: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except (CanvasException, requests.RequestException) as exc:
            error = translate(exc, self.requester.last_response(), action)
        if isinstance(error, CanvasRateLimited):
            self.pacer.throttled()
        raise error

    def read(self, action: str, call: Callable[[], T]) -> T:
        """Return what ``call`` (requests that change nothing) returns; errors translated."""
        with self.pacer.read():
            return self._call(action, call)

    def write(self, action: str, call: Callable[[], T]) -> T:
        """Make one change through ``call``, one at a time with the run's other writes."""
        with self.pacer.write():
            return self._call(action, call)

    def course(self) -> Course:
        """Return the course, read once per session: a bad token or course id fails here.

        Every step reads it before its first change, so a refused token or a
        course the token cannot see stops the step before anything changes.
        """
        with self._checked:
            if self._course is None:
                try:
                    response = self.read(
                        f"read course {self.course_id}",
                        lambda: self.requester.request("GET", f"courses/{self.course_id}"),
                    )
                except CanvasRefused as exc:
                    if exc.status not in (403, 404):
                        raise
                    raise CanvasConfigError(
                        f"course_id {self.course_id}: Canvas has no such course, or the token "
                        f"may not see it ({exc})"
                    ) from None
                self._course = Course(self.requester, response.json())
            return self._course

    def not_found(self, key: str, what: str, call: Callable[[], T], action: str) -> T:
        """Return ``call()`` (a read), raising CanvasConfigError naming ``key`` on a 404."""
        try:
            return self.read(action, call)
        except CanvasRefused as exc:
            if exc.status != 404:
                raise
            raise CanvasConfigError(
                f"{key}: Canvas has no {what} in course {self.course_id}"
            ) from None


_sessions: weakref.WeakKeyDictionary[object, dict[tuple[str, str, int], CanvasSession]] = (
    weakref.WeakKeyDictionary()
)
_sessions_lock = threading.Lock()


def run_key(get_metadata: Callable[..., Any]) -> object:
    """Return the object that stands for the run a step was called in: its metadata store."""
    return getattr(get_metadata, "__self__", get_metadata)


def session_for(run: object, base_url: str, token: Secret, course_id: int) -> CanvasSession:
    """Return the run's session for this address, token and course, making it once."""
    key = (base_url, token.reveal(), course_id)
    with _sessions_lock:
        sessions = _sessions.get(run)
        if sessions is None:
            sessions = _sessions[run] = {}
            weakref.finalize(run, _close_all, sessions)
        if key not in sessions:
            sessions[key] = CanvasSession(base_url, token, course_id)
        return sessions[key]


def _close_all(sessions: dict[Any, CanvasSession]) -> None:
    for session in sessions.values():
        session.close()
