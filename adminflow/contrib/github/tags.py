"""Tag every student repository at a deadline: a lab's submission.

The tag points at the newest commit of the branch made at or before the
deadline (``GET /repos/{owner}/{repo}/commits?until=...``). The commit
tagged is recorded on the student, under the tag's name, in a mapping
field; a repository with no commit by then is recorded as having none and
reported, in the log and as metadata ``<tag>_without_commit`` (logins).
A tag already there (422 from GitHub) is read back and recorded as it is,
never moved.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from adminflow import AdminPropagateStep, Intent
from adminflow.engine.steps import Logger

from .base import GITHUB_CONFIG, GitHubStep, Outcomes, failed
from .errors import GitHubRefused
from .session import GitHubSession

NO_COMMIT = "no commit"


class TagSubmissions(GitHubStep, AdminPropagateStep[Any]):
    description = (
        "Tag each student repository at the newest commit made by the deadline; record the "
        "commit tagged and report who had no commit."
    )
    config_types = [
        *GITHUB_CONFIG,
        ("tag", str, "the tag to create, e.g. lab1-submission"),
        ("deadline", datetime, "the deadline, with its time zone"),
        ("branch", str, "the branch to tag; blank for the repository's default branch", ""),
    ]

    login_field: ClassVar[str] = "github_login"
    """Read: the account's current login (for reports)."""
    repo_name_field: ClassVar[str] = "github_repo_name"
    """Read: the student's repository; students without one are skipped."""
    submissions_field: ClassVar[str] = "submissions"
    """Written: a mapping of tag -> commit SHA tagged, "no commit", or "failed: ..."."""

    def validate(self) -> None:
        super().validate()
        if self.configs.deadline.tzinfo is None:
            raise ValueError("deadline needs a time zone, e.g. 2025-10-03T23:59:00-07:00")
        if not self.configs.tag.strip() or " " in self.configs.tag:
            raise ValueError(f"tag must be a name without spaces, got {self.configs.tag!r}")

    # Takes set_metadata too, which the engine passes by name to a plan_records that takes
    # it (engine.flow.PLANNED_ARGUMENTS), to publish the repositories without a commit.
    def plan_records(  # type: ignore[override]
        self,
        records: list[tuple[Any, threading.Lock]],
        logger: Logger,
        get_metadata: Callable[[str], Any],
        set_metadata: Callable[[str, Any], None],
    ) -> list[Intent]:
        """Find each untagged repository's commit at the deadline; intend its tag.

        The commit is found when planning, so a plan shows exactly what each
        tag will point at; a repository without one is recorded as such.
        """
        tag = self.configs.tag
        pending = []
        for record, lock in records:
            with lock:
                repo = getattr(record, self.repo_name_field)
                submissions = dict(getattr(record, self.submissions_field) or {})
            done = submissions.get(tag, "")
            if repo and (not done or done.startswith("failed")):
                pending.append((record, lock, repo, submissions))
        outcomes = Outcomes(logger)
        session = self.session(get_metadata) if pending else None
        intents = []
        for record, lock, repo, submissions in pending:
            assert session is not None
            try:
                sha = self.last_commit(session, repo)
            except GitHubRefused as exc:
                logger.warning(f"could not read the commits of {session.org}/{repo}: {exc}")
                self.record(record, lock, outcomes, failed(exc))
                continue
            if sha is None:
                self.record(record, lock, outcomes, NO_COMMIT)
                continue
            line = f"tag {self.configs.org}/{repo} as {tag} at {sha[:7]}"
            params = {"repo": repo, "sha": sha, "submissions": submissions}
            intents.append(Intent("tag", line, params, record=record))
        without = sorted(
            getattr(record, self.login_field) or str(getattr(record, self.repo_name_field))
            for record, _lock in records
            if (getattr(record, self.submissions_field) or {}).get(tag) == NO_COMMIT
        )
        if without:
            logger.warning(f"no commit by the deadline for {tag}: {', '.join(without)}")
        set_metadata(f"{tag}_without_commit", without)
        outcomes.planned(intents)
        outcomes.summary(f"tag {tag}")
        return intents

    def record(self, record: Any, lock: threading.Lock, outcomes: Outcomes, result: str) -> None:
        """Write ``result`` under the tag's name in the student's submissions; count it."""
        with lock:
            submissions = dict(getattr(record, self.submissions_field) or {})
            submissions[self.configs.tag] = result
            setattr(record, self.submissions_field, submissions)
        outcomes.count(result if result == NO_COMMIT or result.startswith("failed") else "tagged")

    def carry_out(
        self, intent: Intent, logger: Logger, get_metadata: Callable[[str], Any]
    ) -> dict[str, Any]:
        """Tag one repository; write the SHA tagged (or why not) under the tag's name."""
        session = self.session(get_metadata)
        org, tag = session.org, self.configs.tag
        repo, sha = intent.params["repo"], intent.params["sha"]
        try:
            try:
                session.write(
                    "POST",
                    f"/repos/{org}/{repo}/git/refs",
                    f"tag {org}/{repo} as {tag}",
                    {"ref": f"refs/tags/{tag}", "sha": sha},
                )
            except GitHubRefused as exc:
                if exc.status != 422:
                    raise
                ref = session.read(f"/repos/{org}/{repo}/git/ref/tags/{tag}", f"read tag {tag}")
                sha = str(ref["object"]["sha"])  # there already: recorded as it is
        except GitHubRefused as exc:
            logger.warning(f"could not tag {org}/{repo}: {exc}")
            sha = failed(exc)
        # The mapping as planned, with this tag: its other tags are as the plan found them.
        return {self.submissions_field: {**intent.params["submissions"], tag: sha}}

    def last_commit(self, session: GitHubSession, repo: str) -> str | None:
        """Return the SHA of the newest commit made by the deadline, or None if there is none."""
        deadline = self.configs.deadline.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        params: dict[str, Any] = {"until": deadline, "per_page": 1}
        if self.configs.branch:
            params["sha"] = self.configs.branch
        try:
            commits = session.read(
                f"/repos/{session.org}/{repo}/commits", f"list commits of {repo}", params
            )
        except GitHubRefused as exc:
            if exc.status == 409:  # an empty repository: GitHub answers 409 Conflict
                return None
            raise
        return str(commits[0]["sha"]) if commits else None
