"""Take away the GitHub access of students who dropped; never delete a repository.

A dropped student loses their collaborator access to their repository and
their organization membership (which also cancels a pending invitation and
takes them out of every team). Their repository stays, with its history.
A student who returns is invited again: the step clears their invitation
and team outcomes when it removes them, and its own outcome when they are
enrolled again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

from adminflow import AdminPropagateStep
from adminflow.engine.steps import Logger

from .base import ALREADY, DONE, FINISHED, GITHUB_CONFIG, GitHubStep, Outcomes, is_active
from .errors import GitHubRefused
from .session import GitHubSession


class RemoveDroppedStudents(GitHubStep, AdminPropagateStep[Any]):
    description = (
        "Remove students who dropped from the organization, its teams and their repository's "
        "collaborators; repositories are kept."
    )
    config_types = [*GITHUB_CONFIG]

    login_field: ClassVar[str] = "github_login"
    """Read: the account's current login."""
    repo_name_field: ClassVar[str] = "github_repo_name"
    """Read: the student's repository, if one was made."""
    outcome_field: ClassVar[str] = "github_removed"
    """Written: done, already (nothing to remove), or failed."""
    cleared_fields: ClassVar[dict[str, Any]] = {
        "github_invite": "",
        "github_joined": False,
        "github_team": "",
    }
    """Written on removal: the outcomes of the access taken away, so a return starts afresh."""

    def propagate_records(
        self,
        records: list[tuple[Any, threading.Lock]],
        logger: Logger,
        get_metadata: Callable[[str], Any],
        debug: bool = False,
    ) -> None:
        dropped = []
        for record, lock in records:
            with lock:
                if is_active(record):
                    if getattr(record, self.outcome_field) in FINISHED:
                        setattr(record, self.outcome_field, "")  # back: may be removed again
                elif getattr(record, self.login_field):
                    dropped.append((record, lock))
        outcomes = Outcomes(logger, debug)
        pending = list(outcomes.pending(dropped, self.outcome_field))
        session = self.session(get_metadata) if pending else None
        for record, lock in pending:
            with lock:
                login = getattr(record, self.login_field)
                repo = getattr(record, self.repo_name_field)
                had_access = repo or any(getattr(record, f) for f in self.cleared_fields)
            if not had_access:
                outcomes.note(record, lock, self.outcome_field, ALREADY)
                continue
            where = f" and {self.configs.org}/{repo}" if repo else ""
            outcomes.act(
                record,
                lock,
                self.outcome_field,
                f"remove {login} from {self.configs.org}{where}",
                lambda r=record, lk=lock, lg=login, rp=repo: self.remove(session, r, lk, lg, rp),  # type: ignore[misc]
            )
        outcomes.summary("removals")

    def remove(
        self,
        session: GitHubSession | None,
        record: Any,
        lock: threading.Lock,
        login: str,
        repo: str,
    ) -> str:
        assert session is not None
        org = session.org
        if repo:
            self.delete(
                session,
                f"/repos/{org}/{repo}/collaborators/{login}",
                f"remove {login} from {org}/{repo}",
            )
        self.delete(session, f"/orgs/{org}/memberships/{login}", f"remove {login} from {org}")
        with lock:
            for field, value in self.cleared_fields.items():
                setattr(record, field, value)
        return DONE

    @staticmethod
    def delete(session: GitHubSession, path: str, action: str) -> None:
        """Send a DELETE; a 404 means the access is gone already, which is what was wanted."""
        try:
            session.write("DELETE", path, action)
        except GitHubRefused as exc:
            if exc.status != 404:
                raise
