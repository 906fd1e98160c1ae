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

from adminflow import AdminPropagateStep
from adminflow.engine.steps import Logger

from .base import ALREADY, DONE, GITHUB_CONFIG, GitHubStep, Outcomes, is_active
from .session import GitHubSession


class InviteStudents(GitHubStep, AdminPropagateStep[Any]):
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

    def propagate_records(
        self,
        records: list[tuple[Any, threading.Lock]],
        logger: Logger,
        get_metadata: Callable[[str], Any],
        debug: bool = False,
    ) -> None:
        session = self.session(get_metadata)
        org = session.org
        members = {m.lower() for m in session.logins(f"/orgs/{org}/members", "list members")}
        outcomes = Outcomes(logger, debug)
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
                    outcomes.act(
                        record,
                        lock,
                        self.outcome_field,
                        f"add {login} to team {self.configs.team}",
                        lambda lg=login: self.join_team(session, lg),  # type: ignore[misc]
                    )
                    continue
                if login.lower() in members or login.lower() in invited:
                    outcomes.note(record, lock, self.outcome_field, ALREADY)
                    continue
                to_team = f" and team {self.configs.team}" if team_ids else ""
                outcomes.act(
                    record,
                    lock,
                    self.outcome_field,
                    f"invite {login} to {org}{to_team}",
                    lambda i=account_id, lg=login: self.invite(session, i, lg, team_ids),  # type: ignore[misc]
                )
        with_joined = sum(1 for r, _ in records if getattr(r, self.joined_field, False))
        logger(f"{with_joined} students are members of {org}")
        outcomes.summary("invitations")

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

    def join_team(self, session: GitHubSession, login: str) -> str:
        """Add ``login``, a member of the organization already, to the named team."""
        team = self.configs.team
        session.write(
            "PUT",
            f"/orgs/{session.org}/teams/{team}/memberships/{login}",
            f"add {login} to team {team}",
            {"role": "member"},
        )
        return DONE

    def invite(self, session: GitHubSession, account_id: int, login: str, teams: list[int]) -> str:
        body: dict[str, Any] = {"invitee_id": account_id, "role": "direct_member"}
        if teams:
            body["team_ids"] = teams
        session.write("POST", f"/orgs/{session.org}/invitations", f"invite {login}", body)
        return DONE
