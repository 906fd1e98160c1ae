"""The course's GitHub steps: adminflow's, with the token read from ``$GITHUB_TOKEN``.

The stored config names the organization and leaves ``token`` out (see
:mod:`.envconfig`).
"""

from __future__ import annotations

from adminflow.contrib import github

from .envconfig import with_env_defaults


class CheckGitHubAccounts(github.CheckGitHubAccounts):
    config_types = with_env_defaults(github.CheckGitHubAccounts.config_types, token="GITHUB_TOKEN")


class InviteStudents(github.InviteStudents):
    config_types = with_env_defaults(github.InviteStudents.config_types, token="GITHUB_TOKEN")


class CreateStudentRepos(github.CreateStudentRepos):
    config_types = with_env_defaults(github.CreateStudentRepos.config_types, token="GITHUB_TOKEN")


class SyncGroupTeams(github.SyncGroupTeams):
    config_types = with_env_defaults(github.SyncGroupTeams.config_types, token="GITHUB_TOKEN")


class RemoveDroppedStudents(github.RemoveDroppedStudents):
    config_types = with_env_defaults(
        github.RemoveDroppedStudents.config_types, token="GITHUB_TOKEN"
    )


class TagSubmissions(github.TagSubmissions):
    config_types = with_env_defaults(github.TagSubmissions.config_types, token="GITHUB_TOKEN")
