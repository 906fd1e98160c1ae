"""Give each group a team and a repository, and keep each team's members in step.

The groups are the ones a flow assigned: a value on each student record
(``group_field``). A student's team is recorded as its slug once they are
in it; a student whose group changed is taken out of the old team and put
in the new one, and one who left their group is taken out. A group's team
and repository are made (if missing) only when a member has to be added, so
a run with nothing to change sends nothing.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from adminflow import AdminPropagateStep, Intent
from adminflow.engine.steps import Logger

from .base import GITHUB_CONFIG, GitHubIntents, Outcomes, is_active
from .errors import GitHubRefused
from .repos import PERMISSIONS, ensure_repository, template_problem
from .session import GitHubSession


def team_slug(name: str) -> str:
    """Return the slug GitHub makes of a team name: lower case, runs of others as one hyphen."""
    return re.sub(r"[^a-z0-9_]+", "-", name.lower()).strip("-")


class SyncGroupTeams(GitHubIntents, AdminPropagateStep[Any]):
    description = (
        "Create a team (and a repository from a template) for each group the flow assigned, "
        "add each enrolled student to their group's team and remove those who left it."
    )
    config_types = [
        *GITHUB_CONFIG,
        ("template", str, "the template of group repositories (owner/name); blank for none", ""),
        ("prefix", str, "group repositories are named <prefix>-<group>", "group"),
        ("permission", str, f"the team's permission: {', '.join(PERMISSIONS)}", "push"),
    ]

    login_field: ClassVar[str] = "github_login"
    """Read: the account's current login."""
    group_field: ClassVar[str] = "group_code"
    """Read: the student's group, as the flow assigned it; blank for none."""
    team_field: ClassVar[str] = "github_team"
    """Written: the slug of the team the student is in, or failed with the reason."""

    def validate(self) -> None:
        super().validate()
        if self.configs.template and (problem := template_problem(self.configs.template)):
            raise ValueError(problem)
        if self.configs.permission not in PERMISSIONS:
            raise ValueError(f"permission must be one of {', '.join(PERMISSIONS)}")

    def plan_records(
        self,
        records: list[tuple[Any, threading.Lock]],
        logger: Logger,
        get_metadata: Callable[[str], Any],
    ) -> list[Intent]:
        """Intend a team move for each student whose team is not their group's."""
        intents = []
        for record, lock in records:
            with lock:
                login = getattr(record, self.login_field)
                group = getattr(record, self.group_field) if is_active(record) else ""
                current = getattr(record, self.team_field)
            wanted = team_slug(group) if group and login else ""
            if current == wanted or not (wanted or (current and not current.startswith("failed"))):
                continue
            old = "" if current.startswith("failed") else current
            line = (
                f"move {login} from team {old or '(none)'} to team {wanted or '(none)'}"
                if old
                else f"add {login} to team {wanted}"
            )
            params = {"login": login, "group": group, "old": old, "wanted": wanted}
            intents.append(Intent("move-team" if old else "join-team", line, params, record=record))
        if intents:
            self.session(get_metadata)  # a bad token fails the plan, not each intent
        outcomes = Outcomes(logger)
        outcomes.planned(intents)
        outcomes.summary("group teams")
        return intents

    def send(self, session: GitHubSession, intent: Intent) -> dict[str, Any]:
        params = intent.params
        slug = self.move(
            session, params["login"], params["group"], params["old"], params["wanted"], self.made
        )
        return {self.team_field: slug}

    @functools.cached_property
    def made(self) -> set[str]:
        """The teams made (or found) by this step, so each is ensured once a run."""
        return set()

    def move(
        self,
        session: GitHubSession,
        login: str,
        group: str,
        old: str,
        wanted: str,
        made: set[str],
    ) -> str:
        """Take ``login`` out of team ``old`` and into ``wanted``; return the slug now held."""
        org = session.org
        if old:
            try:
                session.write(
                    "DELETE",
                    f"/orgs/{org}/teams/{old}/memberships/{login}",
                    f"remove {login} from team {old}",
                )
            except GitHubRefused as exc:
                if exc.status != 404:  # 404: not in the team any more; nothing to undo
                    raise
        if not wanted:
            return ""
        if wanted not in made:
            self.ensure_group(session, group, wanted)
            made.add(wanted)
        session.write(
            "PUT",
            f"/orgs/{org}/teams/{wanted}/memberships/{login}",
            f"add {login} to team {wanted}",
            {"role": "member"},
        )
        return wanted

    def ensure_group(self, session: GitHubSession, group: str, slug: str) -> None:
        """Create the group's team and repository unless they exist, and give the team access."""
        org = session.org
        try:
            session.read(f"/orgs/{org}/teams/{slug}", f"read team {slug}")
        except GitHubRefused as exc:
            if exc.status != 404:
                raise
            body = {"name": group, "privacy": "closed"}
            session.write("POST", f"/orgs/{org}/teams", f"create team {group}", body)
        if not self.configs.template:
            return
        name = f"{self.configs.prefix}-{slug}"
        ensure_repository(session, name, self.configs.template, f"Group {group}'s repository", True)
        # Granted again whenever a member is added: idempotent, and it repairs a grant that
        # failed after the repository was made.
        session.write(
            "PUT",
            f"/orgs/{org}/teams/{slug}/repos/{org}/{name}",
            f"give team {slug} {self.configs.permission} access to {org}/{name}",
            {"permission": self.configs.permission},
        )
