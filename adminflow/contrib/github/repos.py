"""Create each student's repository from a template, and give the student access.

A repository that exists already is not created again (GitHub would refuse
with 422 anyway); the student's access is then granted, which GitHub
treats as idempotent. Repositories are named ``<prefix>-<login>`` when made,
and the name is recorded, so a later rename of the account changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

from adminflow import AdminPropagateStep, Intent
from adminflow.engine.steps import Logger

from .base import DONE, GITHUB_CONFIG, GitHubIntents, Outcomes, is_active
from .errors import GitHubRefused
from .session import GitHubSession

PERMISSIONS = ("pull", "triage", "push", "maintain", "admin")


def template_problem(template: str) -> str | None:
    """Return why ``template`` is not ``owner/name``, or None."""
    owner, _, name = template.partition("/")
    if not owner or not name or "/" in name:
        return f"template must be 'owner/name', got {template!r}"
    return None


def ensure_repository(
    session: GitHubSession, name: str, template: str, description: str, private: bool
) -> bool:
    """Create ``org/name`` from ``template`` unless it exists; return whether it was created."""
    org = session.org
    try:
        session.read(f"/repos/{org}/{name}", f"read repository {org}/{name}")
        return False
    except GitHubRefused as exc:
        if exc.status != 404:
            raise
    session.write(
        "POST",
        f"/repos/{template}/generate",
        f"create repository {org}/{name} from {template}",
        {"owner": org, "name": name, "description": description, "private": private},
    )
    return True


class CreateStudentRepos(GitHubIntents, AdminPropagateStep[Any]):
    description = (
        "Create each enrolled student's repository from a template repository, with a "
        "description, and give the student the configured permission on it."
    )
    config_types = [
        *GITHUB_CONFIG,
        ("template", str, "the template repository, as owner/name"),
        ("prefix", str, "repositories are named <prefix>-<login>"),
        ("permission", str, f"the student's permission: {', '.join(PERMISSIONS)}", "push"),
        ("description", str, "the description; {login} is replaced", "{login}'s repository"),
        ("private", bool, "make the repositories private", True),
    ]

    login_field: ClassVar[str] = "github_login"
    """Read: the account's current login."""
    outcome_field: ClassVar[str] = "github_repo"
    """Written: done, or failed with the reason."""
    name_field: ClassVar[str] = "github_repo_name"
    """Written: the repository's name, once it exists."""

    def validate(self) -> None:
        super().validate()
        if problem := template_problem(self.configs.template):
            raise ValueError(problem)
        if self.configs.permission not in PERMISSIONS:
            raise ValueError(
                f"permission must be one of {', '.join(PERMISSIONS)}, "
                f"got {self.configs.permission!r}"
            )

    def plan_records(
        self,
        records: list[tuple[Any, threading.Lock]],
        logger: Logger,
        get_metadata: Callable[[str], Any],
    ) -> list[Intent]:
        """Intend a repository, and the student's access to it, for each student without one."""
        active = [(r, lk) for r, lk in records if is_active(r) and getattr(r, self.login_field)]
        outcomes = Outcomes(logger)
        intents = []
        for record, lock in outcomes.pending(active, self.outcome_field):
            with lock:
                login = getattr(record, self.login_field)
                name = getattr(record, self.name_field) or f"{self.configs.prefix}-{login}"
            line = (
                f"create {self.configs.org}/{name} from {self.configs.template} and give "
                f"{login} {self.configs.permission} access"
            )
            params = {"login": login, "name": name}
            intents.append(Intent("create-repo", line, params, record=record))
        if intents:
            self.session(get_metadata)  # a bad token fails the plan, not each intent
        outcomes.planned(intents)
        outcomes.summary("student repositories")
        return intents

    def send(self, session: GitHubSession, intent: Intent) -> dict[str, Any]:
        configs = self.configs
        login, name = intent.params["login"], intent.params["name"]
        ensure_repository(
            session,
            name,
            configs.template,
            configs.description.replace("{login}", login),
            configs.private,
        )
        session.write(
            "PUT",
            f"/repos/{session.org}/{name}/collaborators/{login}",
            f"give {login} access to {session.org}/{name}",
            {"permission": configs.permission},
        )
        return {self.outcome_field: DONE, self.name_field: name}
