"""GitHub steps for a course's organization: ``pip install "adminflow[github]"``.

Built on PyGithub. Every step takes ``org``, ``token`` (an
:class:`adminflow.Secret`), ``api_url`` and ``write_spacing``; all steps of
one run share one client and one pacer (see :mod:`.session`, :mod:`.pacing`)
and write each student's outcome on the student's record (see :mod:`.base`).
"""

from __future__ import annotations

from .accounts import CheckGitHubAccounts
from .errors import (
    GitHubAuthError,
    GitHubError,
    GitHubRateLimited,
    GitHubRefused,
    GitHubUnavailable,
)
from .groups import SyncGroupTeams
from .invites import InviteStudents
from .removals import RemoveDroppedStudents
from .repos import CreateStudentRepos
from .session import GitHubSession
from .tags import NO_COMMIT, TagSubmissions

__all__ = [
    "NO_COMMIT",
    "CheckGitHubAccounts",
    "CreateStudentRepos",
    "GitHubAuthError",
    "GitHubError",
    "GitHubRateLimited",
    "GitHubRefused",
    "GitHubSession",
    "GitHubUnavailable",
    "InviteStudents",
    "RemoveDroppedStudents",
    "SyncGroupTeams",
    "TagSubmissions",
]
