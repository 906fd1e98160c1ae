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

from adminflow import AdminPropagateStep, Intent
from adminflow.engine.steps import Logger

from .base import ALREADY, DONE, FINISHED, GITHUB_CONFIG, GitHubIntents, Outcomes, is_active
from .errors import GitHubRefused
from .session import GitHubSession


class RemoveDroppedStudents(GitHubIntents, AdminPropagateStep[Any]):
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

    def plan_records(
        self,
        records: list[tuple[Any, threading.Lock]],
        logger: Logger,
        get_metadata: Callable[[str], Any],
    ) -> list[Intent]:
        """Intend the removal of each dropped student who still has access."""
        dropped = []
        for record, lock in records:
            with lock:
                if is_active(record):
                    if getattr(record, self.outcome_field) in FINISHED:
                        setattr(record, self.outcome_field, "")  # back: may be removed again
                elif getattr(record, self.login_field):
                    dropped.append((record, lock))
        outcomes = Outcomes(logger)
        intents = []
        for record, lock in list(outcomes.pending(dropped, self.outcome_field)):
            with lock:
                login = getattr(record, self.login_field)
                repo = getattr(record, self.repo_name_field)
                had_access = repo or any(getattr(record, f) for f in self.cleared_fields)
            if not had_access:
                outcomes.note(record, lock, self.outcome_field, ALREADY)
                continue
            where = f" and {self.configs.org}/{repo}" if repo else ""
            line = f"remove {login} from {self.configs.org}{where}"
            intents.append(Intent("remove", line, {"login": login, "repo": repo}, record=record))
        if intents:
            self.session(get_metadata)  # a bad token fails the plan, not each intent
        outcomes.planned(intents)
        outcomes.summary("removals")
        return intents

    def send(self, session: GitHubSession, intent: Intent) -> dict[str, Any]:
        org, login, repo = session.org, intent.params["login"], intent.params["repo"]
        if repo:
            self.delete(
                session,
                f"/repos/{org}/{repo}/collaborators/{login}",
                f"remove {login} from {org}/{repo}",
            )
        self.delete(session, f"/orgs/{org}/memberships/{login}", f"remove {login} from {org}")
        return {self.outcome_field: DONE, **self.cleared_fields}

    @staticmethod
    def delete(session: GitHubSession, path: str, action: str) -> None:
        """Send a DELETE; a 404 means the access is gone already, which is what was wanted."""
        try:
            session.write("DELETE", path, action)
        except GitHubRefused as exc:
            if exc.status != 404:
                raise
