"""The course's GitHub steps: adminflow's, with the token read from ``$GITHUB_TOKEN``.

The token never enters a stored config: it is each step's default, read from
the environment (or the ``.env`` file the settings read) when the site
starts, so every process that runs flows (web server, task worker,
``runflow``) needs the variable, and a change needs a restart. The stored
config names the organization and leaves ``token`` out.
"""

from __future__ import annotations

import environ

from adminflow import Secret
from adminflow.contrib import github

env = environ.Env()

TOKEN_FROM_ENV = (
    "token",
    Secret,
    "a GitHub token administering the organization (default: $GITHUB_TOKEN)",
    env.str("GITHUB_TOKEN", default=""),
)


def _with_env_token(config_types: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Return ``config_types`` with the ``token`` key defaulting to ``$GITHUB_TOKEN``."""
    return [TOKEN_FROM_ENV if entry[0] == "token" else entry for entry in config_types]


class CheckGitHubAccounts(github.CheckGitHubAccounts):
    config_types = _with_env_token(github.CheckGitHubAccounts.config_types)


class InviteStudents(github.InviteStudents):
    config_types = _with_env_token(github.InviteStudents.config_types)


class CreateStudentRepos(github.CreateStudentRepos):
    config_types = _with_env_token(github.CreateStudentRepos.config_types)


class SyncGroupTeams(github.SyncGroupTeams):
    config_types = _with_env_token(github.SyncGroupTeams.config_types)


class RemoveDroppedStudents(github.RemoveDroppedStudents):
    config_types = _with_env_token(github.RemoveDroppedStudents.config_types)


class TagSubmissions(github.TagSubmissions):
    config_types = _with_env_token(github.TagSubmissions.config_types)
