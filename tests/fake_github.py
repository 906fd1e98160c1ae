"""A stateful fake of the part of GitHub's REST API the GitHub steps use, on 127.0.0.1.

Test support, not product. Payloads, status codes, pagination and headers
follow GitHub's published REST API description (docs.github.com/rest, API
version 2022-11-28); only the fields the steps and PyGithub read are filled.
Every answer carries the primary rate-limit headers (``x-ratelimit-limit``,
``-remaining``, ``-used``, ``-reset``, ``-resource``); lists take ``per_page``
(default 30, at most 100) and ``page`` and answer with a ``Link`` header
(``rel="next"``, ``"last"``, ``"first"``, ``"prev"``). A request without the
token answers 401 "Bad credentials".

The documented operations it serves:

=========  ==================================================  ==============================================
method     path                                                GitHub's title
=========  ==================================================  ==============================================
GET        /orgs/{org}                                         Get an organization
GET        /users/{username}                                   Get a user
GET        /user/{account_id}                                  Get a user using their ID
GET        /orgs/{org}/members                                 List organization members
GET        /orgs/{org}/invitations                             List pending organization invitations
POST       /orgs/{org}/invitations                             Create an organization invitation
DELETE     /orgs/{org}/memberships/{username}                  Remove organization membership for a user
GET        /orgs/{org}/teams/{team_slug}                       Get a team by name
POST       /orgs/{org}/teams                                   Create a team
GET        /orgs/{org}/teams/{team_slug}/members               List team members
PUT        /orgs/{org}/teams/{team_slug}/memberships/{user}    Add or update team membership for a user
DELETE     /orgs/{org}/teams/{team_slug}/memberships/{user}    Remove team membership for a user
PUT        /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}  Add or update team repository permissions
GET        /repos/{owner}/{repo}                               Get a repository
POST       /repos/{template_owner}/{template_repo}/generate    Create a repository using a template
PUT        /repos/{owner}/{repo}/collaborators/{username}      Add a repository collaborator
DELETE     /repos/{owner}/{repo}/collaborators/{username}      Remove a repository collaborator
GET        /repos/{owner}/{repo}/commits                       List commits (``until``, ``sha``)
GET        /repos/{owner}/{repo}/git/ref/{ref}                 Get a reference
POST       /repos/{owner}/{repo}/git/refs                      Create a reference
=========  ==================================================  ==============================================

Faults a test can arm: :meth:`FakeGitHub.secondary_rate_limit_at` answers one
write with 403 and GitHub's secondary-rate-limit message and ``retry-after``;
:meth:`FakeGitHub.fail_next` answers the next requests with a 5xx. It counts
reads (GET) and writes (everything else) and keeps each write's arrival time.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fake_server import FakeServer

ORG = "cs101-fall"
"""The organization the suite's fake serves (the ``fake_github`` fixture)."""
TOKEN = "ghp_fakeTokenForTests0123456789abcdefABCD"
"""The one token it accepts."""
TEMPLATE = f"{ORG}/lab-template"
"""The template repository it holds from the start."""

DOCS = "https://docs.github.com/rest"
SECONDARY_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID."
)


