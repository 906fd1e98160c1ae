"""Check that each student's GitHub username names an account, and remember the account.

The account's id is what identifies it: logins can be renamed, ids never
change. Once a student's id is recorded, later runs look the account up by
id (``GET /user/{account_id}``) and follow a rename; to point a student at
another account, clear their id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

from adminflow import AdminUpdateStep
from adminflow.engine.steps import Logger

from .base import DONE, GITHUB_CONFIG, GitHubStep, Outcomes, failed
from .errors import GitHubRefused
from .session import GitHubSession


class CheckGitHubAccounts(GitHubStep, AdminUpdateStep[Any]):
    description = (
        "Look up each student's GitHub username; record the account's id and current login "
        "(a renamed account is followed by its id) or why there is none."
    )
    config_types = [*GITHUB_CONFIG]

    username_field: ClassVar[str] = "github_username"
    """Read: the username as the student gave it."""
    id_field: ClassVar[str] = "github_id"
    """Written: the account's id (None until found)."""
    login_field: ClassVar[str] = "github_login"
    """Written: the account's current login; the other GitHub steps use this one."""
    outcome_field: ClassVar[str] = "github_account"
    """Written: done, or failed with the reason."""

    def update_records(
        self,
        records: list[tuple[Any, threading.Lock]],
        logger: Logger,
        get_metadata: Callable[[str], Any],
        set_metadata: Callable[[str, Any], None],
        debug: bool = False,
    ) -> None:
        session = self.session(get_metadata)
        outcomes = Outcomes(logger)  # reads only: debug mode changes nothing here
        for record, lock in records:
            with lock:
                username = (getattr(record, self.username_field) or "").strip()
                account_id = getattr(record, self.id_field)
                login = getattr(record, self.login_field)
            if account_id is None and not username:
                continue
            outcomes.act(
                record,
                lock,
                self.outcome_field,
                f"look up GitHub account {username or account_id}",
                lambda r=record, lk=lock, u=username, i=account_id, old=login: self.look_up(  # type: ignore[misc]
                    session, r, lk, u, i, old, logger
                ),
            )
        outcomes.summary("GitHub accounts")

    def look_up(
        self,
        session: GitHubSession,
        record: Any,
        lock: threading.Lock,
        username: str,
        account_id: int | None,
        old_login: str,
        logger: Logger,
    ) -> str:
        """Find the account by id if known, else by username; record it and return the outcome."""
        try:
            if account_id is not None:
                user = session.read(f"/user/{account_id}", f"look up GitHub account {account_id}")
            else:
                user = session.read(f"/users/{username}", f"look up GitHub user '{username}'")
        except GitHubRefused as exc:
            if exc.status == 404:
                return failed(f"no GitHub account '{username or account_id}'")
            raise
        if old_login and user["login"] != old_login:
            logger(f"GitHub account {user['id']} was renamed from {old_login} to {user['login']}")
        with lock:
            setattr(record, self.id_field, user["id"])
            setattr(record, self.login_field, user["login"])
        return DONE
