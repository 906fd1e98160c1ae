"""Invite students to the organization (and a team), and mark who has accepted.

An invitation goes by account id (``invitee_id``), so a student who renamed
their account is still the one invited. Members and pending invitations are
read once per run (two paginated lists), so nobody already in or already
invited is invited again, even by a first run. A student who is a member
already is not invited but, when a team is named, added to it (its members
are read once too), so members and invitees end up in the team alike.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

from adminflow import AdminPropagateStep, Intent
from adminflow.engine.steps import Logger

from .base import ALREADY, DONE, GITHUB_CONFIG, GitHubIntents, Outcomes, is_active
from .session import GitHubSession


class InviteStudents(GitHubIntents, AdminPropagateStep[Any]):
    description = (
        "Invite each enrolled student with a GitHub account to the organization, and to a "
        "team if one is named; mark who has accepted."
    )
    config_types = [
        *GITHUB_CONFIG,
        ("team", str, "the slug of a team to invite students to; blank for none", ""),
    ]

    id_field: ClassVar[str] = "github_id"
    """Read: the account id found by CheckGitHubAccounts."""
    login_field: ClassVar[str] = "github_login"
    """Read: the account's current login."""
    outcome_field: ClassVar[str] = "github_invite"
    """Written: done (invited, or a member added to the team), already, or failed."""
    joined_field: ClassVar[str] = "github_joined"
    """Written: whether the student is a member of the organization (accepted)."""

    def plan_records(
        self,
        records: list[tuple[Any, threading.Lock]],
        logger: Logger,
        get_metadata: Callable[[str], Any],
    ) -> list[Intent]:
        """Mark who has joined; intend an invitation (or a team membership) for the others."""
        session = self.session(get_metadata)
        org = session.org
        members = {m.lower() for m in session.logins(f"/orgs/{org}/members", "list members")}
        outcomes = Outcomes(logger)
        pending = []
        for record, lock in records:
            with lock:
                login = getattr(record, self.login_field)
                active = is_active(record) and getattr(record, self.id_field) is not None
                if login:
                    setattr(record, self.joined_field, login.lower() in members)
            if active:
                pending.append((record, lock))
        pending = list(outcomes.pending(pending, self.outcome_field))
        intents = []
        if pending:
            invited = {
                i.lower()
                for i in session.logins(f"/orgs/{org}/invitations", "list pending invitations")
            }
            team_ids = self.team_ids(session)
            in_team = self.team_members(session) if team_ids else set()
            for record, lock in pending:
                with lock:
                    login = getattr(record, self.login_field)
                    account_id = getattr(record, self.id_field)
                if login.lower() in members and team_ids and login.lower() not in in_team:
                    line = f"add {login} to team {self.configs.team}"
                    intents.append(Intent("join-team", line, {"login": login}, record=record))
                    continue
                if login.lower() in members or login.lower() in invited:
                    outcomes.note(record, lock, self.outcome_field, ALREADY)
                    continue
                to_team = f" and team {self.configs.team}" if team_ids else ""
                params = {"login": login, "account_id": account_id, "team_ids": team_ids}
                line = f"invite {login} to {org}{to_team}"
                intents.append(Intent("invite", line, params, record=record))
        with_joined = sum(1 for r, _ in records if getattr(r, self.joined_field, False))
        logger(f"{with_joined} students are members of {org}")
        outcomes.planned(intents)
        outcomes.summary("invitations")
        return intents

    def send(self, session: GitHubSession, intent: Intent) -> dict[str, Any]:
        params = intent.params
        if intent.action == "join-team":
            self.join_team(session, params["login"])
        else:
            self.invite(session, params["account_id"], params["login"], params["team_ids"])
        return {self.outcome_field: DONE}

    def team_ids(self, session: GitHubSession) -> list[int]:
        if not self.configs.team:
            return []
        team = session.read(
            f"/orgs/{session.org}/teams/{self.configs.team}", f"read team '{self.configs.team}'"
        )
        return [team["id"]]

    def team_members(self, session: GitHubSession) -> set[str]:
        """Return the logins (lower case) of the named team's members."""
        team = self.configs.team
        path = f"/orgs/{session.org}/teams/{team}/members"
        return {m.lower() for m in session.logins(path, f"list members of team '{team}'")}

    def join_team(self, session: GitHubSession, login: str) -> None:
        """Add ``login``, a member of the organization already, to the named team."""
        team = self.configs.team
        session.write(
            "PUT",
            f"/orgs/{session.org}/teams/{team}/memberships/{login}",
            f"add {login} to team {team}",
            {"role": "member"},
        )

    def invite(self, session: GitHubSession, account_id: int, login: str, teams: list[int]) -> None:
        body: dict[str, Any] = {"invitee_id": account_id, "role": "direct_member"}
        if teams:
            body["team_ids"] = teams
        session.write("POST", f"/orgs/{session.org}/invitations", f"invite {login}", body)