class Answer(Exception):
    """Raise inside a route to answer with an error status and GitHub's error body."""

    def __init__(self, status: int, message: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {
            "message": message,
            "documentation_url": DOCS,
            "status": str(status),
        }
        if errors:
            self.body["errors"] = errors


def not_found() -> Answer:
    return Answer(404, "Not Found")


def invalid(message: str) -> Answer:
    return Answer(
        422, "Validation Failed", [{"resource": "Request", "code": "custom", "message": message}]
    )


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    description: str = ""
    private: bool = True
    is_template: bool = False
    collaborators: dict[int, str] = field(default_factory=dict)
    commits: list[tuple[str, datetime]] = field(default_factory=list)  # oldest first
    refs: dict[str, str] = field(default_factory=dict)


@dataclass
class Team:
    id: int
    name: str
    slug: str
    members: set[int] = field(default_factory=set)
    repos: dict[str, str] = field(default_factory=dict)


class FakeGitHub(FakeServer):
    """GitHub's state for one organization, and the HTTP server that serves it."""

    def __init__(self, org: str, token: str) -> None:
        super().__init__()
        self.org = org
        self.token = token
        self.lock = threading.Lock()
        self.ids = itertools.count(1000)
        self.users: dict[int, str] = {}
        self.members: set[int] = set()
        self.invitations: dict[int, int] = {}  # invitee id -> invitation id
        self.teams: dict[str, Team] = {}
        self.repos: dict[str, Repo] = {}
        self.reads = 0
        self.writes = 0
        self.write_times: list[float] = []
        self.requests: list[tuple[str, str, int]] = []
        self._rate_limit_at: int | None = None
        self._retry_after = 1
        self._failures: list[int] = []
        self._failing_method = "POST"

    # Test set-up

    def add_user(self, login: str) -> int:
        with self.lock:
            user_id = next(self.ids)
            self.users[user_id] = login
            return user_id

    def rename(self, old: str, new: str) -> None:
        with self.lock:
            self.users[self._user_id(old)] = new

    def add_repo(self, full_name: str, *, template: bool = False, commits: int = 1) -> Repo:
        owner, name = full_name.split("/")
        with self.lock:
            repo = Repo(owner, name, next(self.ids), is_template=template)
            self.repos[full_name.lower()] = repo
        for _ in range(commits):
            self.push(full_name, datetime(2025, 1, 1, tzinfo=UTC))
        return repo

    def add_team(self, name: str) -> Team:
        with self.lock:
            slug = re.sub(r"[^a-z0-9_]+", "-", name.lower()).strip("-")
            team = self.teams[slug] = Team(next(self.ids), name, slug)
            return team

    def push(self, full_name: str, when: datetime) -> str:
        """Add a commit made at ``when`` to a repository; return its SHA."""
        with self.lock:
            repo = self.repos[full_name.lower()]
            sha = hashlib.sha1(f"{full_name}{len(repo.commits)}{when}".encode()).hexdigest()
            repo.commits.append((sha, when))
            repo.commits.sort(key=lambda c: c[1])
            return sha

    def accept_invitations(self) -> None:
        with self.lock:
            self.members |= set(self.invitations)
            self.invitations.clear()

    def secondary_rate_limit_at(self, write_number: int, retry_after: int = 1) -> None:
        """Answer the ``write_number``-th write (counting from 1) with a secondary rate limit."""
        self._rate_limit_at, self._retry_after = write_number, retry_after

    def fail_next(self, count: int, status: int = 502, method: str = "POST") -> None:
        """Answer the next ``count`` requests made with ``method`` with ``status``."""
        with self.lock:
            self._failures = [status] * count
            self._failing_method = method

    def reset_counts(self) -> None:
        with self.lock:
            self.reads = self.writes = 0
            self.write_times = []
            self.requests = []

    def login_of(self, user_id: int) -> str:
        return self.users[user_id]

    def member_logins(self) -> set[str]:
        return {self.users[i] for i in self.members}

    # Payloads, shaped as GitHub's

    def _user(self, user_id: int) -> dict[str, Any]:
        login = self.users[user_id]
        return {
            "login": login,
            "id": user_id,
            "node_id": f"U_{user_id}",
            "url": f"{self.url}/users/{login}",
            "html_url": f"https://github.com/{login}",
            "type": "User",
            "site_admin": False,
        }

    def _repo(self, repo: Repo) -> dict[str, Any]:
        full = f"{repo.owner}/{repo.name}"
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.name,
            "full_name": full,
            "owner": {"login": repo.owner, "type": "Organization"},
            "private": repo.private,
            "description": repo.description,
            "url": f"{self.url}/repos/{full}",
            "html_url": f"https://github.com/{full}",
            "default_branch": "main",
            "is_template": repo.is_template,
        }

    def _team(self, team: Team) -> dict[str, Any]:
        return {
            "id": team.id,
            "node_id": f"T_{team.id}",
            "url": f"{self.url}/orgs/{self.org}/teams/{team.slug}",
            "name": team.name,
            "slug": team.slug,
            "description": None,
            "privacy": "closed",
            "permission": "pull",
            "parent": None,
        }

    def _invitation(self, user_id: int) -> dict[str, Any]:
        return {
            "id": self.invitations[user_id],
            "login": self.users[user_id],
            "email": None,
            "role": "direct_member",
            "created_at": "2025-01-01T00:00:00Z",
            "team_count": 0,
        }

    # Lookups

    def _user_id(self, login: str) -> int:
        for user_id, name in self.users.items():
            if name.lower() == login.lower():
                return user_id
        raise not_found()

    def _get_repo(self, owner: str, name: str) -> Repo:
        repo = self.repos.get(f"{owner}/{name}".lower())
        if repo is None:
            raise not_found()
        return repo

    def _get_team(self, org: str, slug: str) -> Team:
        self._check_org(org)
        if slug not in self.teams:
            raise not_found()
        return self.teams[slug]

    def _check_org(self, org: str) -> None:
        if org.lower() != self.org.lower():
            raise not_found()

    # Routes: (method, pattern) -> handler(match, query, body) -> (status, payload)

    def _routes(self) -> list[tuple[str, str, Callable[..., tuple[int, Any]]]]:
        return [
            ("GET", r"/orgs/([^/]+)", self.get_org),
            ("GET", r"/users/([^/]+)", self.get_user),
            ("GET", r"/user/(\d+)", self.get_user_by_id),
            ("GET", r"/orgs/([^/]+)/members", self.list_members),
            ("GET", r"/orgs/([^/]+)/invitations", self.list_invitations),
            ("POST", r"/orgs/([^/]+)/invitations", self.create_invitation),
            ("DELETE", r"/orgs/([^/]+)/memberships/([^/]+)", self.remove_membership),
            ("GET", r"/orgs/([^/]+)/teams/([^/]+)", self.get_team),
            ("POST", r"/orgs/([^/]+)/teams", self.create_team),
            ("GET", r"/orgs/([^/]+)/teams/([^/]+)/members", self.list_team_members),
            ("PUT", r"/orgs/([^/]+)/teams/([^/]+)/memberships/([^/]+)", self.add_team_member),
            ("DELETE", r"/orgs/([^/]+)/teams/([^/]+)/memberships/([^/]+)", self.remove_team_member),
            ("PUT", r"/orgs/([^/]+)/teams/([^/]+)/repos/([^/]+)/([^/]+)", self.add_team_repo),
            ("GET", r"/repos/([^/]+)/([^/]+)", self.get_repo),
            ("POST", r"/repos/([^/]+)/([^/]+)/generate", self.generate_repo),
            ("PUT", r"/repos/([^/]+)/([^/]+)/collaborators/([^/]+)", self.add_collaborator),
            ("DELETE", r"/repos/([^/]+)/([^/]+)/collaborators/([^/]+)", self.remove_collaborator),
            ("GET", r"/repos/([^/]+)/([^/]+)/commits", self.list_commits),
            ("GET", r"/repos/([^/]+)/([^/]+)/git/ref/(.+)", self.get_ref),
            ("POST", r"/repos/([^/]+)/([^/]+)/git/refs", self.create_ref),
        ]

    def get_org(self, org: str, **_: Any) -> tuple[int, Any]:
        self._check_org(org)
        return 200, {
            "login": self.org,
            "id": 1,
            "url": f"{self.url}/orgs/{self.org}",
            "type": "Organization",
        }

    def get_user(self, login: str, **_: Any) -> tuple[int, Any]:
        return 200, self._user(self._user_id(login))

    def get_user_by_id(self, user_id: str, **_: Any) -> tuple[int, Any]:
        if int(user_id) not in self.users:
            raise not_found()
        return 200, self._user(int(user_id))

    def list_members(self, org: str, **_: Any) -> tuple[int, Any]:
        self._check_org(org)
        return 200, [self._user(i) for i in sorted(self.members)]

    def list_invitations(self, org: str, **_: Any) -> tuple[int, Any]:
        self._check_org(org)
        return 200, [self._invitation(i) for i in sorted(self.invitations)]

    def create_invitation(self, org: str, body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        self._check_org(org)
        invitee = body.get("invitee_id")
        if invitee not in self.users:
            raise invalid("Invitee is not a GitHub user")
        if invitee in self.members:
            raise invalid("Invitee is already a part of this organization")
        if invitee in self.invitations:
            raise invalid("Invitee has already been invited")
        for team_id in body.get("team_ids", []):
            if not any(t.id == team_id for t in self.teams.values()):
                raise invalid(f"team {team_id} does not exist")
        self.invitations[invitee] = next(self.ids)
        return 201, self._invitation(invitee)

    def remove_membership(self, org: str, login: str, **_: Any) -> tuple[int, Any]:
        self._check_org(org)
        user_id = self._user_id(login)
        if user_id not in self.members and user_id not in self.invitations:
            raise not_found()
        self.members.discard(user_id)
        self.invitations.pop(user_id, None)
        for team in self.teams.values():
            team.members.discard(user_id)
        return 204, None

    def get_team(self, org: str, slug: str, **_: Any) -> tuple[int, Any]:
        return 200, self._team(self._get_team(org, slug))

    def create_team(self, org: str, body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        self._check_org(org)
        name = body.get("name") or ""
        slug = re.sub(r"[^a-z0-9_]+", "-", name.lower()).strip("-")
        if not name or slug in self.teams:
            raise invalid("Name must be unique for this org")
        self.teams[slug] = Team(next(self.ids), name, slug)
        return 201, self._team(self.teams[slug])

    def list_team_members(self, org: str, slug: str, **_: Any) -> tuple[int, Any]:
        return 200, [self._user(i) for i in sorted(self._get_team(org, slug).members)]

    def add_team_member(self, org: str, slug: str, login: str, **_: Any) -> tuple[int, Any]:
        team = self._get_team(org, slug)
        user_id = self._user_id(login)
        team.members.add(user_id)
        state = "active" if user_id in self.members else "pending"
        url = f"{self.url}/orgs/{org}/teams/{slug}/memberships/{login}"
        return 200, {"url": url, "role": "member", "state": state}

    def remove_team_member(self, org: str, slug: str, login: str, **_: Any) -> tuple[int, Any]:
        self._get_team(org, slug).members.discard(self._user_id(login))
        return 204, None

    def add_team_repo(
        self, org: str, slug: str, owner: str, name: str, body: dict[str, Any], **_: Any
    ) -> tuple[int, Any]:
        team = self._get_team(org, slug)
        self._get_repo(owner, name)
        team.repos[f"{owner}/{name}"] = body.get("permission", "push")
        return 204, None

    def get_repo(self, owner: str, name: str, **_: Any) -> tuple[int, Any]:
        return 200, self._repo(self._get_repo(owner, name))

    def generate_repo(
        self, owner: str, name: str, body: dict[str, Any], **_: Any
    ) -> tuple[int, Any]:
        template = self._get_repo(owner, name)
        if not template.is_template:
            raise invalid("Repository is not a template")
        new_owner, new_name = body.get("owner", ""), body.get("name", "")
        self._check_org(new_owner)
        if f"{new_owner}/{new_name}".lower() in self.repos:
            raise invalid("Name already exists on this account")
        repo = Repo(
            new_owner,
            new_name,
            next(self.ids),
            body.get("description", ""),
            body.get("private", False),
        )
        repo.commits = list(template.commits)
        self.repos[f"{new_owner}/{new_name}".lower()] = repo
        return 201, self._repo(repo)

    def add_collaborator(
        self, owner: str, name: str, login: str, body: dict[str, Any], **_: Any
    ) -> tuple[int, Any]:
        repo = self._get_repo(owner, name)
        user_id = self._user_id(login)
        if user_id in repo.collaborators:
            repo.collaborators[user_id] = body.get("permission", "push")
            return 204, None
        repo.collaborators[user_id] = body.get("permission", "push")
        return 201, {
            "id": next(self.ids),
            "invitee": self._user(user_id),
            "permissions": repo.collaborators[user_id],
        }

    def remove_collaborator(self, owner: str, name: str, login: str, **_: Any) -> tuple[int, Any]:
        self._get_repo(owner, name).collaborators.pop(self._user_id(login), None)
        return 204, None

    def list_commits(
        self, owner: str, name: str, query: dict[str, str], **_: Any
    ) -> tuple[int, Any]:
        repo = self._get_repo(owner, name)
        if not repo.commits:
            raise Answer(409, "Git Repository is empty.")
        until = (
            datetime.fromisoformat(query["until"].replace("Z", "+00:00"))
            if "until" in query
            else None
        )
        commits = [c for c in reversed(repo.commits) if until is None or c[1] <= until]
        return 200, [
            {
                "sha": sha,
                "url": f"{self.url}/repos/{owner}/{name}/commits/{sha}",
                "commit": {
                    "author": {"date": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
                    "message": "work",
                },
            }
            for sha, when in commits
        ]

    def get_ref(self, owner: str, name: str, ref: str, **_: Any) -> tuple[int, Any]:
        repo = self._get_repo(owner, name)
        full = f"refs/{ref}"
        if full not in repo.refs:
            raise not_found()
        return 200, self._ref(owner, name, full, repo.refs[full])

    def create_ref(self, owner: str, name: str, body: dict[str, Any], **_: Any) -> tuple[int, Any]:
        repo = self._get_repo(owner, name)
        ref, sha = body.get("ref", ""), body.get("sha", "")
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise invalid("ref must be fully qualified, e.g. refs/tags/v1")
        if ref in repo.refs:
            raise invalid("Reference already exists")
        if sha not in {c[0] for c in repo.commits}:
            raise invalid("Object does not exist")
        repo.refs[ref] = sha
        return 201, self._ref(owner, name, ref, sha)

    def _ref(self, owner: str, name: str, ref: str, sha: str) -> dict[str, Any]:
        return {
            "ref": ref,
            "node_id": f"REF_{sha[:8]}",
            "url": f"{self.url}/repos/{owner}/{name}/git/{ref}",
            "object": {
                "type": "commit",
                "sha": sha,
                "url": f"{self.url}/repos/{owner}/{name}/git/commits/{sha}",
            },
        }

    # HTTP

    def handle(
        self, method: str, target: str, headers: Any, raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: status, extra headers and body."""
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            if method == "GET":
                self.reads += 1
            else:
                self.writes += 1
                self.write_times.append(time.monotonic())
            number = self.writes
            failing = self._failures and method == self._failing_method
            failure = self._failures.pop(0) if failing else None
        extra: dict[str, str] = {}
        try:
            if headers.get("Authorization", "") not in (
                f"token {self.token}",
                f"Bearer {self.token}",
            ):
                raise Answer(401, "Bad credentials")
            if failure is not None:
                raise Answer(failure, "Server Error")
            if method != "GET" and number == self._rate_limit_at:
                self._rate_limit_at = None
                extra["retry-after"] = str(self._retry_after)
                raise Answer(403, SECONDARY_LIMIT)
            body = json.loads(raw) if raw else {}
            status, payload = self._route(method, parts.path, query, body)
        except Answer as answer:
            status, payload = answer.status, answer.body
        with self.lock:
            self.requests.append((method, parts.path, status))
        if isinstance(payload, list):
            payload, extra["Link"] = self._page(payload, parts.path, query)
        headers = {**self._rate_limit_headers(), **extra}
        return status, headers, b"" if payload is None else json.dumps(payload).encode()

    @staticmethod
    def _rate_limit_headers() -> dict[str, str]:
        return {
            "x-github-api-version-selected": "2022-11-28",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "4999",
            "x-ratelimit-used": "1",
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core",
        }

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        for verb, pattern, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                with self.lock:
                    return handler(*match.groups(), query=query, body=body)
        raise not_found()

    def _page(self, items: list[Any], path: str, query: dict[str, str]) -> tuple[list[Any], str]:
        per_page = min(int(query.get("per_page", 30)), 100)
        page = max(int(query.get("page", 1)), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        others = {k: v for k, v in query.items() if k not in ("page", "per_page")}

        def link(number: int, rel: str) -> str:
            params = "&".join(
                [*(f"{k}={v}" for k, v in others.items()), f"per_page={per_page}", f"page={number}"]
            )
            return f'<{self.url}{path}?{params}>; rel="{rel}"'

        links = []
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        return items[(page - 1) * per_page : page * per_page], ", ".join(links)
