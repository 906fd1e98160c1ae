"""One GitHub client per flow run, shared by the run's GitHub steps and threads.

A run's steps find their session through the run itself: the engine hands
every step of one run the same metadata store (``get_metadata`` is bound to
it), so :func:`session_for` keys sessions on that object, weakly; when the
run ends and the store is dropped, the session is closed. Steps with the same
API address, organization and token share one session, and so one
:class:`~.pacing.Pacer`: GitHub counts its limits per token.

The client is PyGithub's ``Github``, built with its own retries and spacing
switched off (``retry=None``, ``seconds_between_*=None``): a retry inside
the client would repeat a write the step cannot see, and its spacing is not
thread-safe. Retries go through adminflow's retry policy instead (see
:mod:`.errors`), spacing through the pacer. Its connection pool is sized
for the run's threads; requests' session is shared by them, as PyGithub
allows.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import requests
from github import Auth, Github, GithubException
from github.NamedUser import NamedUser
from github.PaginatedList import PaginatedList

from adminflow import Secret

from .errors import GitHubAuthError, GitHubError, GitHubUnavailable, translate
from .pacing import Pacer

PER_PAGE = 100
"""The most GitHub returns per page; fewer pages, fewer requests."""

POOL_SIZE = 16


class GitHubSession:
    """An authenticated client for one organization, with the run's pacing."""

    def __init__(self, api_url: str, org: str, token: Secret, write_spacing: float) -> None:
        self.org = org
        self.pacer = Pacer(write_spacing)
        self.client = Github(
            auth=Auth.Token(token.reveal()),
            base_url=api_url,
            per_page=PER_PAGE,
            retry=None,
            pool_size=POOL_SIZE,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        self._checked = threading.Lock()
        self._org_ok = False

    def close(self) -> None:
        self.client.close()

    def _call(self, action: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except GithubException as exc:
            error = translate(exc, action)
        except requests.RequestException as exc:
            error = GitHubUnavailable(f"{action}: no answer from GitHub ({type(exc).__name__})")
        if getattr(error, "wait", None) is not None:
            self.pacer.pause(error.wait)  # type: ignore[attr-defined]
        raise error

    def check_access(self) -> None:
        """Raise GitHubAuthError unless the token can read the organization; once per session.

        Every step calls this before its first action, so a bad token or a
        wrong organization fails the step before anything is changed.
        """
        with self._checked:
            if self._org_ok:
                return
            try:
                self.read(f"/orgs/{self.org}", f"read organization '{self.org}'")
            except GitHubAuthError:
                raise
            except GitHubError as exc:
                if getattr(exc, "status", None) == 404:
                    raise GitHubAuthError(
                        f"organization '{self.org}' was not found, or the token may not see it"
                    ) from None
                raise
            self._org_ok = True

    def read(self, path: str, action: str, params: dict[str, Any] | None = None) -> Any:
        """Return the JSON of a GET of ``path``."""
        requester = self.client.requester
        with self.pacer.read():
            return self._call(
                action, lambda: requester.requestJsonAndCheck("GET", path, parameters=params)[1]
            )

    def logins(self, path: str, action: str) -> set[str]:
        """Return the ``login`` of every item of a paginated list of accounts or invitations.

        PyGithub's ``PaginatedList`` follows GitHub's ``Link`` headers, 100 per
        page; reading ``login`` never completes an item with a request of its own.
        """
        pages = PaginatedList(NamedUser, self.client.requester, path, None)
        with self.pacer.read():
            return self._call(action, lambda: {item.login for item in pages if item.login})

    def write(self, verb: str, path: str, action: str, body: dict[str, Any] | None = None) -> Any:
        """Send one write, paced with every other write of the run; return its JSON."""
        requester = self.client.requester
        with self.pacer.write():
            return self._call(
                action, lambda: requester.requestJsonAndCheck(verb, path, input=body)[1]
            )


_sessions: weakref.WeakKeyDictionary[object, dict[tuple[str, str, str], GitHubSession]] = (
    weakref.WeakKeyDictionary()
)
_sessions_lock = threading.Lock()


def run_key(get_metadata: Callable[..., Any]) -> object:
    """Return the object that stands for the run a step was called in: its metadata store."""
    return getattr(get_metadata, "__self__", get_metadata)


def session_for(
    run: object, api_url: str, org: str, token: Secret, write_spacing: float
) -> GitHubSession:
    """Return the run's session for this API, organization and token, making it once."""
    key = (api_url, org, token.reveal())
    with _sessions_lock:
        sessions = _sessions.get(run)
        if sessions is None:
            sessions = _sessions[run] = {}
            weakref.finalize(run, _close_all, sessions)
        if key not in sessions:
            sessions[key] = GitHubSession(api_url, org, token, write_spacing)
        return sessions[key]


def _close_all(sessions: dict[Any, GitHubSession]) -> None:
    for session in sessions.values():
        session.close()
